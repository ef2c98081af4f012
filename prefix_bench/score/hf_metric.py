"""Build HF `evaluate` metric classes that wrap `score_task` (via `lists.score_lists`).

Each folder in `evaluate_modules/` holds a two-line script calling `metric_class(task)`, so
`evaluate.load("/abs/path/evaluate_modules/prefix_bench_e2e")` works offline and returns exactly
what `prefix-bench score` writes (minus the temporary file paths). `evaluate.load("bleu")` and
friends fetch scripts from the Hub and are never used.

compute() inputs: `predictions` (list[str]), `references` (list[list[str]], all references of a
unit), optional `categories` (WebNLG: DBpedia category per unit; seen/unseen follows from it) or
`seen` (list[bool]), `paper_protocol`, and the task options of `score_task`.
"""

from __future__ import annotations

from typing import Any

import datasets
import evaluate

from ..tasks import get_task
from .lists import score_lists



def metric_class(task: str) -> type:
    """An `evaluate.Metric` subclass scoring `task` with prefix_bench's official-protocol scorer."""

    def _info(self: evaluate.Metric) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=f"prefix_bench official-protocol scorer for {task} (same code as `prefix-bench score`).",
            citation=get_task(task).citation,
            inputs_description=__doc__ or "",
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(
        self: evaluate.Metric,
        predictions: list[str],
        references: list[list[str]],
        categories: list[str] | None = None,
        seen: list[bool] | None = None,
        paper_protocol: bool = False,
        **options: Any,
    ) -> dict:
        metas = [{} for _ in predictions]
        for i, meta in enumerate(metas):
            if categories is not None:
                meta["category"] = categories[i]
            if seen is not None:
                meta["seen"] = bool(seen[i])
        return score_lists(
            task,
            predictions,
            references,
            metas=metas,
            paper_protocol=paper_protocol,
            **options,
        )

    name = "PrefixBench" + task.capitalize()
    return type(
        name,
        (evaluate.Metric,),
        {"_info": _info, "_compute": _compute, "__module__": __name__},
    )
