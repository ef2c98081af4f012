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
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from ..errors import PrefixBenchError
from .base import DatasetAdapter
from .download import SourceFile
from .schema import Entry

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
