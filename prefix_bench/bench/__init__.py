"""Speed and memory benchmark: our prefix-tuning vs PEFT's vs full fine-tuning, side by side.

Command: `prefix-bench bench --device cpu --data-dir E2E_DIR --out results/bench/cpu.json`

Same model, data and settings for every contender (the list: `bench/training.py`), at GPT-2
small's and GPT-2 medium's shapes (`--shapes`), built from a config with random weights (no
weights are needed to time them); the tokenizer is a byte-level BPE trained on the E2E text, and
the batches are E2E dev pairs cut to at most 64 tokens (source 32 + target 32, batch 8, prefix
10, mid 512). Each peer runs with its own defaults, ours with the pipeline's; a "plain"/"same
mode" figure sits next to each comparison. Full fine-tuning runs two ways besides ours: as the
paper's code does and as transformers' Trainer does by default.

Training is measured twice. Side by side (small): all contenders in one process, one step each
in turn, so that load from other jobs on a shared machine hits them alike; the speed ratios come
from here. Alone: each contender in a process of its own, as a training job runs: its
whole-process peak memory and its fraction of the matmul peak. At medium the contenders run alone
only (side by side they would need ~24 GB), and its ratios come from the alone runs. Every process
steps each contender once on each distinct batch, untimed, under `torch.utils.flop_counter` (the
warm-up; the FLOPs of each batch: matmuls and attention, backward included); the timed steps then
cycle over those batches with no counter around them. Fraction of peak = FLOPs / step time / the
matmul peak measured in the same process right before that step (median over steps).
Decoding (small) times our batched beam search, HF `generate` on the same batches and one source
at a time (the paper's protocol) on the same sources, each after a warm-up decode, PEFT's
`use_cache=False` on the first of them, and counts the sources on which our tokens equal the
one-at-a-time tokens (all of them are compared). Scoring times `score_task("e2e", ...)` on the
full E2E test set (first reference as hypothesis). CPU runs use few steps, and 32 new tokens
instead of 100 (random weights never emit EOS, so every beam runs to the limit); the JSON records
every setting. Without `--data-dir` the bench stops, unless `--demo-data` asks for the bundled
sample, which the JSON and the table then name. Speed is measured here only, never asserted in
tests (`--smoke` runs every code path on tiny stand-in shapes in under a minute).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no busy-waiting threads

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from ..atomic import write_json  # noqa: E402
from ..config import TrainOptions  # noqa: E402
from ..errors import PrefixBenchError  # noqa: E402
from .decoding import score_timing  # noqa: E402
from .inputs import data_files, prepare_inputs  # noqa: E402
from .settings import BenchSettings, preset  # noqa: E402
from .summary import summarize_shape, table  # noqa: E402
from .training import CONTENDERS, PLAIN, TRAIN_KINDS, hf_trainer_defaults, rotated  # noqa: E402
from .workers import run_worker  # noqa: E402


def machine(s: BenchSettings) -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "threads": s.threads or torch.get_num_threads(),
            "device": s.device, "torch": torch.__version__, "load_average_start": os.getloadavg()}
    if s.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def hf_trainer_record() -> dict:
    """What `finetune_hf_default` took from the installed Trainer's defaults, for the JSON."""
    import transformers

    cls, kwargs, args = hf_trainer_defaults()
    return {"transformers": transformers.__version__, **args,
            "optimizer": f"{cls.__module__}.{cls.__qualname__}", "optimizer_kwargs": kwargs}


def measure_shape(s: BenchSettings, name: str, work: Path, repeat: int, runs: dict) -> None:
    """One repeat of every measurement at shape `name`, appended to `runs`."""
    shape = s.shapes[name]
    if shape.side_by_side:
        runs["side_by_side"].append(run_worker("side_by_side", s, name, work, repeat))
    for kind in rotated(TRAIN_KINDS, repeat):  # alone runs in a rotating order: no contender always last
        runs["alone"][kind].append(run_worker(f"alone:{kind}", s, name, work, repeat))
    if shape.decode:
        runs["decode"].append(run_worker("decode", s, name, work, repeat))


def run_bench(s: BenchSettings, out: Path, data_dir: Path | None = None, demo: bool = False) -> dict:
    """Every measurement `s.repeats` times; writes and returns the figures."""
    if s.device == "cuda" and not torch.cuda.is_available():
        raise PrefixBenchError("--device cuda but no GPU is visible; use --device cpu")
    root, note = data_files(data_dir, demo)  # before any work: no figures on data nobody asked for
    t0 = time.perf_counter()
    result: dict = {"settings": asdict(s), "machine": machine(s), "data": note, "contenders": CONTENDERS,
                    "switches": {"ours": {k: getattr(TrainOptions(), k) for k in PLAIN}, "plain": PLAIN},
                    "hf_trainer_defaults": hf_trainer_record()}
    runs = {name: {"side_by_side": [], "alone": {k: [] for k in TRAIN_KINDS}, "decode": []} for name in s.shapes}
    with tempfile.TemporaryDirectory(prefix="prefix-bench-") as tmp:
        work = Path(tmp)
        prepare_inputs(s, work, root)
        for repeat in range(s.repeats):
            for name in s.shapes:
                measure_shape(s, name, work, repeat, runs[name])
        try:
            result["score"] = score_timing(root, note, work)
        except Exception as err:  # noqa: BLE001 - the scorer is another stage; record, do not hide
            result["score"] = {"e2e_test_seconds": None, "error": f"{type(err).__name__}: {err}"}
    result["shapes"] = {name: summarize_shape(s.shapes[name], runs[name]) for name in s.shapes}
    result["machine"]["load_average_end"] = os.getloadavg()
    result["bench_seconds"] = time.perf_counter() - t0
    write_json(out, result)
    return result


def run(args: argparse.Namespace) -> int:
    shapes = [x.strip() for x in args.shapes.split(",") if x.strip()] if args.shapes else None
    s = preset(args.device, shapes, smoke=args.smoke, steps=args.steps, decode_sources=args.decode_sources,
               repeats=args.repeats, threads=args.threads)
    result = run_bench(s, Path(args.out), Path(args.data_dir) if args.data_dir else None, args.demo_data)
    print(table(result))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure training/decoding speed and memory (ours vs PEFT vs FT)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--out", required=True, help="JSON file for the figures")
    p.add_argument("--data-dir", help="official E2E csv files (devset.csv, testset_w_refs.csv)")
    p.add_argument("--demo-data", action="store_true",
                   help="time the bundled demo sample instead (named as such in the JSON and the table)")
    p.add_argument("--shapes", default="", help="comma-separated model shapes: small,medium (default: both)")
    p.add_argument("--repeats", type=int, default=1, help="repeat every measurement; medians are reported")
    p.add_argument("--steps", type=int, default=0, help="timed training steps per shape (0 = the preset's)")
    p.add_argument("--decode-sources", type=int, default=0,
                   help="sources decoded, in one batch, by every decoder (0 = the preset's: 32)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per worker (0 = all cores)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny stand-in shapes and few steps: every code path in under a minute (for tests)")
    p.set_defaults(func=run)
