"""E2E NLG Challenge metrics, reproducing the official scorer (tuetschek/e2e-metrics).

- BLEU: mteval-v13a semantics = sacrebleu 13a tokenization, lowercased, variable number of
  references (absent slots skipped, not empty). Reported as a fraction (0.6925), like the scorer.
- NIST: our own port (`nist.py`) on 13a-tokenized lowercased text.
- METEOR, ROUGE_L, CIDEr: the COCO caption scorers of pycocoevalcap after its PTB tokenizer
  (lowercase, punctuation removed); CIDEr is corpus-level (document frequencies over all refs).

`paper_protocol=True` switches NIST to the Prefix-Tuning paper's reference length (see nist.py);
the paper's pre-tokenized references (`MR||ref` files) are read by `io.py` either way.
Verified against the published E2E dev baseline scores (tests/test_score_parity.py).
"""

from __future__ import annotations

from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from .common import ref_streams
from .io import Units
from .java import java_executable, ptb_tokenize, shared_meteor
from .nist import nist


def score_e2e(
    units: Units, hyps: list[str], *, paper_protocol: bool = False
) -> tuple[dict, dict]:
    """Return ({metric: value}, settings) for E2E outputs aligned with `units`."""
    java_executable()  # fail early, before any work, when Java is missing
    refs = units.refs
    meteor = (
        shared_meteor()
    )  # started now: its JVM loads while Python computes BLEU/NIST
    bleu = BLEU(tokenize="13a", lowercase=True).corpus_score(
        hyps, ref_streams(refs, pad=None)
    )

    tok = Tokenizer13a()
    nist_hyps = [tok(h.lower()).split() for h in hyps]
    nist_refs = [[tok(r.lower()).split() for r in unit] for unit in refs]
    nist_mode = "paper" if paper_protocol else "official"
    nist_score = nist(nist_hyps, nist_refs, ref_length=nist_mode)

    # One PTB tokenizer run for references and hypotheses together.
    flat_refs = [r for unit in refs for r in unit]
    tokenized = ptb_tokenize(flat_refs + hyps)
    tok_hyps = tokenized[len(flat_refs) :]
    gts, res, pos = {}, {}, 0
    for i, unit in enumerate(refs):
        gts[i] = tokenized[pos : pos + len(unit)]
        pos += len(unit)
        res[i] = [tok_hyps[i]]

    meteor_score = meteor.corpus_score([meteor.stats(res[i][0], gts[i]) for i in gts])
    meteor_args = meteor.args[-3:]

    # pycocoevalcap's pure-Python scorers (no JVM); imported late to keep CLI start-up light.
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    rouge_l, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    metrics = {
        "BLEU": bleu.score / 100.0,
        "NIST": nist_score,
        "METEOR": meteor_score,
        "ROUGE_L": float(rouge_l),
        "CIDEr": float(cider),
    }
    settings = {
        "bleu": "sacrebleu tokenize=13a lowercase=True; absent references skipped",
        "nist": f"mteval-v13a port, 13a tokenization, lowercased, max_n=5, ref_length={nist_mode}",
        "meteor": "meteor-1.5 " + " ".join(meteor_args) + " after PTB tokenization",
        "rouge_l_cider": "pycocoevalcap Rouge/Cider after PTB tokenization (CIDEr-D, corpus-level)",
        "n_references": sum(len(r) for r in refs),
    }
    return metrics, settings
