"""Speed and memory benchmark: our prefix-tuning vs PEFT's vs full fine-tuning, side by side.

Command: `prefix-bench bench --device cpu --out results/bench/cpu.json` (GitHub issue 8)

Same model, data and settings for every contender. The model has GPT-2 small's shape on CPU and
GPT-2 medium's shape on a GPU (bf16 autocast there), built from a config with random weights (no
weights are needed to time them); the tokenizer is a byte-level BPE trained on the E2E text, and
the batches are E2E pairs cut to at most 64 tokens (source 32 + target 32, batch 8, prefix 10,
mid 512). Training throughput is timed with all contenders in one process, one step each in turn,
so that load from other jobs on a shared machine hits them alike; the matmul FLOPs each step
actually runs (backward included) are counted by `torch.utils.flop_counter` and compared with the
matmul peak measured in the same process right before each round. Peak memory comes from a fresh
subprocess per contender, so each whole-process peak is its own.
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
import csv  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from .atomic import write_json  # noqa: E402
from .errors import PrefixBenchError  # noqa: E402
from .train import peak_memory_mb  # noqa: E402

# The project's shared E2E copy (repo sibling, as in tests/conftest.py); else the bundled demo sample.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "e2e"
DEMO_DATA = Path(__file__).resolve().parent / "resources" / "demo" / "e2e"
SHAPES = {"cpu": dict(n_layer=12, n_embd=768, n_head=12),  # GPT-2 small
          "cuda": dict(n_layer=24, n_embd=1024, n_head=16)}  # GPT-2 medium
# "_full_logits": train.target_only_head off (LM head on every position, as HF's own loss does)
TRAIN_KINDS = ["prefix", "prefix_full_logits", "peft_prefix", "peft_prefix_eval", "finetune",
               "finetune_full_logits"]
MEMORY_KINDS = ["prefix", "peft_prefix", "finetune"]


@dataclass(frozen=True)
class BenchSettings:
    device: str = "cpu"
    threads: int = 0  # 0 = all cores
    batch_size: int = 8
    max_source_tokens: int = 31  # + separator EOS = 32
    max_target_tokens: int = 31  # + final EOS = 32: sequences of at most 64 tokens
    prefix_length: int = 10
    mid_dim: int = 512
    warmup_steps: int = 1
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


# --- data -------------------------------------------------------------------------------------
def read_e2e(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [(r["mr"], r["ref"]) for r in csv.DictReader(f)]


def data_files(data_dir: Path | None) -> tuple[Path, str]:
    root = data_dir or SHARED_DATA
    if (root / "testset_w_refs.csv").is_file() and (root / "devset.csv").is_file():
        return root, f"E2E data in {root} (devset pairs for training batches, testset for decoding/scoring)"
    if data_dir is not None:
        raise PrefixBenchError(f"{data_dir}: needs devset.csv and testset_w_refs.csv (official E2E files)")
    return DEMO_DATA, "shared E2E data absent: demo sample (prefix_bench/resources/demo/e2e)"


def prepare_inputs(s: BenchSettings, work: Path, data_dir: Path | None) -> dict:
    """Tokenizer + encoded batches + decoding prompts, written once for every worker."""
    from .models.formatting import encode_pair, encode_prompt
    from .models.tiny import train_byte_bpe

    root, note = data_files(data_dir)
    train_pairs = read_e2e(root / ("devset.csv" if (root / "devset.csv").is_file() else "trainset.csv"))
    test_pairs = read_e2e(root / "testset_w_refs.csv")
    tok = train_byte_bpe([t for p in train_pairs + test_pairs for t in p], vocab_size=4096)
    tok.save_pretrained(work / "tokenizer")
    random.Random(0).shuffle(train_pairs)
    n = s.batch_size * (s.warmup_steps + s.train_steps)
    encoded = [encode_pair(tok, m, r, s.max_source_tokens, s.max_target_tokens) for m, r in train_pairs[:n]]
    sources = list(dict.fromkeys(m for m, _ in test_pairs))  # deduplicated, as `generate` does
    prompts = [encode_prompt(tok, m, s.max_source_tokens) for m in sources[: s.decode_sources]]
    inputs = {"examples": [[e.input_ids, e.labels] for e in encoded], "prompts": prompts,
              "data": note, "data_dir": str(root)}
    write_json(work / "inputs.json", inputs)
    return inputs


# --- measurement helpers ----------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device) -> float:
    """Best FLOP/s of large square matmuls in this process (fp32 on CPU, bf16 on GPU)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    best = 0.0
    for n in ((4096, 8192) if device.type == "cuda" else (1024, 2048)):
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        for i in range(6):
            sync(device)
            t0 = time.perf_counter()
            torch.mm(a, b)
            sync(device)
            if i:  # first call warms up
                best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def build_lm(s: BenchSettings, device: torch.device, vocab: int, eos: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=vocab, n_positions=1024, bos_token_id=eos, eos_token_id=eos,
                        pad_token_id=eos, **SHAPES[s.device])
    return GPT2LMHeadModel(config).to(device)


# --- training contenders -----------------------------------------------------------------------
def load_batches(s: BenchSettings, work: Path, device: torch.device, pad_id: int) -> list[dict]:
    from .models.formatting import Encoded
    from .train import collate

    inputs = json.loads((work / "inputs.json").read_text())
    examples = [Encoded(i, l) for i, l in inputs["examples"]]
    return [collate(examples[i : i + s.batch_size], pad_id, device) for i in range(0, len(examples), s.batch_size)]


def contender(kind: str, s: BenchSettings, device: torch.device, eos: int):
    """A fresh model for `kind`; returns (one optimizer step on a batch, trainable parameter count)."""
    import contextlib

    from .methods import build_method
    from .train import lm_head_at_targets, sequence_loss

    lm = build_lm(s, device, 50257, eos)
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else contextlib.nullcontext
    if kind.startswith("peft"):
        from peft import PrefixTuningConfig, get_peft_model

        model = get_peft_model(lm, PrefixTuningConfig(
            task_type="CAUSAL_LM", num_virtual_tokens=s.prefix_length, prefix_projection=True,
            encoder_hidden_size=s.mid_dim))
        model.train(kind == "peft_prefix")  # PEFT's default: LM in train mode (dropout on)

        def loss_of(b):
            with amp():
                return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
    else:  # ours, with TrainOptions defaults (frozen LM in eval mode for prefix, as the paper)
        name = "prefix" if kind.startswith("prefix") else "finetune"
        options = {"length": s.prefix_length, "mid_dim": s.mid_dim} if name == "prefix" else {}
        model = build_method(name, lm, options).to(device).train()
        target_only = not kind.endswith("_full_logits")

        def loss_of(b):
            heads = lm_head_at_targets(lm, b["labels"]) if target_only else contextlib.nullcontext()
            with amp(), heads:
                logits = model(b["input_ids"], b["attention_mask"])
            return sequence_loss(logits, b["labels"], model.objective)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=5e-5)

    def step(b):
        loss = loss_of(b)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()

    return step, sum(p.numel() for p in params)


def timed_step(step, batch: dict, device: torch.device) -> tuple[float, int]:
    """Seconds and matmul FLOPs (forward + backward, as run) of one optimizer step. The counter's
    per-op overhead (well under 1% of a step here) is charged to every contender alike."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        sync(device)
        t0 = time.perf_counter()
        step(batch)
        sync(device)
        seconds = time.perf_counter() - t0
    return seconds, counter.get_total_flops()


# --- workers (each in a fresh process) --------------------------------------------------------
def throughput_worker(s: BenchSettings, work: Path) -> dict:
    """Every contender in one process, one step each in turn (rotating the order every round), so
    load from other jobs on a shared machine hits all of them alike. Each round also measures the
    matmul peak right before its steps; the fraction of peak is the median over rounds."""
    from transformers import AutoTokenizer

    device = torch.device(s.device)
    tok = AutoTokenizer.from_pretrained(work / "tokenizer")
    batches = load_batches(s, work, device, tok.pad_token_id)
    steps = {}
    for kind in TRAIN_KINDS:
        steps[kind], _ = contender(kind, s, device, tok.eos_token_id)
        for b in batches[: s.warmup_steps]:
            steps[kind](b)
    stats = {k: {"step_seconds": [], "flops": 0, "fractions": []} for k in TRAIN_KINDS}
    peaks = []
    for r, b in enumerate(batches[s.warmup_steps :]):
        peaks.append(matmul_peak(device))
        for kind in TRAIN_KINDS[r % len(TRAIN_KINDS):] + TRAIN_KINDS[: r % len(TRAIN_KINDS)]:
            seconds, flops = timed_step(steps[kind], b, device)
            st = stats[kind]
            st["step_seconds"].append(seconds)
            st["flops"] += flops
            st["fractions"].append(flops / seconds / peaks[-1])
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[s.warmup_steps :])
    out = {"matmul_peak_flops": peaks, "tokens": tokens}
    for kind, st in stats.items():
        out[kind] = {"tokens_per_s": tokens / sum(st["step_seconds"]),
                     "fraction_of_peak_flops": statistics.median(st["fractions"]), **st}
    return out


def memory_worker(kind: str, s: BenchSettings, work: Path) -> dict:
    """Whole-process peak memory of one contender alone in a fresh process (warm-up + 1 step)."""
    from transformers import AutoTokenizer

    device = torch.device(s.device)
    tok = AutoTokenizer.from_pretrained(work / "tokenizer")
    batches = load_batches(s, work, device, tok.pad_token_id)
    step, trainable = contender(kind, s, device, tok.eos_token_id)
    for b in batches[: s.warmup_steps]:
        step(b)
    seconds, _ = timed_step(step, batches[s.warmup_steps], device)
    return {"kind": kind, "peak_mb": peak_memory_mb(device), "trainable": trainable,
            "alone_tokens_per_s": int(batches[s.warmup_steps]["attention_mask"].sum()) / seconds}


def decode_worker(s: BenchSettings, work: Path) -> dict:
    import contextlib

    from transformers import AutoTokenizer

    from .config import GenerateOptions
    from .generate import decode_prompts
    from .methods import build_method
    from .models.formatting import newline_token_ids

    device = torch.device(s.device)
    tok = AutoTokenizer.from_pretrained(work / "tokenizer")
    prompts = json.loads((work / "inputs.json").read_text())["prompts"]
    lm = build_lm(s, device, 50257, tok.eos_token_id).eval()  # bf16 autocast on CUDA (GenerateOptions.bf16)
    method = build_method("prefix", lm, {"length": s.prefix_length, "mid_dim": s.mid_dim}).to(device).eval()
    bad, eos, pad = newline_token_ids(tok), tok.eos_token_id, tok.pad_token_id
    opts = GenerateOptions(num_beams=s.num_beams, max_new_tokens=s.max_new_tokens, batch_size=s.decode_sources)

    def timed(o: GenerateOptions, ps: list) -> tuple[float, list]:
        sync(device)
        t0 = time.perf_counter()
        out = decode_prompts(method, ps, o, pad, eos, bad, device)
        sync(device)
        return len(ps) / (time.perf_counter() - t0), [x[: x.index(eos) + 1] if eos in x else x for x in out]

    batched, ours = timed(opts, prompts)
    hf_batched, _ = timed(replace(opts, beam_search="hf"), prompts)
    one = prompts[: s.one_at_a_time_sources]
    single, single_out = timed(replace(opts, beam_search="hf", batch_size=1), one)

    from peft import PrefixTuningConfig, get_peft_model

    peft_model = get_peft_model(lm, PrefixTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=s.prefix_length, prefix_projection=True,
        encoder_hidden_size=s.mid_dim)).eval()
    few = sorted(prompts[: s.peft_sources], key=len)
    width = max(map(len, few))
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in few], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in few], device=device)
    sync(device)
    t0 = time.perf_counter()
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    with torch.no_grad(), amp:
        peft_model.generate(input_ids=ids, attention_mask=mask, use_cache=False, num_beams=s.num_beams,
                            max_new_tokens=s.max_new_tokens, do_sample=False, early_stopping=False,
                            bad_words_ids=bad or None, pad_token_id=pad, eos_token_id=eos)
    sync(device)
    peft_rate = len(few) / (time.perf_counter() - t0)
    return {"batched_sources_per_s": batched, "hf_batched_sources_per_s": hf_batched,
            "one_at_a_time_sources_per_s": single, "peft_nocache_sources_per_s": peft_rate,
            "outputs_identical": ours[: len(one)] == single_out,
            "sources": {"batched": len(prompts), "one_at_a_time": len(one), "peft_nocache": len(few)},
            "mean_new_tokens": statistics.mean(len(x) for x in ours)}


def score_timing(data_dir: Path, note: str, work: Path) -> dict:
    from .score import score_task
    from .score.io import read_references

    refs = data_dir / "testset_w_refs.csv"
    units = read_references(refs, "e2e")
    hyps = work / "hyps.txt"
    hyps.write_text("".join(u[0] + "\n" for u in units.refs), encoding="utf-8")
    t0 = time.perf_counter()
    result = score_task("e2e", refs, hyps)
    seconds = time.perf_counter() - t0
    metrics = result.get("metrics", result) if isinstance(result, dict) else {}
    return {"e2e_test_seconds": seconds, "units": len(units), "data": note, "refs": str(refs),
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))}}


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
    result: dict = {"settings": asdict(s), "machine": machine(s)}
    with tempfile.TemporaryDirectory(prefix="prefix-bench-") as tmp:
        work = Path(tmp)
        inputs = prepare_inputs(s, work, data_dir)
        result["data"] = inputs["data"]
        throughput, memory, decodes = [], {k: [] for k in MEMORY_KINDS}, []
        for _ in range(s.repeats):
            throughput.append(run_worker("throughput", s, work))
            for kind in MEMORY_KINDS:
                memory[kind].append(run_worker(f"memory:{kind}", s, work))
            decodes.append(run_worker("decode", s, work))
        train = {}
        for kind in TRAIN_KINDS:
            per_kind = [t[kind] for t in throughput]
            for key in ("tokens_per_s", "fraction_of_peak_flops"):
                train[f"{kind}_{key}"] = median_of(per_kind, key)
        for kind in MEMORY_KINDS:
            train[f"{kind}_peak_mb"] = median_of(memory[kind], "peak_mb")
        train["matmul_peak_flops"] = statistics.median(p for t in throughput for p in t["matmul_peak_flops"])
        train["runs"] = {"throughput": throughput, "memory": memory}
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
        "prefix_vs_finetune_full_logits": div(t["prefix_tokens_per_s"], t["finetune_full_logits_tokens_per_s"]),
        "prefix_vs_prefix_full_logits": div(t["prefix_tokens_per_s"], t["prefix_full_logits_tokens_per_s"]),
        "prefix_memory_vs_finetune": div(t["prefix_peak_mb"], t["finetune_peak_mb"]),
        "decode_batched_vs_one_at_a_time": div(d["batched_sources_per_s"], d["one_at_a_time_sources_per_s"]),
        "decode_batched_vs_hf_batched": div(d["batched_sources_per_s"], d["hf_batched_sources_per_s"]),
        "decode_batched_vs_peft_nocache": div(d["batched_sources_per_s"], d["peft_nocache_sources_per_s"]),
    }


def table(r: dict) -> str:
    t, d, q = r["train"], r["decode"], r["ratios"]

    def f(x, spec=".1f"):
        return "n/a" if x is None else format(x, spec)

    rows = [("train tokens/s", "ours prefix", f(t["prefix_tokens_per_s"])),
            ("", "ours prefix, full logits", f(t["prefix_full_logits_tokens_per_s"])),
            ("", "PEFT prefix (train mode)", f(t["peft_prefix_tokens_per_s"])),
            ("", "PEFT prefix (eval mode)", f(t["peft_prefix_eval_tokens_per_s"])),
            ("", "full fine-tuning", f(t["finetune_tokens_per_s"])),
            ("", "full fine-tuning, full logits", f(t["finetune_full_logits_tokens_per_s"])),
            ("peak MB", "ours prefix / PEFT / FT", f"{f(t['prefix_peak_mb'], '.0f')} / "
             f"{f(t['peft_prefix_peak_mb'], '.0f')} / {f(t['finetune_peak_mb'], '.0f')}"),
            ("% matmul peak", "ours prefix / PEFT / FT", " / ".join(
                f((t[f"{k}_fraction_of_peak_flops"] or 0) * 100) for k in ("prefix", "peft_prefix", "finetune"))),
            ("decode sources/s", "ours batched", f(d["batched_sources_per_s"], ".3f")),
            ("", "HF generate batched", f(d["hf_batched_sources_per_s"], ".3f")),
            ("", "one at a time", f(d["one_at_a_time_sources_per_s"], ".3f")),
            ("", "PEFT use_cache=False", f(d["peft_nocache_sources_per_s"], ".3f")),
            ("", "outputs identical", str(d["outputs_identical"])),
            ("score seconds", "E2E test", f(r["score"].get("e2e_test_seconds")))]
    rows += [("ratio", k, f(v, ".2f")) for k, v in q.items()]
    return "\n".join(f"{a:<18}{b:<34}{c}" for a, b, c in rows)


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
    p.add_argument("--data-dir", help="official E2E csv files (default: ../shared/data/e2e, else the demo)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per worker (0 = all cores)")
    p.set_defaults(func=run)


def _worker_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--worker", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--settings", required=True)
    a = p.parse_args(argv)
    s = BenchSettings(**json.loads(a.settings))
    if s.threads:
        torch.set_num_threads(s.threads)
    work = Path(a.work)
    if a.worker == "decode":
        out = decode_worker(s, work)
    elif a.worker == "throughput":
        out = throughput_worker(s, work)
    else:
        out = memory_worker(a.worker.split(":", 1)[1], s, work)
    print(json.dumps(out))


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
