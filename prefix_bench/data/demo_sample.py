"""Build the packaged E2E demo sample from the official dev/test CSVs.

The demo pipeline needs a tiny E2E source directory in the official CSV format that the E2E
adapter reads like any other `--source-dir`. The real train set (42,061 rows) cannot be shipped,
so the demo *train* split is cut from the official *dev* set; this keeps the sample honest about
where it comes from (see resources/demo/e2e/README.md) and small enough for package data.

Rows are copied byte for byte (same quoting, same line endings as the originals) so the adapter's
CSV parsing is exercised on the real format. Re-run with:

    python -m prefix_bench.data.demo_sample /path/to/e2e-dataset prefix_bench/resources/demo/e2e
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from ..atomic import atomic_path

# (output file, official file, first MR group, number of MR groups, max rows per MR).
# Reference caps keep the whole sample ~115 KB (all refs of 250 dev MRs would be ~500 KB).
DEMO_PLAN: list[tuple[str, str, int, int, int]] = [
    ("trainset.csv", "devset.csv", 0, 250, 1),
    ("devset.csv", "devset.csv", 250, 30, 3),
    ("testset_w_refs.csv", "testset_w_refs.csv", 0, 40, 4),
]


def _mr_groups(raw: bytes) -> tuple[bytes, list[list[bytes]]]:
    """Split an official E2E CSV into its header line and consecutive same-MR groups of lines.

    The official files hold no multi-line fields, so one physical line is one row.
    """
    lines = raw.splitlines(keepends=True)
    groups: list[list[bytes]] = []
    last_mr = None
    for line in lines[1:]:
        mr = next(csv.reader([line.decode("utf-8")]))[0]
        if mr != last_mr:
            groups.append([])
            last_mr = mr
        groups[-1].append(line)
    return lines[0], groups


def build_e2e_demo(official_dir: Path, out_dir: Path) -> dict[str, int]:
    """Write the demo CSVs into `out_dir`; return rows written per output file."""
    counts: dict[str, int] = {}
    for out_name, src_name, start, n_groups, cap in DEMO_PLAN:
        header, groups = _mr_groups((Path(official_dir) / src_name).read_bytes())
        rows = [line for group in groups[start : start + n_groups] for line in group[:cap]]
        with atomic_path(Path(out_dir) / out_name) as tmp:
            tmp.write_bytes(header + b"".join(rows))
        counts[out_name] = len(rows)
    return counts


if __name__ == "__main__":
    print(build_e2e_demo(Path(sys.argv[1]), Path(sys.argv[2])))
