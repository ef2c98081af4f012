"""E2E NLG Challenge (restaurant MR -> text) adapter.

Source:   tuetschek/e2e-dataset, release v1.0.0 (`e2e-dataset.zip`: trainset.csv, devset.csv,
          testset_w_refs.csv; the original data, NOT the "cleaned" E2E).
Licence:  CC BY-SA 4.0 (Novikova, Dusek, Rieser, SIGDIAL 2017).
Splits:   train 42,061 refs / 4,862 MRs; dev 4,672 refs / 547 MRs; test 4,693 refs / 630 MRs.
Checksums: dev/test are pinned (computed from the git snapshot ab0d967 of the same repository).
          trainset.csv and the zip itself could not be obtained offline: their sha256 is recorded
          at first download (cache-side `recorded-sha256.json`) and verified on every later use.
Linearization (the paper's `src1_*.txt`, checked on every dev/test MR):
          `name[The Eagle], eatType[coffee shop], priceRange[cheap]`
          -> `name : The Eagle | Type : coffee shop | price : cheap`
          i.e. attributes in MR order, `key : value` joined by " | ", with three keys renamed:
          eatType -> Type, priceRange -> price, familyFriendly -> family friendly; and, as in
          those pre-tokenized files, "£" and a hyphen between digits split off as tokens
          ("£20-25" -> "£ 20 - 25", "less than £20" -> "less than £ 20"). Option
          `values: "raw"` keeps MR values verbatim instead (default "paper").
Units:    rows sharing an MR are grouped (first-appearance order); one eval unit per MR with all
          its references in file order; one training pair per CSV row.
Run:      prefix-bench prepare --dataset e2e --source-dir DIR --out results/data/e2e

This module is the whole task: the adapter above (reading the official files), the scorer
below (the official protocol) and `TASK`, the metadata every stage reads (tasks/__init__.py).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from ..data.base import DatasetAdapter
from ..data.download import SourceFile
from ..data.schema import Entry
from ..errors import PrefixBenchError
from ..score.common import ref_streams
from ..score.io import Units
from ..score.java import java_executable, ptb_tokenize, shared_meteor
from ..score.nist import nist
from . import Task

VERSION = 1

_ZIP = ("https://github.com/tuetschek/e2e-dataset/releases/download/v1.0.0/e2e-dataset.zip",)
_FILES = {
    "train": SourceFile("trainset.csv", _ZIP, None, "e2e-dataset/trainset.csv"),
    "dev": SourceFile("devset.csv", _ZIP,
                      "fc26b78cdb849c80545f513b223d1e051138b43882eeb79e3eb153e689c864f9",
                      "e2e-dataset/devset.csv"),
    "test": SourceFile("testset_w_refs.csv", _ZIP,
                       "edc8db685e39bb9824d5bd70c18b1c9b0412d14b527aa960e2d1c8251ee15ccd",
                       "e2e-dataset/testset_w_refs.csv"),
}

# The paper's data files spell three attribute names differently from the MR (src1_*.txt).
KEY_RENAMES = {"eatType": "Type", "priceRange": "price", "familyFriendly": "family friendly"}
_ATTRIBUTE = re.compile(r"([^\[\],]+?)\[([^\]]*)\]")


def paper_value(value: str) -> str:
    """Tokenize a value as the paper's files did; only the price values are affected."""
    return re.sub(r"(?<=\d)-(?=\d)", " - ", re.sub(r"£(?=\d)", "£ ", value))


def linearize_mr(mr: str, values: str = "paper") -> str:
    """`name[X], eatType[Y]` -> `name : X | Type : Y`; ValueError if `mr` is not an MR."""
    parts = [(m.group(1).strip(), m.group(2)) for m in _ATTRIBUTE.finditer(mr)]
    rebuilt = ", ".join(f"{k}[{v}]" for k, v in parts)
    if not parts or rebuilt != mr.strip():
        raise ValueError(f"not an E2E meaning representation: {mr[:60]!r}")
    if values == "paper":
        parts = [(k, paper_value(v)) for k, v in parts]
    return " | ".join(f"{KEY_RENAMES.get(k, k)} : {v}" for k, v in parts)


def read_csv(path: Path) -> list[tuple[str, str]]:
    """(mr, ref) rows of an official E2E CSV; malformed files fail naming file and line."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, strict=True)  # a quote cut by truncation is an error
            header = next(reader, None)
            if header is None or [h.strip().lower() for h in header] != ["mr", "ref"]:
                raise PrefixBenchError(f"{path}: expected an E2E CSV with header 'mr,ref', got "
                                       f"{header!r}; is this the right file?")
            rows = []
            for row in reader:
                if len(row) != 2:
                    raise PrefixBenchError(f"{path}:{reader.line_num}: expected 2 columns "
                                           f"(mr, ref), got {len(row)}; the file is malformed "
                                           "or truncated: download it again")
                rows.append((row[0], row[1]))
    except UnicodeDecodeError as err:
        raise PrefixBenchError(f"{path}: not UTF-8 text ({err.reason}); "
                               "download it again") from None
    except csv.Error as err:
        raise PrefixBenchError(f"{path}: malformed CSV ({err}); download it again") from None
    if not rows:
        raise PrefixBenchError(f"{path}: no data rows; the file is empty or truncated")
    return rows


class E2EAdapter(DatasetAdapter):
    name = "e2e"
    VERSION = VERSION
    OPTIONS = {"values": "paper"}
    CHOICES = {"values": ("paper", "raw")}

    def files(self, split: str) -> list[SourceFile]:
        return [_FILES[split]]

    def load(self, split: str, source_dir: Path, options: dict[str, Any]) -> list[Entry]:
        path = source_dir / _FILES[split].path
        groups: dict[str, list[str]] = {}  # MR -> refs; dicts keep first-appearance order
        for mr, ref in read_csv(path):
            groups.setdefault(mr, []).append(ref)
        entries = []
        for k, (mr, refs) in enumerate(groups.items()):
            try:
                source = linearize_mr(mr, options["values"])
            except ValueError as err:
                raise PrefixBenchError(f"{path}: {err}; the file is malformed") from None
            entries.append(Entry(id=f"e2e-{split}-{k:05d}", source=source, references=refs,
                                 meta={"mr": mr}))
        return entries


# --- scoring: the official protocol ------------------------------------------------------------
# E2E NLG Challenge metrics, reproducing the official scorer (tuetschek/e2e-metrics).
#
# - BLEU: mteval-v13a semantics = sacrebleu 13a tokenization, lowercased, variable number of
#   references (absent slots skipped, not empty). Reported as a fraction (0.6925), like the scorer.
# - NIST: our own port (`nist.py`) on 13a-tokenized lowercased text.
# - METEOR, ROUGE_L, CIDEr: the COCO caption scorers of pycocoevalcap after its PTB tokenizer
#   (lowercase, punctuation removed); CIDEr is corpus-level (document frequencies over all refs).
#
# `paper_protocol=True` switches NIST to the Prefix-Tuning paper's reference length (see nist.py);
# the paper's pre-tokenized references (`MR||ref` files) are read by `io.py` either way.
# Verified against the published E2E dev baseline scores (tests/test_score_parity.py).


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

    meteor_score = meteor.corpus_score(meteor.stats_all([res[i][0] for i in gts], [gts[i] for i in gts]))
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


TASK = Task(
    name="e2e", adapter=E2EAdapter, score=score_e2e,
    metrics=("BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"),
    paper_dataset="e2e", paper_scale={"BLEU": 100.0, "METEOR": 100.0, "ROUGE_L": 100.0},
    citation="Dusek, Novikova, Rieser (2020). Evaluating the state-of-the-art of End-to-End Natural "
    "Language Generation: The E2E NLG challenge. Computer Speech & Language.",
)
