"""`prefix-bench prepare`: write a dataset's JSONL files and manifest, print per-split counts.

    prefix-bench prepare --dataset e2e --source-dir /path/to/e2e-dataset --splits dev,test
    prefix-bench prepare --dataset e2e --from-prepared results/data/e2e --subset-size 50 \
        --subset-seed 3 --out results/data/e2e_n50_s3
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ..tasks import TASKS
from .base import get_adapter
from .prepare import prepare_dataset
from .subsets import make_subset


def _options_help() -> str:
    """Every task's options with their defaults, for --help."""
    parts = [f"{name}: " + ", ".join(f"{k} (default {v})" for k, v in task.adapter.OPTIONS.items())
             for name, task in TASKS.items() if task.adapter.OPTIONS]
    return "; ".join(parts)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `prepare` subcommand."""
    p = subparsers.add_parser("prepare", help="convert a dataset to the shared JSONL schema",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help=f"one of: {', '.join(TASKS)}")
    p.add_argument("--source-dir", type=Path, help="local copy of the official files "
                   "(offline mode); default: download into the cache and verify")
    p.add_argument("--out", type=Path, help="output folder (default results/data/<dataset>)")
    p.add_argument("--splits", default="train,dev,test", help="comma-separated (default all)")
    p.add_argument("--cache-dir", type=Path, help="download cache (default "
                   "$PREFIX_BENCH_CACHE or ~/.cache/prefix_bench)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a dataset option, spelled as in the config's datasets.<name>.options "
                   f"(repeatable). {_options_help()}")
    p.add_argument("--allow-unpinned", action="store_true",
                   help="accept local files whose sha256 differs from the pinned official one (recorded)")
    p.add_argument("--from-prepared", type=Path, help="subset this prepared folder instead of "
                   "reading the sources")
    p.add_argument("--subset-size", type=int, help="low-data: N training pairs, dev 30%% of N")
    p.add_argument("--fraction", type=float, help="data efficiency: this fraction of train")
    p.add_argument("--subset-seed", type=int, default=0, help="subset seed (default 0)")
    p.add_argument("--test-size", type=int, help="with a subset: keep a fixed subset of N test units "
                   "(the same for every seed; not the paper's protocol, for CPU-scale studies)")
    p.set_defaults(func=run)


def _print_counts(manifest: dict, out: Path) -> None:
    print(f"{manifest['dataset']} (adapter v{manifest['version']}) -> {out}")
    for split, c in manifest["counts"].items():
        print(f"  {split:5s} pairs={c['pairs']:>7d} units={c['units']:>6d} refs={c['refs']:>7d}")


def run(args: argparse.Namespace) -> int:
    """Prepare (and optionally subset) one dataset."""
    out = args.out or Path("results") / "data" / args.dataset
    options = get_adapter(args.dataset).parse_options(args.option)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    subsetting = args.subset_size is not None or args.fraction is not None
    if args.from_prepared is not None:
        manifest = make_subset(args.from_prepared, out, args.subset_size, args.fraction,
                               args.subset_seed, args.test_size)
    elif subsetting:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.full.") as full:
            prepare_dataset(args.dataset, Path(full), args.source_dir, splits, args.cache_dir,
                            allow_unpinned=args.allow_unpinned, **options)
            manifest = make_subset(Path(full), out, args.subset_size, args.fraction,
                                   args.subset_seed, args.test_size)
    else:
        manifest = prepare_dataset(args.dataset, out, args.source_dir, splits, args.cache_dir,
                                   allow_unpinned=args.allow_unpinned, **options)
    _print_counts(manifest, out)
    return 0
