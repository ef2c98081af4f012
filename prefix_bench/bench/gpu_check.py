"""The GPU check: the figures a GPU user needs, in one command of a few minutes.

Command: `prefix-bench gpu-check --out results/bench/gpu.json` (on a machine with one GPU);
`--smoke` runs the same code on the CPU at toy sizes in seconds (the test suite does this, so the
check is known to work before a GPU is at hand).

What it measures, on GPT-2 medium's shape (24 layers, d 1024, vocab 50257; random weights: the
speed of a step does not depend on the weights) and synthetic E2E-sized pairs (source and target
8-32 tokens each):
- the machine's bf16 matmul ceiling (8192^3 products, CUDA-event timed);
- training steps through the trainer's own code (`train.loss_of_batch` + `train.update`) at the
  paper's E2E batch (5) and a GPU-sized batch (64): step time by CUDA events over many steps (no
  host clock in the loop), FLOPs counted once on a separate untimed step (the counter's Python
  overhead never enters a timing), fraction of the datasheet and of the measured bf16 peak, peak
  memory. Contenders: prefix-tuning with the pipeline's defaults (`precision: bf16`: autocast,
  frozen LM held in bf16, prefix fp32); the same with the LM's weights left fp32 under autocast
  (re-cast every step: how the pipeline ran before `precision`); `precision: fp32` (the paper's);
  full fine-tuning (defaults: fused AdamW, fp32 master weights, autocast); PEFT prefix-tuning
  (autocast);
- packing: K prefix runs of batch 5 in one step over one frozen LM (`methods/prefix/packed.py`)
  against the same K steps one after another;
- pooled decoding: K prefix runs' copies of 16 sources in shared batches (`generate-pack`) against
  the K decodes one after another, with our search and with `generate`; tokens compared in fp32;
- decoding: our batched beam search (beam 5, 100 new tokens) against `generate` batched, one
  source at a time (the paper's protocol) and PEFT without cache, each warmed up first, in the
  pipeline's decoding precision (bf16 autocast); identity of our tokens with one-at-a-time decoding
  checked on every source in fp32 (random weights give near-uniform logits, so a bf16 tie can
  flip a token: the bf16 agreement is reported, not required).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..atomic import write_json
from ..errors import PrefixBenchError
from .gpu_decoding import check_decoding, check_pipeline, check_pooled_decoding
from .gpu_setup import (  # noqa: F401 (CheckSettings: the tests' entry)
    DATASHEET_BF16,
    CheckSettings,
    Timer,
    build_lm,
    count_flops,
    matmul_ceiling,
    peak_mb,
    reset_peak,
    synthetic_pairs,
)

log = logging.getLogger(__name__)

# --- training --------------------------------------------------------------------------------
TRAIN_CONTENDERS = {
    "prefix": "ours prefix, defaults (bf16, frozen LM held in bf16)",
    "prefix_fp32_weights": "ours prefix, LM weights fp32 under bf16 autocast",
    "prefix_fp32": "ours prefix, precision: fp32 (the paper's)",
    "finetune": "ours full fine-tuning, defaults (bf16 autocast)",
    "peft_prefix": "PEFT prefix-tuning, eval mode, bf16 autocast",
}


def train_step_fn(kind: str, s: CheckSettings, device: torch.device):
    """(step(batch), trainable parameter count) for one contender, on a fresh LM."""
    from .. import precision
    from ..config import TrainOptions
    from ..methods import build_method
    from ..models.formatting import text_format
    from ..train import build_optimizer, loss_of_batch, prepare_lm, update

    lm = build_lm(s, device)
    opts = TrainOptions(lr=5e-5, precision="fp32" if kind == "prefix_fp32" else "bf16")
    if kind == "peft_prefix":
        from peft import PrefixTuningConfig, get_peft_model

        model = get_peft_model(lm, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=s.prefix_length,
                                                      prefix_projection=True, encoder_hidden_size=s.mid_dim)).eval()

        def loss_of(b):
            with precision.autocast(device):
                return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
    else:
        prepare_lm(lm, opts)
        options = {"length": s.prefix_length, "mid_dim": s.mid_dim} if kind.startswith("prefix") else {}
        model = build_method("prefix" if kind.startswith("prefix") else "finetune", lm, options).to(device).train()
        if kind != "prefix_fp32_weights":  # as train_run does
            precision.apply(model, device, opts.precision, opts.tf32)
        fmt = text_format(lm)

        def loss_of(b):
            return loss_of_batch(model, fmt, b, opts, device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, opts)
    return (lambda b: update(loss_of(b), optimizer, params, 1.0)), sum(p.numel() for p in params)


def batches_for(s: CheckSettings, batch_size: int, device: torch.device, seed: int) -> list[dict]:
    from ..models.formatting import collate

    n = s.warmup_steps + s.timed_steps + 1
    pairs = synthetic_pairs(s, n * batch_size, seed)
    return [collate(pairs[i * batch_size : (i + 1) * batch_size], s.vocab - 1, device) for i in range(n)]


def time_training(step, batches: list[dict], s: CheckSettings, device: torch.device) -> dict:
    """Warm-up steps, one untimed FLOP-counted step, then `timed_steps` steps in one event pair."""
    for b in batches[: s.warmup_steps]:
        step(b)
    flops = count_flops(lambda: step(batches[s.warmup_steps]))
    timed = batches[s.warmup_steps + 1 :]
    with Timer(device) as t:
        for b in timed:
            step(b)
    step_s = t.seconds / len(timed)
    tokens = sum(int(b["attention_mask"].sum()) for b in timed) / len(timed)
    return {"step_ms": step_s * 1000, "flops_per_step": flops, "tokens_per_s": tokens / step_s,
            "achieved_flops_per_s": flops / step_s}


def with_utilisation(r: dict, trainable: int, device: torch.device, peak: float, datasheet: float | None) -> dict:
    """A timed contender's figures plus its size, peak memory and share of the measured and datasheet peaks."""
    r.update(trainable=trainable, peak_mb=peak_mb(device), fraction_of_measured_peak=r["achieved_flops_per_s"] / peak,
             mfu_datasheet=r["achieved_flops_per_s"] / datasheet if datasheet else None)
    return r


def check_training(s: CheckSettings, device: torch.device, peak: float, datasheet: float | None) -> dict:
    out = {}
    for batch_size in s.train_batches:
        batches = batches_for(s, batch_size, device, seed=batch_size)
        for kind in TRAIN_CONTENDERS:
            reset_peak(device)
            try:
                step, trainable = train_step_fn(kind, s, device)
                r = time_training(step, batches, s, device)
            except Exception as err:  # noqa: BLE001 - one contender (say, out of memory) spares the rest
                log.exception("gpu-check: training %s at batch %d failed", kind, batch_size)
                out[f"{kind}@{batch_size}"] = {"error": f"{type(err).__name__}: {err}"}
                continue
            finally:
                step = None
            out[f"{kind}@{batch_size}"] = with_utilisation(r, trainable, device, peak, datasheet)
    return out


BART_CONTENDERS = {"prefix_bart": "ours prefix (3 sites), BART-large, XSum shape",
                   "finetune": "ours full fine-tuning, BART-large, XSum shape"}


def check_training_bart(s: CheckSettings, device: torch.device, peak: float, datasheet: float | None) -> dict:
    """The paper grid's dominant cost: XSum steps on BART-large's shape (random weights)."""
    from transformers import BartConfig, BartForConditionalGeneration

    from .. import precision
    from ..config import TrainOptions
    from ..methods import build_method
    from ..models.formatting import Encoded, text_format
    from ..train import build_optimizer, loss_of_batch, prepare_lm, update

    eos = s.bart_vocab - 1
    g = torch.Generator().manual_seed(3)
    n = s.warmup_steps + s.timed_steps + 1
    pairs = [Encoded(torch.randint(0, eos, (s.xsum_source_tokens - 1,), generator=g).tolist() + [eos],
                     torch.randint(0, eos, (int(torch.randint(*s.xsum_target_tokens, (1,), generator=g)),),
                                   generator=g).tolist() + [eos])
             for _ in range(n * s.xsum_batch)]
    out = {}
    for kind in BART_CONTENDERS:
        reset_peak(device)
        key = f"{kind}@xsum{s.xsum_batch}"
        try:
            config = BartConfig(vocab_size=s.bart_vocab, max_position_embeddings=1024, bos_token_id=eos,
                                eos_token_id=eos, pad_token_id=eos, decoder_start_token_id=eos,
                                forced_eos_token_id=None, **s.bart_shape)
            torch.manual_seed(0)
            with torch.device(device):
                lm = BartForConditionalGeneration(config)
            opts = TrainOptions(lr=5e-5)
            prepare_lm(lm, opts)
            options = {"length": s.xsum_prefix_length, "mid_dim": s.xsum_mid_dim} if kind == "prefix_bart" else {}
            method = build_method(kind, lm, options).to(device).train()
            precision.apply(method, device, opts.precision, opts.tf32)
            fmt = text_format(lm)
            params = [p for p in method.parameters() if p.requires_grad]
            optimizer = build_optimizer(params, opts)
            batches = [fmt.collate(pairs[i * s.xsum_batch : (i + 1) * s.xsum_batch], eos, device) for i in range(n)]
            r = time_training(lambda b: update(loss_of_batch(method, fmt, b, opts, device), optimizer, params, 1.0),
                              batches, s, device)
        except Exception as err:  # noqa: BLE001 - one contender (say, out of memory) spares the rest
            log.exception("gpu-check: training %s failed", key)
            out[key] = {"error": f"{type(err).__name__}: {err}"}
            continue
        finally:
            lm = method = optimizer = None
        out[key] = with_utilisation(r, sum(p.numel() for p in params), device, peak, datasheet)
    return out


def check_packing(s: CheckSettings, device: torch.device, separate_step_ms: float, batch_size: int) -> dict:
    """K prefix runs of `batch_size` packed into one step, against K separate steps."""
    from .. import precision
    from ..config import TrainOptions
    from ..methods import build_method
    from ..methods.prefix.packed import PackedPrefixes, packed_update, per_run_losses
    from ..train import head_chunk, lm_head_at_targets, prepare_lm

    k = s.packed_runs
    lm = build_lm(s, device)
    opts = TrainOptions(lr=5e-5)
    prepare_lm(lm, opts)
    runs = []
    for seed in range(k):
        torch.manual_seed(seed)
        runs.append(build_method("prefix", lm, {"length": s.prefix_length, "mid_dim": s.mid_dim}).to(device).train())
    packed = PackedPrefixes(runs)
    precision.apply(packed, device, opts.precision, opts.tf32)
    groups = packed.run_parameters()
    optimizer = torch.optim.AdamW([{"params": g} for g in groups], lr=opts.lr, fused=device.type == "cuda" or None)
    rows = [batch_size] * k

    def step(b):  # as `train.loss_of_batch`: the run's precision, target-only LM head
        with precision.autocast(device, opts.precision), \
                lm_head_at_targets(lm, b["labels"], head_chunk(device), b["target_index"]):
            logits = packed(b["input_ids"], b["attention_mask"], rows)
        packed_update(per_run_losses(logits, b["labels"], rows, packed.objective), optimizer, groups, 1.0)

    reset_peak(device)
    r = time_training(step, batches_for(s, batch_size * k, device, seed=1000), s, device)
    r.update(runs=k, rows_per_run=batch_size, peak_mb=peak_mb(device), separate_steps_ms=k * separate_step_ms,
             speedup_vs_separate=k * separate_step_ms / r["step_ms"])
    return r


# --- the whole check -------------------------------------------------------------------------
def run_check(s: CheckSettings, out: Path) -> dict:
    device = torch.device(s.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PrefixBenchError("gpu-check: no GPU is visible; run it on a GPU machine, or --smoke on the CPU")
    t0 = time.perf_counter()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    datasheet = next((v for k, v in DATASHEET_BF16.items() if k in name), None) if device.type == "cuda" else None
    import transformers

    result = {"settings": asdict(s), "machine": {"device": name, "torch": torch.__version__,
                                                 "transformers": transformers.__version__,
                                                 "datasheet_bf16_flops_per_s": datasheet},
              "data": "synthetic token pairs (random ids, E2E-sized); random-weight GPT-2 of the stated shape"}
    failed = []

    def section(name: str, measure) -> None:
        """Run one part; a failure is recorded (and fails the command at the end) without losing the
        figures of the other parts: on a borrowed GPU every figure counts. JSON written after each."""
        try:
            result[name] = measure()
        except Exception as err:  # noqa: BLE001 - recorded in the JSON, logged with its traceback, exit 1
            log.exception("gpu-check: %s failed", name)
            result[name] = {"error": f"{type(err).__name__}: {err}"}
            failed.append(name)
        result["check_seconds"] = time.perf_counter() - t0
        write_json(out, result)

    section("matmul", lambda: matmul_ceiling(s, device))
    peak = result["matmul"].get("flops_per_s") or float("nan")
    section("train", lambda: check_training(s, device, peak, datasheet))
    section("train_xsum", lambda: check_training_bart(s, device, peak, datasheet))
    small = s.train_batches[0]
    separate = result["train"].get(f"prefix@{small}", {}).get("step_ms", float("nan"))
    section("packing", lambda: check_packing(s, device, separate, small))
    section("decode", lambda: check_decoding(s, device))
    section("decode_pooled", lambda: check_pooled_decoding(s, device))

    def pipeline() -> dict:
        with tempfile.TemporaryDirectory(prefix="prefix-bench-gpu-check-") as tmp:
            return check_pipeline(s, Path(tmp))

    section("pipeline", pipeline)
    failed += [f"{part}:{k}" for part in ("train", "train_xsum") if "error" not in result[part]
               for k, v in result[part].items() if "error" in v]
    result["failed"] = failed
    write_json(out, result)
    return result


def table(r: dict) -> str:
    """The figures as short lines; a failed part shows its error."""
    lines = []

    def part(name: str) -> dict | None:
        if "error" in r.get(name, {}):
            lines.append(f"{name}: FAILED {r[name]['error']}")
            return None
        return r.get(name)

    if m := part("matmul"):
        lines.append(f"{r['machine']['device']}: {m['dtype']} matmul {m['flops_per_s'] / 1e12:.1f} TFLOP/s measured")
    def step_row(label: str, v: dict) -> str:
        if "error" in v:
            return f"{label:<64} FAILED {v['error']}"
        mfu = v["mfu_datasheet"] if v["mfu_datasheet"] is not None else v["fraction_of_measured_peak"]
        mb = "n/a" if v["peak_mb"] is None else f"{v['peak_mb']:.0f}"
        return f"{label:<64}{v['step_ms']:>8.2f}{v['tokens_per_s']:>10.0f}{mfu * 100:>6.1f}%{mb:>9}"

    if t := part("train"):
        lines.append(f"{'training step':<64}{'ms':>8}{'tok/s':>10}{'MFU':>7}{'peak MB':>9}")
        for key, v in t.items():
            kind, batch = key.split("@")
            lines.append(step_row(f"{TRAIN_CONTENDERS[kind]}, batch {batch}", v))
    if t := part("train_xsum"):
        for key, v in t.items():
            kind, batch = key.split("@")
            lines.append(step_row(f"{BART_CONTENDERS[kind]}, batch {batch.removeprefix('xsum')}", v))
    if p := part("packing"):
        lines.append(f"packing {p['runs']} prefix runs x batch {p['rows_per_run']}: {p['step_ms']:.2f} ms a step vs "
                     f"{p['separate_steps_ms']:.2f} ms separately ({p['speedup_vs_separate']:.2f}x)")
    if d := part("decode"):
        lines.append(f"decoding sources/s: ours {d['ours_batched_sources_per_s']:.2f}, generate batched "
                     f"{d['hf_batched_sources_per_s']:.2f}, one at a time {d['one_at_a_time_sources_per_s']:.2f}, "
                     f"PEFT no cache {d['peft_nocache_sources_per_s']:.2f}")
        lines.append(f"identical to one-at-a-time in fp32: {d['fp32_identical_sources']}/{d['sources']} sources; "
                     f"bf16 agreement {d['bf16_agreeing_sources']}/{d['one_at_a_time_sources']}")
    if d := part("decode_pooled"):
        for name in ("own", "hf"):
            v = d[name]
            lines.append(f"pooled decoding ({name}), {d['runs']} runs x {d['sources_per_run']} sources: "
                         f"{v['pooled_sources_per_s']:.2f} sources/s vs {v['separate_sources_per_s']:.2f} one run after "
                         f"another ({v['speedup']:.2f}x); fp32 identical {v['fp32_identical']}/{v['outputs']}, "
                         f"bf16 agreeing {v['bf16_agreeing']}/{v['outputs']}")
    if pipe := part("pipeline"):
        for method, v in pipe.items():
            lines.append(f"pipeline {method} on {v['device']}: {v['steps']} steps, dev loss {v['dev_loss']:.3f}, "
                         f"{v['units_decoded']} units decoded ({v['empty_outputs']} empty)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    s = CheckSettings.smoke() if args.smoke else CheckSettings()
    result = run_check(s, Path(args.out))
    print(table(result))
    if result["failed"]:
        raise PrefixBenchError(f"parts failed: {', '.join(result['failed'])} (tracebacks above; figures of "
                               f"the other parts in {args.out})")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("gpu-check", help="GPU figures: training MFU, packing, decoding speed and identity",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="JSON file for the figures")
    p.add_argument("--smoke", action="store_true", help="toy sizes on the CPU (seconds): checks the code path")
    p.set_defaults(func=run)
