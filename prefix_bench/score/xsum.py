"""XSum ROUGE-1/2/L F-measures with Google's rouge-score (Porter stemming), on a 0-100 scale.

Default aggregation: the corpus mean of per-summary F-measures. `aggregation="bootstrap"`
reproduces the Prefix-Tuning paper's number instead: outputs are cut into consecutive batches,
each batch gets rouge-score's BootstrapAggregator "mid" F-measure, and batch values are averaged
(the paper's evaluation loop scored per batch). Bootstrap resampling is seeded for repeatability.
Uses the first reference of each unit (XSum has one).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from rouge_score import rouge_scorer, scoring

from ..errors import PrefixBenchError

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
KEYS = {"rouge1": "ROUGE_1", "rouge2": "ROUGE_2", "rougeL": "ROUGE_L"}
Aggregation = Literal["mean", "bootstrap"]


def score_xsum(
    refs: list[list[str]],
    hyps: list[str],
    *,
    paper_protocol: bool = False,
    aggregation: Aggregation | None = None,
    batch_size: int = 32,
    seed: int = 0,
) -> tuple[dict, dict]:
    """Return ({"ROUGE_1", "ROUGE_2", "ROUGE_L"}, settings)."""
    aggregation = aggregation or ("bootstrap" if paper_protocol else "mean")
    if aggregation not in ("mean", "bootstrap"):
        raise PrefixBenchError(
            f"unknown XSum aggregation {aggregation!r}; choose 'mean' or 'bootstrap'"
        )
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    per_item = [
        scorer.score(unit[0] if unit else "", hyp) for unit, hyp in zip(refs, hyps)
    ]
    if aggregation == "mean":
        metrics = {
            KEYS[t]: 100.0 * float(np.mean([s[t].fmeasure for s in per_item]))
            for t in ROUGE_TYPES
        }
    else:
        if batch_size < 1:
            raise PrefixBenchError(f"XSum batch size must be >= 1, got {batch_size}")
        np.random.seed(seed)  # rouge-score resamples with numpy's global generator
        batch_values = {t: [] for t in ROUGE_TYPES}
        for start in range(0, len(per_item), batch_size):
            agg = scoring.BootstrapAggregator()
            for s in per_item[start : start + batch_size]:
                agg.add_scores(s)
            result = agg.aggregate()
            for t in ROUGE_TYPES:
                batch_values[t].append(result[t].mid.fmeasure)
        metrics = {
            KEYS[t]: 100.0 * float(np.mean(batch_values[t])) for t in ROUGE_TYPES
        }
    settings = {
        "rouge": "rouge-score, use_stemmer=True, F-measure, x100",
        "aggregation": aggregation,
        **(
            {"batch_size": batch_size, "seed": seed}
            if aggregation == "bootstrap"
            else {}
        ),
    }
    return metrics, settings
