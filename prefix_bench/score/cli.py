"""`prefix-bench score`: score one output file against references and write the score JSON.

    prefix-bench score --task webnlg --refs testdata_with_lex.xml --hyps out.txt --json s.json

Prints a short table; with --json writes the full result atomically (nothing is written when
scoring fails).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..atomic import write_json
from ..errors import PrefixBenchError
from ..provenance import code_version, sha256_file
from ..tasks import TASKS, get_task
from . import score_task


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `score` subcommand."""
    p = subparsers.add_parser(
        "score",
        help="compute the official metrics of one output file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument(
        "--refs",
        required=True,
        type=Path,
        help="references: eval JSONL, E2E CSV, WebNLG/DART XML, DART reference dir, or text",
    )
    p.add_argument(
        "--hyps", required=True, type=Path, help="system outputs, one per line"
    )
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT",
        help="write the score JSON here",
    )
    p.add_argument(
        "--paper-protocol",
        action="store_true",
        help="E2E: the paper's NIST reference length; XSum: per-batch bootstrap ROUGE",
    )
    p.add_argument(
        "--dart-single-ref",
        action="store_true",
        help="DART: METEOR/TER against reference 0 only, as the official script runs",
    )
    p.add_argument("--xsum-aggregation", choices=("mean", "bootstrap"), default=None)
    p.add_argument("--xsum-batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0, help="XSum bootstrap seed")
    p.set_defaults(func=run)


def _options(args: argparse.Namespace) -> dict:
    """The scoring options of the chosen task, from its flags."""
    given = {
        "single_ref": args.dart_single_ref,
        "aggregation": args.xsum_aggregation,
        "batch_size": args.xsum_batch_size,
        "seed": args.seed,
    }
    return {k: v for k, v in given.items() if k in get_task(args.task).score_options}


def format_table(result: dict) -> str:
    """Metric, value and direction, one row each."""
    rows = [(k, v) for k, v in result.items() if isinstance(v, float)]
    width = max(len(k) for k, _ in rows)
    lines = [f"{'metric':<{width}}  {'value':>10}  better"]
    for name, value in rows:
        arrow = "higher" if result["higher_is_better"][name] else "lower"
        lines.append(f"{name:<{width}}  {value:>10.4f}  {arrow}")
    for name, why in result["settings"].get("not_computed", {}).items():
        lines.append(f"{name:<{width}}  {'-':>10}  {why}")
    return "\n".join(lines)


def check_predictions_match(refs: Path, hyps: Path) -> None:
    """Predictions written by `generate` record the evaluation file they decoded; scoring them
    against another one would pair outputs with the wrong references."""
    info_path = Path(hyps).with_suffix(".json")
    if not info_path.is_file():
        return  # predictions from elsewhere: nothing recorded to compare
    try:
        decoded = json.loads(info_path.read_text(encoding="utf-8")).get("eval_sha256")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        raise PrefixBenchError(f"{info_path}: unreadable; regenerate the predictions") from None
    if decoded is not None and Path(refs).suffix == ".jsonl" and sha256_file(refs) != decoded:
        raise PrefixBenchError(f"{hyps} was generated from other evaluation units than {refs} (sha256 "
                               f"{decoded[:12]}... vs {sha256_file(refs)[:12]}...); regenerate the predictions")


def run(args: argparse.Namespace) -> int:
    check_predictions_match(args.refs, args.hyps)
    result = score_task(
        args.task,
        args.refs,
        args.hyps,
        paper_protocol=args.paper_protocol,
        **_options(args),
    )
    # provenance: exactly which files were scored, by which code
    result["inputs"] = {"refs": str(args.refs), "refs_sha256": sha256_file(args.refs),
                        "hyps": str(args.hyps), "hyps_sha256": sha256_file(args.hyps)}
    result["code"] = code_version()
    print(format_table(result))
    if args.json is not None:
        write_json(args.json, result)
    return 0
