"""DART v1.1.1 (open-domain triples -> text) adapter.

Source:   Yale-LILY/dart @ 34b3c87, data/v1.1.1/: dart-v1.1.1-full-{train,dev}.json and
          dart-v1.1.1-full-test.xml (the official evaluation reads the test set in this XML order).
          A local `--source-dir` may hold each split as .json or .xml (JSON preferred).
Checksums: dev JSON and test XML pinned; the train JSON (not obtainable offline) is recorded at
          first download and verified afterwards.
Licence:  MIT (Nan et al., NAACL 2021).
Splits:   train 30,526 entries / 62,659 annotations (DART paper; not checkable offline);
          dev 2,768 entries / 6,980 annotations; test 5,097 entries / 12,552 annotations.
Linearization (paper code): `subject : relation : object` per triple, relation lowercased,
          triples joined by " | " (no leading separator), e.g.
          "Mars Hill College : joined : 1973 | Mars Hill College : location : Mars Hill,
          North Carolina" (one line).
Units:    one eval unit per official entry, in file order (the generator dedups identical sources
          and maps back); references = all annotations of the entry in file order. Pairs: every
          annotation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import PrefixBenchError
from .base import DatasetAdapter
from .download import SourceFile
from .schema import Entry
from .webnlg import modified_triples, parse_xml

VERSION = 1

_BASE_URL = ("https://raw.githubusercontent.com/Yale-LILY/dart/"
             "34b3c872da4811523e334f1631e54ca8105dffab/data/v1.1.1/")
_STEM = {"train": "dart-v1.1.1-full-train", "dev": "dart-v1.1.1-full-dev",
         "test": "dart-v1.1.1-full-test"}
_FILES = {
    "train": SourceFile(_STEM["train"] + ".json", (_BASE_URL + _STEM["train"] + ".json",), None),
    "dev": SourceFile(_STEM["dev"] + ".json", (_BASE_URL + _STEM["dev"] + ".json",),
                      "56606eac12baa7f0ddb81c61890f9f1a95bace4df8f8989852786358fe5d2b88"),
    "test": SourceFile(_STEM["test"] + ".xml", (_BASE_URL + _STEM["test"] + ".xml",),
                       "4f6994d633030278798c114555549a13202780fe0d78ee2e7ac7dcce45a8e233"),
}


def linearize_tripleset(triples: list[tuple[str, str, str]]) -> str:
    """The paper's DART source: `s : r : o` with r lowercased, joined by " | "."""
    return " | ".join(f"{s} : {r.lower()} : {o}" for s, r, o in triples)


def _read_json(path: Path) -> list[tuple[list[tuple[str, str, str]], list[str]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = [([(t[0], t[1], t[2]) for t in ex["tripleset"]],
                  [a["text"] for a in ex["annotations"]]) for ex in data]
    except json.JSONDecodeError as err:
        raise PrefixBenchError(f"{path}: malformed JSON ({err.msg} at line {err.lineno}); the "
                               "file is corrupt or truncated: download it again") from None
    except (KeyError, IndexError, TypeError) as err:
        raise PrefixBenchError(f"{path}: not DART v1.1.1 JSON (bad entry: {err!r})") from None
    return items


def _read_xml(path: Path) -> list[tuple[list[tuple[str, str, str]], list[str]]]:
    return [(modified_triples(node, path), [lex.text or "" for lex in node.iter("lex")])
            for node in parse_xml(path)]


class DartAdapter(DatasetAdapter):
    name = "dart"
    VERSION = VERSION

    def files(self, split: str) -> list[SourceFile]:
        return [_FILES[split]]

    def local_paths(self, split: str, source_dir: Path) -> list[Path]:
        for suffix in (".json", ".xml"):
            if (source_dir / (_STEM[split] + suffix)).is_file():
                return [source_dir / (_STEM[split] + suffix)]
        return [source_dir / f"{_STEM[split]}.json (or .xml)"]

    def load(self, split: str, source_dir: Path, options: dict[str, Any]) -> list[Entry]:
        path = self.local_paths(split, source_dir)[0]
        items = _read_json(path) if path.suffix == ".json" else _read_xml(path)
        entries = []
        for k, (triples, texts) in enumerate(items):
            if not triples or not texts:
                raise PrefixBenchError(f"{path}: entry {k + 1} has no triples or no text")
            entries.append(Entry(id=f"dart-{split}-{k + 1:05d}",
                                 source=linearize_tripleset(triples), references=texts,
                                 meta={"entry": k + 1, "format": path.suffix[1:]}))
        return entries
