"""Read system outputs and references into one shape: a list of scoring units.

Every task's scorer takes `Units` (references per unit, plus per-unit metadata such as the WebNLG
category) and a list of hypotheses, whatever file the references came from. Supported reference
files, detected from the path:

- `*.jsonl`: the pipeline's eval JSONL (`references`, `meta`); for XSum also `{"summary": ...}`.
- `*.csv`: the official E2E CSV (`mr`, `ref`), grouped by MR in first-appearance order.
- `*.xml`: the WebNLG 2017 / DART benchmark XML (`entry` with `lex` children), in Id order.
- a directory: aligned reference files (`*reference*.lex`, e.g. DART's official ones), one
  reference set per file, an empty line meaning "no reference".
- other text: Prefix-Tuning's `MR||reference` lines (grouped by consecutive MR), else references
  grouped by blank lines (E2E), or one reference per line (XSum).

Input problems raise a one-line `PrefixBenchError` naming the file.
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PrefixBenchError

# WebNLG 2017: the 10 DBpedia categories of the training set; the other 5 appear only in test.
WEBNLG_SEEN_CATEGORIES = frozenset(
    [
        "Airport",
        "Astronaut",
        "Building",
        "City",
        "ComicsCharacter",
        "Food",
        "Monument",
        "SportsTeam",
        "University",
        "WrittenWork",
    ]
)


@dataclass
class Units:
    """References per scoring unit, in official order, with where they came from."""

    refs: list[list[str]]
    meta: list[dict] = field(default_factory=list)
    source: str = ""  # reference format, recorded in the score file's settings
    # Reference *sets* as aligned files hold them ("" = missing); only for directory input.
    ref_sets: list[list[str]] | None = None

    def __len__(self) -> int:
        return len(self.refs)


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise PrefixBenchError(f"{what} file not found: {path}")


def _decode(path: Path, what: str) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise PrefixBenchError(
            f"{what} file {path} is not UTF-8: invalid byte 0x{data[err.start]:02x} at byte "
            f"offset {err.start} (line {line})"
        ) from None


def _lines(text: str) -> list[str]:
    # Universal newlines: DART's official reference files use CRLF.
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_hypotheses(path: Path) -> list[str]:
    """One output per line. Empty lines are allowed (placeholders); an empty file is not."""
    path = Path(path)
    _require_file(path, "hypothesis")
    if path.is_dir():
        raise PrefixBenchError(
            f"hypothesis path is a directory, expected a file: {path}"
        )
    text = _decode(path, "hypothesis")
    lines = _lines(text)
    if not lines or not "".join(lines).strip():
        raise PrefixBenchError(
            f"hypothesis file {path} is empty: expected one output per line"
        )
    return lines


def _read_jsonl(path: Path) -> Units:
    refs, meta = [], []
    for no, line in enumerate(_lines(_decode(path, "reference")), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise PrefixBenchError(
                f"reference file {path} line {no}: invalid JSON ({err.msg})"
            ) from None
        if isinstance(row.get("references"), list):
            unit_refs = [str(r) for r in row["references"]]
        elif isinstance(row.get("summary"), str):  # the XSum sample file
            unit_refs = [row["summary"]]
        else:
            raise PrefixBenchError(
                f"reference file {path} line {no}: no 'references' list"
            )
        refs.append(unit_refs)
        meta.append(dict(row.get("meta") or {}, id=str(row.get("id", no))))
    return Units(refs, meta, source="eval_jsonl")


def _read_e2e_csv(path: Path) -> Units:
    groups: dict[str, list[str]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, strict=True)
        if (
            not reader.fieldnames
            or "mr" not in reader.fieldnames
            or "ref" not in reader.fieldnames
        ):
            raise PrefixBenchError(
                f"reference CSV {path} needs columns 'mr' and 'ref' "
                f"(found {reader.fieldnames})"
            )
        try:
            for row in reader:
                groups.setdefault(row["mr"], []).append(row["ref"])
        except csv.Error as err:  # e.g. a file cut inside a quoted reference
            raise PrefixBenchError(f"reference CSV {path}:{reader.line_num}: malformed ({err}); the file is "
                                   "truncated or altered: use the official file") from None
    return Units(list(groups.values()), [{"id": mr} for mr in groups], source="e2e_csv")


def _eid_number(eid: str) -> int:
    match = re.fullmatch(r"Id(\d+)", eid)
    return int(match.group(1)) if match else -1


def _read_benchmark_xml(path: Path) -> Units:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise PrefixBenchError(f"reference XML {path} does not parse: {err}") from None
    entries = list(root.iter("entry"))
    if not entries:
        raise PrefixBenchError(f"reference XML {path} holds no <entry> elements")
    # The challenge scripts order entries by natural sort of their Id.
    if all(_eid_number(e.get("eid", "")) >= 0 for e in entries):
        entries.sort(key=lambda e: _eid_number(e.get("eid", "")))
    refs, meta = [], []
    for e in entries:
        refs.append([(lex.text or "").strip() for lex in e.findall("lex")])
        category = e.get("category", "")
        meta.append(
            {
                "id": e.get("eid", ""),
                "category": category,
                "seen": category in WEBNLG_SEEN_CATEGORIES,
            }
        )
    return Units(refs, meta, source="benchmark_xml")


def _read_ref_dir(path: Path) -> Units:
    files = sorted(path.glob("*reference*")) or sorted(
        p for p in path.iterdir() if p.is_file()
    )
    if not files:
        raise PrefixBenchError(f"reference directory {path} holds no reference files")
    sets = [[line.strip() for line in _lines(_decode(f, "reference"))] for f in files]
    if len({len(s) for s in sets}) != 1:
        counts = ", ".join(f"{f.name}: {len(s)}" for f, s in zip(files, sets))
        raise PrefixBenchError(
            f"reference files in {path} differ in line count ({counts})"
        )
    refs = [[r for r in column if r] for column in zip(*sets)]
    return Units(
        refs,
        [{"id": str(i + 1)} for i in range(len(refs))],
        source="reference_dir:" + ",".join(f.name for f in files),
        ref_sets=sets,
    )


def _read_text(path: Path, one_per_line: bool) -> Units:
    lines = _lines(_decode(path, "reference"))
    content = [line for line in lines if line.strip()]
    if content and all("||" in line for line in content):
        # Prefix-Tuning's src1_*.txt: "<MR>||<pre-tokenized reference>", consecutive MRs grouped.
        order: list[str] = []
        refs_pt: list[list[str]] = []
        for line in content:
            mr, ref = line.split("||", 1)
            if not order or mr != order[-1]:
                order.append(mr)
                refs_pt.append([])
            refs_pt[-1].append(ref.strip())
        return Units(refs_pt, [{"id": mr} for mr in order], source="prefixtuning_txt")
    if one_per_line:  # XSum: one reference per line
        return Units(
            [[line] for line in lines],
            [{"id": str(i + 1)} for i in range(len(lines))],
            source="text_one_per_line",
        )
    refs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            refs[-1].append(line.strip())
        elif refs[-1]:
            refs.append([])
    if not refs[-1]:
        refs.pop()
    return Units(
        refs,
        [{"id": str(i + 1)} for i in range(len(refs))],
        source="text_blank_line_groups",
    )


def read_references(path: Path, one_per_line: bool = False) -> Units:
    """Read any supported reference file (see module docstring) into `Units`; a plain-text file
    holds one reference per line (`one_per_line`, XSum) or blank-line separated groups."""
    path = Path(path)
    _require_file(path, "reference")
    if path.is_dir():
        units = _read_ref_dir(path)
    elif path.suffix == ".jsonl":
        units = _read_jsonl(path)
    elif path.suffix == ".csv":
        units = _read_e2e_csv(path)
    elif path.suffix == ".xml":
        units = _read_benchmark_xml(path)
    else:
        units = _read_text(path, one_per_line)
    if not units.refs:
        raise PrefixBenchError(f"reference file {path} holds no references")
    return units


def check_aligned(
    units: Units, hyps: list[str], refs_path: Path, hyps_path: Path
) -> None:
    """One hypothesis per scoring unit, or a one-line error naming both files and counts."""
    if len(hyps) != len(units):
        raise PrefixBenchError(
            f"line-count mismatch: {len(hyps)} hypotheses in {hyps_path} but {len(units)} "
            f"reference units in {refs_path}"
        )
