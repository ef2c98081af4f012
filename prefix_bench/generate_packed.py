"""Generation stage, packed: several prefix-tuning runs decode one eval split in one job.

Command (the Snakemake rule `generate_pack_<id>_<split>` runs it when `packing.max_runs` > 1):
    prefix-bench generate-pack --eval-jsonl results/data/e2e/test.eval.jsonl \
        --run-dir results/runs/EXP/A --out results/runs/EXP/A/predictions/test.txt \
        --run-dir results/runs/EXP/B --out results/runs/EXP/B/predictions/test.txt

The runs of a training pack share the frozen LM, so their test sets decode together: the LM loads
once, and every batch holds `batch_size` rows of each run, each row under its own run's prefix
(written once into its rows of the KV cache; `PackedPrefixes.prefix_rows`). On a GPU a small
decoding batch is launch-bound, so K runs' rows cost about what one run's do. Each run gets
exactly the files `prefix-bench generate` writes for it (its record adds `packing`); the tokens
are those of decoding it alone up to float rounding, since rows are padded to another width
(tests/test_train_packed.py checks identical text).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch

from . import precision
from .config import GenerateOptions, RunSpec
from .errors import PrefixBenchError
from .generate import (
    decode_sources_pooled,
    load_decoding_lm,
    load_trained_method,
    parse_generate_json,
    read_run_spec,
    read_units,
    search_used,
    unique_sources,
    write_predictions,
)
from .methods.prefix.packed import PackedPrefixes
from .packing import pack_key
from .train import pick_device

log = logging.getLogger(__name__)


def check_poolable(specs: list[RunSpec], run_dirs: list[Path]) -> None:
    """One line naming a run that cannot decode with the first: it must be packable with it (same
    model, prefix shape, LM-level options) and decode under the same settings and source length."""
    first = specs[0]
    for spec, run_dir in zip(specs, run_dirs):
        key = pack_key(spec)
        if key is None:
            raise PrefixBenchError(f"{run_dir}: {spec.run_id} cannot decode in a pack (packing takes `prefix` runs "
                                   "without dropout or compile); decode it alone with `prefix-bench generate`")
        if key != pack_key(first):
            raise PrefixBenchError(f"{run_dir}: {spec.run_id} cannot decode with {first.run_id} (another model, "
                                   "prefix shape or LM-level train option); decode it alone")
        if spec.generate.identity() != first.generate.identity():
            raise PrefixBenchError(f"{run_dir}: {spec.run_id} decodes under other settings than {first.run_id} "
                                   "(generate: ...); pass one --generate-json or decode them apart")
        if spec.train.max_source_tokens != first.train.max_source_tokens:
            raise PrefixBenchError(f"{run_dir}: {spec.run_id} cuts sources at another length than "
                                   f"{first.run_id} (train.max_source_tokens); decode them apart")


def generate_pack(run_dirs: list[Path], eval_jsonl: Path, outs: list[Path],
                  generate: GenerateOptions | None = None) -> list[dict]:
    """Decode `eval_jsonl` with every run in `run_dirs` in one pooled decode; write each run's
    predictions to its `outs` entry (and the record beside it); return the records."""
    if len(run_dirs) != len(outs) or not run_dirs:
        raise PrefixBenchError(f"generate-pack: {len(run_dirs)} --run-dir for {len(outs)} --out; give one --out "
                               "per --run-dir, in the same order")
    t0 = time.perf_counter()
    units = read_units(eval_jsonl)
    specs = [read_run_spec(run_dir, generate) for run_dir in run_dirs]
    check_poolable(specs, run_dirs)  # before the LM loads
    first = specs[0]
    device = pick_device(first.train.device)
    if first.train.threads:  # the runs' thread budget holds for decoding too
        torch.set_num_threads(first.train.threads)
    lm, tokenizer = load_decoding_lm(first, device)
    pool = PackedPrefixes([load_trained_method(s, d, lm, tokenizer, device) for s, d in zip(specs, run_dirs)])
    precision.apply(pool, device, first.generate.precision, first.generate.tf32)
    pool.eval()
    log.info("decoding %s with %d runs in one pack: %s", eval_jsonl, len(specs), ", ".join(s.run_id for s in specs))

    unique = unique_sources(units)
    opts = first.generate
    outputs = decode_sources_pooled(pool, tokenizer, unique, opts, first.train.max_source_tokens, device)
    seconds = time.perf_counter() - t0
    pack = {"runs": [s.run_id for s in specs], "note": "decoded in one job with these runs over one frozen LM "
            "(`seconds` is the job's); the same tokens as alone up to float rounding"}
    search = search_used(pool, opts)
    return [write_predictions(out, units, dict(zip(unique, lines)), spec, search, device, run_dir, eval_jsonl,
                              seconds, packing=pack)
            for spec, run_dir, out, lines in zip(specs, run_dirs, outs, outputs)]


def run(args: argparse.Namespace) -> int:
    generate = parse_generate_json(args.generate_json) if args.generate_json else None
    records = generate_pack([Path(d) for d in args.run_dir], Path(args.eval_jsonl), [Path(o) for o in args.out],
                            generate)
    for out, info in zip(args.out, records):
        print(json.dumps({"out": out, **{k: info[k] for k in ("units", "unique_sources", "empty_outputs")}}))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("generate-pack", help="decode an eval split with several prefix-tuning runs in one job",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", action="append", required=True,
                   help="a trained run directory (repeat: one per run of the pack)")
    p.add_argument("--out", action="append", required=True,
                   help="that run's output text file, one line per unit (repeat, in --run-dir order)")
    p.add_argument("--eval-jsonl", required=True, help="prepared <split>.eval.jsonl every run decodes")
    p.add_argument("--generate-json",
                   help="decoding settings as JSON for every run (default: each run record's, which must agree)")
    p.set_defaults(func=run)
