"""Scoring stage: official-protocol metrics for E2E, WebNLG 2017, DART and XSum.

`score_task(task, refs, hyps)` is the single entry point; the CLI (`prefix-bench score`), the
pipeline's score rule and the HF `evaluate` modules all call it, so every route runs the same
code. It returns what goes into the score JSON: one float per metric (names and scales of the
official scripts), plus "higher_is_better", "settings" and "versions".

    prefix-bench score --task e2e --refs data/e2e/devset.csv --hyps outputs.txt --json s.json

Module map: io (read files) -> text (WebNLG/DART normalisation) -> e2e / webnlg / dart / xsum
(one task each; nist, bmt, ter and java hold the shared metric machinery).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import PrefixBenchError
from .common import versions
from .io import check_aligned, read_hypotheses, read_references

TASKS = ("e2e", "webnlg", "dart", "xsum")
# Every metric name any task reports; TER is an edit rate, so lower is better.
LOWER_IS_BETTER = ("TER",)


def higher_is_better(metric: str) -> bool:
    """Direction of a metric by its name ("TER_seen" -> False)."""
    return metric.split("_")[0] not in LOWER_IS_BETTER


def score_task(
    task: str, refs: Path, hyps: Path, *, paper_protocol: bool = False, **options: Any
) -> dict:
    """Score `hyps` (one output per line) against `refs` with the task's official protocol.

    Options: dart `single_ref` (bool), `model_weights` (dict); xsum `aggregation`
    ("mean" | "bootstrap"), `batch_size`, `seed`. Unknown options are an error.
    """
    if task not in TASKS:
        raise PrefixBenchError(
            f"unknown task {task!r}; choose one of {', '.join(TASKS)}"
        )
    allowed = {
        "e2e": set(),
        "webnlg": set(),
        "dart": {"single_ref", "model_weights"},
        "xsum": {"aggregation", "batch_size", "seed"},
    }[task]
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise PrefixBenchError(
            f"unknown option(s) for task {task}: {', '.join(unknown)} "
            f"(valid: {', '.join(sorted(allowed)) or 'none'})"
        )
    refs, hyps = Path(refs), Path(hyps)
    hyp_lines = read_hypotheses(hyps)
    units = read_references(refs, task)
    check_aligned(units, hyp_lines, refs, hyps)

    if task == "e2e":
        from .e2e import score_e2e

        metrics, settings = score_e2e(units, hyp_lines, paper_protocol=paper_protocol)
    elif task == "webnlg":
        from .webnlg import score_webnlg

        metrics, settings = score_webnlg(
            units, hyp_lines, paper_protocol=paper_protocol
        )
    elif task == "dart":
        from .dart import score_dart

        metrics, settings = score_dart(
            units, hyp_lines, paper_protocol=paper_protocol, **options
        )
    else:
        from .xsum import score_xsum

        metrics, settings = score_xsum(
            units.refs, hyp_lines, paper_protocol=paper_protocol, **options
        )

    metrics = {k: float(v) for k, v in metrics.items()}
    return {
        **metrics,
        "higher_is_better": {k: higher_is_better(k) for k in metrics},
        "settings": {
            "task": task,
            "paper_protocol": paper_protocol,
            "refs": str(refs),
            "hyps": str(hyps),
            "refs_format": units.source,
            "n_units": len(units),
            "n_hypotheses": len(hyp_lines),
            "n_empty_hypotheses": sum(1 for h in hyp_lines if not h.strip()),
            **settings,
        },
        "versions": versions(java=task != "xsum"),
    }


__all__ = ["TASKS", "score_task", "higher_is_better"]
