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
          " | Aarhus_Airport : cityServed : \"Aarhus, Denmark\"". The leading " | " is part of the
          paper's source string, so `source` starts with a space here.
Pairs:    only lexs with comment "good" (option `lexs`, default "good"; the paper's dataset class
          filtered every file it read, so dev pairs for dev loss are filtered too). Eval units keep
          all lexs as references, in file order.
Order:    files sorted by path (1triples..7triples, then category), entries in file order; this
          equals the paper's dev.json order. Test units follow testdata_with_lex.xml (Id1..Id1862).
Meta:     category, seen (category among the 10 training categories), eid, size.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..errors import PrefixBenchError
from .base import DatasetAdapter
from .download import SourceFile
from .schema import Entry
from .webnlg_sha256 import SHA256

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
