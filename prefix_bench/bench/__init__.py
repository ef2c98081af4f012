"""Speed and memory benchmark: our prefix-tuning vs PEFT's vs full fine-tuning, side by side.

Command: `prefix-bench bench --device cpu --data-dir E2E_DIR --out results/bench/cpu.json`

Same model, data and settings for every contender (the list: `bench/training.py`). The model has
GPT-2 small's shape on CPU and GPT-2 medium's shape on a GPU (bf16 autocast there), built from a
config with random weights (no weights are needed to time them); the tokenizer is a byte-level BPE
trained on the E2E text, and the batches are E2E pairs cut to at most 64 tokens (source 32 +
target 32, batch 8, prefix 10, mid 512). Each peer runs with its own defaults; ours with the
pipeline's defaults, and a "plain"/"same mode" figure is reported next to each comparison.
Training is measured twice. Side by side: all contenders in one process, one step each in turn,
so that load from other jobs on a shared machine hits them alike; the speed ratios come from
here. Alone: each contender in a fresh process, as a training job runs: its whole-process peak
memory and its fraction of the matmul peak, i.e. the FLOPs each step actually runs (matmuls and
attention, backward included, counted by `torch.utils.flop_counter`) per second over the matmul
peak measured in the same process right before that step (median over steps; the side-by-side
fraction is recorded too).
Decoding compares our batched beam search over deduplicated, length-sorted sources with one
source at a time through `generate` (the paper's protocol) and with PEFT's `use_cache=False`, and
checks that our tokens equal the one-at-a-time tokens. Scoring times `score_task("e2e", ...)` on
the full E2E test set (first reference as hypothesis). CPU runs use few steps and sources, and 32
new tokens instead of 100 (random weights never emit EOS, so every beam runs to the limit); the
JSON records every such setting. Speed is measured here only, never asserted in tests.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no busy-waiting threads

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from ..atomic import write_json  # noqa: E402
from ..config import TrainOptions  # noqa: E402
from ..errors import PrefixBenchError  # noqa: E402
from .decoding import score_timing  # noqa: E402
from .inputs import data_files, prepare_inputs  # noqa: E402, F401 (data_files: the tests' entry)
from .training import PLAIN, TRAIN_KINDS  # noqa: E402


@dataclass(frozen=True)
class BenchSettings:
    device: str = "cpu"
    threads: int = 0  # 0 = all cores
    batch_size: int = 8
    max_source_tokens: int = 31  # + separator EOS = 32
    max_target_tokens: int = 31  # + final EOS = 32: sequences of at most 64 tokens
    prefix_length: int = 10
    mid_dim: int = 512
    warmup_steps: int = 3  # steady state: the allocator has its blocks, the caches their data
    train_steps: int = 4
    decode_sources: int = 16  # batched (ours, HF batched): one batch of 16 unique sources
    one_at_a_time_sources: int = 4
    peft_sources: int = 2
    num_beams: int = 5
    max_new_tokens: int = 32
    repeats: int = 1

    @classmethod
    def for_device(cls, device: str, **kw) -> "BenchSettings":
        if device == "cuda":  # a GPU affords the paper's decoding length and more steps
            base = dict(train_steps=20, warmup_steps=3, decode_sources=64, one_at_a_time_sources=16,
                        peft_sources=8, max_new_tokens=100)
            base.update(kw)
            kw = base
        return cls(device=device, **kw)


# --- orchestration ----------------------------------------------------------------------------
def run_worker(job: str, s: BenchSettings, work: Path) -> dict:
    """Run one measurement in a fresh Python process (own peak memory, no shared caches)."""
    cmd = [sys.executable, "-m", "prefix_bench.bench", "--worker", job, "--work", str(work),
           "--settings", json.dumps(asdict(s))]
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise PrefixBenchError(f"bench worker {job!r} failed: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine(s: BenchSettings) -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(), "device": s.device,
            "torch": torch.__version__, "load_average_start": os.getloadavg()}
    if s.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def median_of(runs: list[dict], key: str):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def run_bench(s: BenchSettings, out: Path, data_dir: Path | None = None) -> dict:
    if s.device == "cuda" and not torch.cuda.is_available():
        raise PrefixBenchError("--device cuda but no GPU is visible; use --device cpu")
    if s.threads:
        torch.set_num_threads(s.threads)
    t0 = time.perf_counter()
    result: dict = {"settings": asdict(s), "machine": machine(s),
                    "switches": {"ours": {k: getattr(TrainOptions(), k) for k in PLAIN}, "plain": PLAIN}}
    with tempfile.TemporaryDirectory(prefix="prefix-bench-") as tmp:
        work = Path(tmp)
        inputs = prepare_inputs(s, work, data_dir)
        result["data"] = inputs["data"]
        throughput, alone, decodes = [], {k: [] for k in TRAIN_KINDS}, []
        for _ in range(s.repeats):
            throughput.append(run_worker("throughput", s, work))
            for kind in TRAIN_KINDS:
                alone[kind].append(run_worker(f"alone:{kind}", s, work))
            decodes.append(run_worker("decode", s, work))
        train = {}
        for kind in TRAIN_KINDS:
            side_by_side = [t[kind] for t in throughput]
            train[f"{kind}_tokens_per_s"] = median_of(side_by_side, "tokens_per_s")
            train[f"{kind}_fraction_of_peak_flops"] = median_of(alone[kind], "fraction_of_peak_flops")
            train[f"{kind}_fraction_of_peak_flops_side_by_side"] = median_of(side_by_side, "fraction_of_peak_flops")
            train[f"{kind}_alone_tokens_per_s"] = median_of(alone[kind], "tokens_per_s")
            train[f"{kind}_peak_mb"] = median_of(alone[kind], "peak_mb")
        train["matmul_peak_flops"] = statistics.median(p for t in throughput for p in t["matmul_peak_flops"])
        train["runs"] = {"side_by_side": throughput, "alone": alone}
        result["train"] = train
        decode = {k: median_of(decodes, k) for k in ("batched_sources_per_s", "hf_batched_sources_per_s",
                                                     "one_at_a_time_sources_per_s", "peft_nocache_sources_per_s")}
        decode["outputs_identical"] = all(d["outputs_identical"] for d in decodes)
        decode["runs"] = decodes
        result["decode"] = decode
        try:
            result["score"] = score_timing(Path(inputs["data_dir"]), inputs["data"], work)
        except Exception as err:  # noqa: BLE001 - the scorer is another stage; record, do not hide
            result["score"] = {"e2e_test_seconds": None, "error": f"{type(err).__name__}: {err}"}
    result["machine"]["load_average_end"] = os.getloadavg()
    result["bench_seconds"] = time.perf_counter() - t0
    # Ratios per repeat (contenders measured side by side), then the median over repeats.
    per_repeat = []
    for i in range(s.repeats):
        t = {f"{k}_tokens_per_s": throughput[i][k]["tokens_per_s"] for k in TRAIN_KINDS}
        t.update({k: v for k, v in result["train"].items() if k.endswith("_peak_mb")})
        per_repeat.append(ratios(t, decodes[i]))
    result["ratios"] = {k: median_of(per_repeat, k) for k in per_repeat[0]}
    result["ratios_per_repeat"] = per_repeat
    write_json(out, result)
    return result


def ratios(t: dict, d: dict) -> dict:
    """Speed and memory ratios from training figures `t` and decoding figures `d`."""

    def div(a, b):
        return a / b if a is not None and b else None

    return {
        "prefix_vs_peft": div(t["prefix_tokens_per_s"], t["peft_prefix_tokens_per_s"]),
        "prefix_vs_peft_same_mode": div(t["prefix_tokens_per_s"], t["peft_prefix_eval_tokens_per_s"]),
        "prefix_vs_finetune": div(t["prefix_tokens_per_s"], t["finetune_tokens_per_s"]),
        "prefix_vs_finetune_same_mode": div(t["prefix_tokens_per_s"], t["finetune_ours_tokens_per_s"]),
        "prefix_vs_prefix_plain": div(t["prefix_tokens_per_s"], t["prefix_plain_tokens_per_s"]),
        "prefix_memory_vs_finetune": div(t["prefix_peak_mb"], t["finetune_peak_mb"]),
        "prefix_memory_vs_finetune_same_mode": div(t["prefix_peak_mb"], t.get("finetune_ours_peak_mb")),
        "decode_batched_vs_one_at_a_time": div(d["batched_sources_per_s"], d["one_at_a_time_sources_per_s"]),
        "decode_batched_vs_hf_batched": div(d["batched_sources_per_s"], d["hf_batched_sources_per_s"]),
        "decode_batched_vs_peft_nocache": div(d["batched_sources_per_s"], d["peft_nocache_sources_per_s"]),
    }


LABELS = {"prefix": "ours prefix (pipeline defaults)", "prefix_plain": "ours prefix, speed switches off",
          "peft_prefix": "PEFT prefix (its defaults)", "peft_prefix_eval": "PEFT prefix, eval mode",
          "finetune": "full fine-tuning (HF/paper way)", "finetune_ours": "full fine-tuning, our defaults"}


def table(r: dict) -> str:
    """The figures as a short text table (tokens/s side by side; % of peak alone)."""
    t, d, q = r["train"], r["decode"], r["ratios"]

    def f(x, spec=".1f"):
        return "n/a" if x is None else format(x, spec)

    rows = []
    for kind in TRAIN_KINDS:
        pct = t.get(f"{kind}_fraction_of_peak_flops")
        rows.append(("train tokens/s" if kind == TRAIN_KINDS[0] else "", LABELS[kind],
                     f"{f(t.get(f'{kind}_tokens_per_s'))}  ({f(pct * 100 if pct is not None else None)}% peak)"))
    rows += [("peak MB", "ours / plain / PEFT / PEFT eval / FT / FT ours", " / ".join(
                 f(t.get(f"{k}_peak_mb"), ".0f") for k in TRAIN_KINDS)),
             ("decode sources/s", "ours batched", f(d["batched_sources_per_s"], ".3f")),
             ("", "HF generate batched", f(d["hf_batched_sources_per_s"], ".3f")),
             ("", "one at a time", f(d["one_at_a_time_sources_per_s"], ".3f")),
             ("", "PEFT use_cache=False", f(d["peft_nocache_sources_per_s"], ".3f")),
             ("", "outputs identical", str(d["outputs_identical"])),
             ("score seconds", "E2E test", f(r["score"].get("e2e_test_seconds")))]
    rows += [("ratio", k, f(v, ".2f")) for k, v in q.items()]
    return "\n".join(f"{a:<18}{b:<36}{c}" for a, b, c in rows)


def run(args: argparse.Namespace) -> int:
    s = BenchSettings.for_device(args.device, repeats=args.repeats, threads=args.threads,
                                 **({"train_steps": args.steps} if args.steps else {}))
    result = run_bench(s, Path(args.out), Path(args.data_dir) if args.data_dir else None)
    print(table(result))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure training/decoding speed and memory (ours vs PEFT vs FT)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--out", required=True, help="JSON file for the figures")
    p.add_argument("--repeats", type=int, default=1, help="repeat every measurement; medians are reported")
    p.add_argument("--steps", type=int, default=0, help="timed training steps (0 = device default)")
    p.add_argument("--data-dir", help="official E2E csv files (devset.csv, testset_w_refs.csv); default: the bundled demo "
                   "sample, named as such in the figures")
    p.add_argument("--threads", type=int, default=0, help="torch threads per worker (0 = all cores)")
    p.set_defaults(func=run)
