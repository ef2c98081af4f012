"""BLEU / METEOR / TER over (subsets of) a corpus, the metric trio of WebNLG 2017 and DART.

Both challenges' scripts run multi-bleu.perl on pre-tokenized text, METEOR 1.5 in file mode with
a fixed number of references per segment (missing ones as empty lines) and tercom. Equivalents:
- multi-bleu = sacrebleu with tokenize="none", empty-string padding for missing references
  (multi-bleu counts an empty reference line when it picks the closest reference length);
- METEOR file mode = METEOR `-stdio` with the same padded reference lists per segment;
  its corpus score comes from summed segment statistics, so subsets reuse the same statistics;
- tercom = our port of tercom 0.7.25 (case-insensitive, its default; sacrebleu TER differs on some
  segments), absent references skipped
  (`ter.py`).
Values keep the scripts' scales: BLEU 0-100, METEOR and TER as fractions.
"""

from __future__ import annotations

from sacrebleu.metrics import BLEU

from .common import ref_streams
from .java import Meteor
from .ter import TerStats


def bleu_meteor_ter(
    hyps: list[str],
    bleu_refs: list[list[str]],
    meteor_refs: list[list[str]],
    ter_refs: list[list[str]],
    subsets: dict[str, list[int]],
    *,
    bleu_lowercase: bool,
    meteor_n_refs: int,
    meteor: Meteor,
    ter_workers: int | None = None,
) -> dict[str, dict[str, float]]:
    """Scores per subset name: {subset: {"BLEU": .., "METEOR": .., "TER": ..}}.

    `bleu_refs` are padded with "" up to the longest list; `meteor_refs` with "" up to
    `meteor_n_refs`; `ter_refs` are used as given (absent references skipped).
    """
    # TER runs in worker processes while the METEOR JVM computes its statistics.
    ter = TerStats(hyps, ter_refs, workers=ter_workers)
    n_bleu = max(len(r) for r in bleu_refs)
    padded_meteor = [
        (refs + [""] * meteor_n_refs)[:meteor_n_refs] for refs in meteor_refs
    ]
    stats = meteor.stats_all(hyps, padded_meteor)
    bleu = BLEU(tokenize="none", lowercase=bleu_lowercase, force=True)
    out = {}
    for name, idx in subsets.items():
        sub_hyps = [hyps[i] for i in idx]
        bleu_score = bleu.corpus_score(
            sub_hyps, ref_streams([bleu_refs[i] for i in idx], n_bleu, pad="")
        )
        out[name] = {
            "BLEU": bleu_score.score,
            "METEOR": meteor.corpus_score([stats[i] for i in idx]),
            "TER": ter.corpus(idx),
        }
    return out
