"""The tasks: one module per dataset, one table every stage reads.

A task module holds everything about one dataset: its adapter (source files, versions, checksums,
the paper's linearisation), its scorer (the official protocol) and `TASK`, the metadata below.
The stages never branch on a task's name: `prefix-bench prepare` finds the adapter here, `score`
the scorer and its options, the report the paper's dataset name and score scale, the `evaluate`
modules the citation. Shared machinery stays where it was: `data/` (download, schema, subsets,
preparation) and `score/` (file reading, BLEU/METEOR/TER/NIST, the Java metrics).

Adding a task (CONTRIBUTING.md): write `tasks/<name>.py` with an adapter, a scorer and `TASK`,
add it to `TASKS` below, and its options (if any) to the config schema's dataset options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import PrefixBenchError


@dataclass(frozen=True)
class Task:
    #: the config's dataset/adapter name and `prefix-bench score --task` name
    name: str
    #: reads the official files (`data.base.DatasetAdapter`); its OPTIONS are the task's options,
    #: spelled the same in the config (`datasets.<name>.options`) and on the command line
    #: (`prefix-bench prepare --option key=value`)
    adapter: type
    #: score(units, hypotheses, *, paper_protocol, **score_options) -> (metrics, settings)
    score: Callable[..., tuple[dict, dict]]
    #: what `score` reports; the direction follows from the name (`score.higher_is_better`)
    metrics: tuple[str, ...]
    #: the dataset's name in the paper's results table (resources/paper_results.csv)
    paper_dataset: str
    #: our value times this is the paper's unit (the official E2E scorer prints fractions)
    paper_scale: dict[str, float] = field(default_factory=dict)
    #: options `score` accepts beyond `paper_protocol`
    score_options: tuple[str, ...] = ()
    #: METEOR/PTB tokenisation run in Java (recorded: the Java version is part of the score)
    needs_java: bool = True
    #: plain-text reference files hold one reference per line (else blank-line separated groups)
    one_reference_per_line: bool = False
    citation: str = ""


def _table() -> dict[str, Task]:
    from . import dart, e2e, webnlg, xsum

    return {task.name: task for task in (e2e.TASK, webnlg.TASK, dart.TASK, xsum.TASK)}


TASKS: dict[str, Task] = _table()


def get_task(name: str) -> Task:
    """The task `name`; an unknown name fails listing the valid ones."""
    if name not in TASKS:
        raise PrefixBenchError(f"unknown task {name!r} (valid: {', '.join(TASKS)})")
    return TASKS[name]
