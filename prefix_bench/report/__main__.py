"""`python -m prefix_bench.report <report|report-table|report-figure|report-summary|report-specs>`.

The same subcommands as `prefix-bench report*`, without importing the training stack (torch,
transformers): the report rules run it so that each table/figure job starts in about a second.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import PrefixBenchError
from . import add_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prefix_bench.report")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PrefixBenchError as err:
        print(f"prefix-bench {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
