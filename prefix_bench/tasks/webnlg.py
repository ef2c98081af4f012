"""WebNLG Challenge 2017 (DBpedia triples -> text) adapter.

Source:   the `webnlg_challenge_2017` XML release, fetched file by file from the copy the paper's
          code read: XiangLi1999/PrefixTuning @ 6519d30, data/webnlg_challenge_2017/ (its test
          file is byte-identical to the official challenge copies). Every file's sha256 is pinned
          (webnlg_sha256.py). A local `--source-dir` may be that folder or its parent.
Licence:  CC BY-NC-SA 4.0 (Gardent et al., INLG 2017 / ACL 2017).
Splits:   train 6,940 entries / 18,102 lexs (18,025 "good"); dev 872 / 2,268 (2,258 "good");
          test 1,862 entries (testdata_with_lex.xml; 971 seen + 891 unseen), 4,928 lexs.
Linearization (paper code): every modified triple preceded by " | ", as `subject : property :
          object` with raw DBpedia strings (underscores kept), e.g.
          " | Aarhus_Airport : cityServed : "Aarhus, Denmark"". The leading " | " is part of the
          paper's source string, so `source` starts with a space here.
Pairs:    only lexs with comment "good" (option `lexs`, default "good"; the paper's dataset class
          filtered every file it read, so dev pairs for dev loss are filtered too). Eval units keep
          all lexs as references, in file order.
Order:    files sorted by path (1triples..7triples, then category), entries in file order; this
          equals the paper's dev.json order. Test units follow testdata_with_lex.xml (Id1..Id1862).
Meta:     category, seen (category among the 10 training categories), eid, size.

This module is the whole task: the adapter above (reading the official files), the scorer
below (the official protocol) and `TASK`, the metadata every stage reads (tasks/__init__.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..data.base import DatasetAdapter
from ..data.download import SourceFile
from ..data.schema import Entry
from ..errors import PrefixBenchError
from ..score.bmt import bleu_meteor_ter
from ..score.io import WEBNLG_SEEN_CATEGORIES, Units
from ..score.java import java_executable, shared_meteor
from ..score.text import webnlg_hypothesis, webnlg_reference
from .webnlg_sha256 import SHA256
from . import Task

VERSION = 1

FOLDER = "webnlg_challenge_2017"
_BASE_URL = ("https://raw.githubusercontent.com/XiangLi1999/PrefixTuning/"
             "6519d30e69b15a180f23e2cd41b766d3f62b8e82/data/webnlg_challenge_2017/")
SEEN_CATEGORIES = frozenset({
    "Airport", "Astronaut", "Building", "City", "ComicsCharacter", "Food", "Monument",
    "SportsTeam", "University", "WrittenWork",
})
_PREFIX = {"train": "train/", "dev": "dev/", "test": "test/testdata_with_lex.xml"}


def linearize_triples(triples: list[tuple[str, str, str]]) -> str:
    """The paper's WebNLG source: `" | s : p : o"` for every triple, concatenated."""
    return "".join(f" | {s} : {p} : {o}" for s, p, o in triples)


def parse_xml(path: Path) -> list[ET.Element]:
    """The <entry> elements of a WebNLG-format XML file (shared with the DART adapter)."""
    try:
        return list(ET.parse(path).getroot().iter("entry"))
    except ET.ParseError as err:
        raise PrefixBenchError(f"{path}: malformed XML ({err}); the file is corrupt or "
                               "truncated: download it again") from None


def modified_triples(entry: ET.Element, path: Path) -> list[tuple[str, str, str]]:
    """`subject | property | object` strings of an entry's <modifiedtripleset>, split."""
    triples = []
    for node in entry.iter("mtriple"):
        parts = (node.text or "").split(" | ")
        if len(parts) != 3:
            raise PrefixBenchError(f"{path}: entry {entry.get('eid')}: triple "
                                   f"{node.text!r} is not 'subject | property | object'")
        triples.append((parts[0], parts[1], parts[2]))
    if not triples:
        raise PrefixBenchError(f"{path}: entry {entry.get('eid')} has no triples; malformed file")
    return triples


class WebNLGAdapter(DatasetAdapter):
    name = "webnlg"
    VERSION = VERSION
    OPTIONS = {"lexs": "good"}
    CHOICES = {"lexs": ("good", "all")}

    def files(self, split: str) -> list[SourceFile]:
        return [SourceFile(path, (_BASE_URL + path,), digest)
                for path, digest in sorted(SHA256.items()) if path.startswith(_PREFIX[split])]

    def root(self, source_dir: Path) -> Path:
        return source_dir / FOLDER if (source_dir / FOLDER).is_dir() else source_dir

    def load(self, split: str, source_dir: Path, options: dict[str, Any]) -> list[Entry]:
        root = self.root(source_dir)
        entries = []
        for spec in self.files(split):
            path = root / spec.path
            for node in parse_xml(path):
                category = node.get("category", "")
                lexs = [(lex.get("comment"), lex.text or "") for lex in node.iter("lex")]
                if not lexs:
                    raise PrefixBenchError(f"{path}: entry {node.get('eid')} has no <lex>; "
                                           "use testdata_with_lex.xml for the test split")
                good = [text for comment, text in lexs if comment == "good"]
                entries.append(Entry(
                    id=f"webnlg-{split}-{len(entries) + 1:05d}",
                    source=linearize_triples(modified_triples(node, path)),
                    references=[text for _, text in lexs],
                    targets=good if options["lexs"] == "good" else None,
                    meta={"category": category, "seen": category in SEEN_CATEGORIES,
                          "eid": node.get("eid"), "size": int(node.get("size", "0")),
                          "file": spec.path},
                ))
        return entries


# --- scoring: the official protocol ------------------------------------------------------------
# WebNLG 2017 challenge metrics: BLEU, METEOR and TER on all, seen and unseen categories.
#
# Reproduces the challenge's evaluation (WebNLG `evaluation.py` + multi-bleu / METEOR `-r 3` /
# tercom): the first 3 references of each entry, references and outputs lowercased, converted to
# ASCII and split at every non-word character (`text.py`). "seen" = the 10 categories of the
# training set (971 test entries), "unseen" = the 5 test-only ones (891); each subset is its own
# corpus score. Verified against the published 2017 baseline (BLEU 33.24 / 52.39 / 6.13).


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


TASK = Task(
    name="webnlg", adapter=WebNLGAdapter, score=score_webnlg,
    metrics=tuple(f"{m}_{s}" for s in ("all", "seen", "unseen") for m in ("BLEU", "METEOR", "TER")),
    paper_dataset="webnlg2017",
    citation="Gardent et al. (2017). The WebNLG Challenge: Generating Text from RDF Data. INLG.",
)
