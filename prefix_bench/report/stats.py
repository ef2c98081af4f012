"""Seed statistics and the paired bootstrap test behind the tables' significance marks.

Mean and sample standard deviation over seeds (sd is None for a single run, never 0).

Paired bootstrap (Koehn 2004), prefix-tuning vs fine-tuning on the same test units:
- per-example score = sentence BLEU (sacrebleu `sentence_bleu`, 13a tokenization, lowercased,
  exponential smoothing, all non-empty references of the unit). Corpus metrics such as the
  official BLEU, METEOR or CIDEr do not decompose over examples; sentence BLEU does, and it is
  what we resample. It is a proxy: its mean is not the corpus BLEU in the table.
- with several seeds, each system's per-example score is the mean over its seeds' outputs;
- B resamples (default 1000, fixed seed 0) of the units with replacement; the reported p is the
  two-sided bootstrap p-value 2 * min(P(delta* <= 0), P(delta* >= 0)), delta = mean(A) - mean(B).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


def mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def sentence_bleu_scores(hyps: list[str], refs: list[list[str]]) -> list[float]:
    """Sentence BLEU (0-100) of each hypothesis against its unit's references."""
    from sacrebleu.metrics import BLEU

    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} outputs for {len(refs)} reference units")
    bleu = BLEU(tokenize="13a", lowercase=True, effective_order=True)
    out = []
    for hyp, unit in zip(hyps, refs):
        unit = [r for r in unit if r and r.strip()]
        out.append(bleu.sentence_score(hyp, unit).score if unit else 0.0)
    return out


def average_over_seeds(per_seed: list[list[float]]) -> list[float]:
    n = {len(s) for s in per_seed}
    if len(n) != 1:
        raise ValueError("seeds scored different numbers of units")
    return [sum(col) / len(col) for col in zip(*per_seed)]


@dataclass(frozen=True)
class BootstrapResult:
    delta: float  # mean(A) - mean(B) on the full set
    p_value: float
    win_rate: float  # share of resamples where A > B
    resamples: int
    units: int
    metric: str = "sentence BLEU (sacrebleu 13a, lowercase, exp smoothing)"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def paired_bootstrap(a: list[float], b: list[float], resamples: int = 1000, seed: int = 0) -> BootstrapResult:
    if len(a) != len(b) or not a:
        raise ValueError("paired bootstrap needs two non-empty score lists of equal length")
    n = len(a)
    diffs = [x - y for x, y in zip(a, b)]
    rng = random.Random(seed)
    le = ge = wins = 0
    for _ in range(resamples):
        d = sum(diffs[rng.randrange(n)] for _ in range(n)) / n
        le += d <= 0
        ge += d >= 0
        wins += d > 0
    p = min(1.0, 2 * min(le, ge) / resamples)
    return BootstrapResult(sum(diffs) / n, p, wins / resamples, resamples, n)
