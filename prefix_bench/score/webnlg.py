"""WebNLG 2017 challenge metrics: BLEU, METEOR and TER on all, seen and unseen categories.

Reproduces the challenge's evaluation (WebNLG `evaluation.py` + multi-bleu / METEOR `-r 3` /
tercom): the first 3 references of each entry, references and outputs lowercased, converted to
ASCII and split at every non-word character (`text.py`). "seen" = the 10 categories of the
training set (971 test entries), "unseen" = the 5 test-only ones (891); each subset is its own
corpus score. Verified against the published 2017 baseline (BLEU 33.24 / 52.39 / 6.13).
"""

from __future__ import annotations

from .bmt import bleu_meteor_ter
from .io import WEBNLG_SEEN_CATEGORIES, Units
from .java import java_executable, shared_meteor
from .text import webnlg_hypothesis, webnlg_reference

N_REFS = 3  # challenge protocol: the first three lexicalisations of each entry


def _is_seen(meta: dict) -> bool:
    if isinstance(meta.get("seen"), bool):
        return meta["seen"]
    return meta.get("category") in WEBNLG_SEEN_CATEGORIES


def score_webnlg(
    units: Units, hyps: list[str], *, paper_protocol: bool = False
) -> tuple[dict, dict]:
    """Return ({"BLEU_all": .., "METEOR_seen": .., ...}, settings)."""
    java_executable()
    refs = [[webnlg_reference(r) for r in unit[:N_REFS]] for unit in units.refs]
    norm_hyps = [webnlg_hypothesis(h) for h in hyps]
    seen = [_is_seen(m) for m in units.meta] if units.meta else [True] * len(units)
    subsets = {
        "all": list(range(len(refs))),
        "seen": [i for i, s in enumerate(seen) if s],
        "unseen": [i for i, s in enumerate(seen) if not s],
    }
    subsets = {k: v for k, v in subsets.items() if v}
    meteor = shared_meteor()
    scores = bleu_meteor_ter(
        norm_hyps,
        refs,
        refs,
        refs,
        subsets,
        bleu_lowercase=True,
        meteor_n_refs=N_REFS,
        meteor=meteor,
    )
    metrics = {
        f"{metric}_{subset}": value
        for subset, vals in scores.items()
        for metric, value in vals.items()
    }
    settings = {
        "references_per_entry": N_REFS,
        "normalisation": "WebNLG 2017 evaluation.py: lowercase, unidecode, split non-word characters",
        "bleu": "sacrebleu tokenize=none lowercase=True; missing references as '' (multi-bleu)",
        "meteor": f"meteor-1.5 -l en -norm, {N_REFS} references per segment ('' padded)",
        "ter": "tercom 0.7.25 re-implementation (ter.py), case-insensitive, no -N, up to 3 references",
        "n_seen": len(subsets.get("seen", [])),
        "n_unseen": len(subsets.get("unseen", [])),
    }
    return metrics, settings
