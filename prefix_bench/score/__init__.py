"""Scoring stage: official-protocol metrics for E2E, WebNLG 2017, DART and XSum.

`score_task(task, refs, hyps)` is the single entry point; the CLI (`prefix-bench score`), the
pipeline's score rule and the HF `evaluate` modules all call it, so every route runs the same
code. It returns what goes into the score JSON: one float per metric (names and scales of the
official scripts), plus "higher_is_better", "settings" and "versions".

    prefix-bench score --task e2e --refs data/e2e/devset.csv --hyps outputs.txt --json s.json

Module map: io (read files) -> text (WebNLG/DART normalisation); nist, bmt, ter and java hold the
shared metric machinery. Each task's own scorer lives with its task (`prefix_bench/tasks/`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import PrefixBenchError
from .common import versions
from .io import check_aligned, read_hypotheses, read_references

# Every metric name any task reports; TER is an edit rate, so lower is better.
LOWER_IS_BETTER = ("TER",)


def higher_is_better(metric: str) -> bool:
    """Direction of a metric by its name ("TER_seen" -> False)."""
    return metric.split("_")[0] not in LOWER_IS_BETTER


def score_task(
    task: str, refs: Path, hyps: Path, *, paper_protocol: bool = False, **options: Any
) -> dict:
    """Score `hyps` (one output per line) against `refs` with the task's official protocol.

    Options: dart `single_ref` (bool); xsum `aggregation`
    ("mean" | "bootstrap"), `batch_size`, `seed`. Unknown options are an error.
    """
    from ..tasks import get_task  # the task modules import this package's machinery

    spec = get_task(task)
    unknown = sorted(set(options) - set(spec.score_options))
    if unknown:
        raise PrefixBenchError(
            f"unknown option(s) for task {task}: {', '.join(unknown)} "
            f"(valid: {', '.join(spec.score_options) or 'none'})"
        )
    refs, hyps = Path(refs), Path(hyps)
    hyp_lines = read_hypotheses(hyps)
    units = read_references(refs, one_per_line=spec.one_reference_per_line)
    check_aligned(units, hyp_lines, refs, hyps)
    metrics, settings = spec.score(units, hyp_lines, paper_protocol=paper_protocol, **options)

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
        "versions": versions(java=spec.needs_java),
    }


__all__ = ["score_task", "higher_is_better"]
