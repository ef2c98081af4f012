"""The shared JSONL schema every later stage reads, and its validating reader.

A dataset adapter yields `Entry` objects (one per source input, references in file order). This
module turns them into the two files each split gets:

- `<split>.jsonl`: one row per (source, target) training pair:
  `{"id", "source", "target", "references", "split", "meta"}`;
- `<split>.eval.jsonl` (dev/test): one row per scoring unit in official order:
  `{"id", "source", "references", "split", "meta"}`.

`source` is the linearized input only: no leading space, no `<|endoftext|>` separators (the model
stage builds ` {source} <|endoftext|> {target} <|endoftext|>`, as the paper's code did). WebNLG's source is
the exception only in appearance: the paper's linearization itself begins with " | ".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PrefixBenchError

PAIR_FIELDS: dict[str, type] = {
    "id": str, "source": str, "target": str, "references": list, "split": str, "meta": dict,
}
UNIT_FIELDS: dict[str, type] = {
    "id": str, "source": str, "references": list, "split": str, "meta": dict,
}


@dataclass
class Entry:
    """One source input with its references.

    `targets` are the texts to train on when they differ from `references` (WebNLG trains only on
    lexicalisations marked "good"); None means train on every reference.
    """

    id: str
    source: str
    references: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    targets: list[str] | None = None


def pair_rows(entries: list[Entry], split: str) -> list[dict]:
    """One row per (source, target) pair, entry order then reference order."""
    rows = []
    for entry in entries:
        targets = entry.references if entry.targets is None else entry.targets
        for k, target in enumerate(targets):
            rows.append({
                "id": f"{entry.id}#{k}", "source": entry.source, "target": target,
                "references": list(entry.references), "split": split, "meta": dict(entry.meta),
            })
    return rows


def unit_rows(entries: list[Entry], split: str) -> list[dict]:
    """One row per scoring unit, in the order the adapter gave (the official order)."""
    return [
        {"id": e.id, "source": e.source, "references": list(e.references), "split": split,
         "meta": dict(e.meta)}
        for e in entries
    ]


def read_jsonl(path: str | Path, fields: dict[str, type] | None = None) -> list[dict]:
    """Read a data-stage JSONL file, checking required fields and their types.

    `fields` defaults to the eval-unit fields for `*.eval.jsonl` and the pair fields otherwise.
    Any problem raises a one-line PrefixBenchError naming the file and line.
    """
    path = Path(path)
    if fields is None:
        fields = UNIT_FIELDS if path.name.endswith(".eval.jsonl") else PAIR_FIELDS
    if not path.is_file():
        raise PrefixBenchError(f"{path}: file not found; run `prefix-bench prepare` first")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise PrefixBenchError(f"{where}: not valid JSON ({err.msg}); "
                                       "re-run `prefix-bench prepare`") from None
            if not isinstance(row, dict):
                raise PrefixBenchError(f"{where}: expected a JSON object")
            for name, kind in fields.items():
                if name not in row:
                    raise PrefixBenchError(f"{where}: missing required field {name!r}")
                if not isinstance(row[name], kind):
                    raise PrefixBenchError(f"{where}: field {name!r} must be {kind.__name__}, "
                                           f"got {type(row[name]).__name__}")
            if not all(isinstance(ref, str) for ref in row["references"]):
                raise PrefixBenchError(f"{where}: field 'references' must hold strings only")
            rows.append(row)
    return rows
