"""The `prefix-bench` command: one subcommand per pipeline stage.

Each stage module exposes `add_parser(subparsers)`, which registers its subcommand and sets
`func` to a callable taking the parsed args. User errors (`PrefixBenchError`) print as one line
and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .errors import PrefixBenchError

# Stage modules in DAG order; each owns its subcommand(s).
STAGE_MODULES = [
    "prefix_bench.data.cli",
    "prefix_bench.models.cli",
    "prefix_bench.train",
    "prefix_bench.generate",
    "prefix_bench.score.cli",
    "prefix_bench.report",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prefix-bench",
        description="Prefix-Tuning (Li & Liang, 2021) benchmark: prepare data, train, generate, "
        "score and report. Each subcommand is one stage of the Snakemake DAG.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in STAGE_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Busy-waiting OpenMP threads slow parallel jobs 10-100x; must be set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result = args.func(args)
    except PrefixBenchError as err:
        print(f"prefix-bench {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
