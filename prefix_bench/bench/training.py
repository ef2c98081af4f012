"""Training contenders: timed side by side in one process (the ratios), and each alone in its own
process (peak memory, fraction of the matmul peak).

Contenders (each a fresh model of the same shape, same batches, AdamW lr 5e-5, clip 1.0):
  prefix            ours with the pipeline's defaults (TrainOptions: target-only LM head, fused GELU,
                    fused AdamW, freed memory kept; frozen LM in eval mode, as the paper's code)
  prefix_plain      ours with those speed switches off: what a plain hand-written prefix does
  peft_prefix       PEFT prefix-tuning with its defaults (MLP projection, LM in train mode: dropout)
  peft_prefix_eval  the same in eval mode (no dropout): the same-mode comparison
  finetune          full fine-tuning as the paper's and HF's code run it (full logits, the model's
                    own GELU, per-tensor AdamW)
  finetune_ours     full fine-tuning through our pipeline's defaults (as `prefix`)
"""

from __future__ import annotations

import statistics
from pathlib import Path

import torch

from ..config import TrainOptions
from ..runtime import keep_freed_memory
from ..train import peak_memory_mb
from .inputs import build_lm, load_batches
from .measure import matmul_peak, timed_step

TRAIN_KINDS = ["prefix", "prefix_plain", "peft_prefix", "peft_prefix_eval", "finetune", "finetune_ours"]
PLAIN = dict(target_only_head=False, fused_gelu=False, fused_adamw=False, keep_freed_memory=False)
OURS = ("prefix", "finetune_ours")  # the contenders that run with the pipeline's defaults
LR = 5e-5


def contender(kind: str, s, device: torch.device, eos: int):
    """A fresh model for `kind`; returns (one optimizer step on a batch, trainable parameter count)."""
    from ..methods import build_method
    from ..models.formatting import text_format
    from ..precision import autocast
    from ..train import build_optimizer, loss_of_batch, prepare_lm, update

    lm = build_lm(s, device, eos)
    if kind.startswith("peft"):
        from peft import PrefixTuningConfig, get_peft_model

        model = get_peft_model(lm, PrefixTuningConfig(
            task_type="CAUSAL_LM", num_virtual_tokens=s.prefix_length, prefix_projection=True,
            encoder_hidden_size=s.mid_dim))
        model.train(kind == "peft_prefix")  # PEFT's default: LM in train mode (dropout on)
        opts = TrainOptions(**PLAIN, lr=LR)

        def loss_of(b):
            with autocast(device):
                return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
    else:
        opts = TrainOptions(lr=LR) if kind in OURS else TrainOptions(**PLAIN, lr=LR)
        prepare_lm(lm, opts)
        name = "prefix" if kind.startswith("prefix") else "finetune"
        options = {"length": s.prefix_length, "mid_dim": s.mid_dim} if name == "prefix" else {}
        model = build_method(name, lm, options).to(device).train()
        fmt = text_format(lm)

        def loss_of(b):  # the trainer's own loss (train.loss_of_batch)
            return loss_of_batch(model, fmt, b, opts, device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, opts)

    def step(b):  # the trainer's own update (train.update)
        update(loss_of(b), optimizer, params, 1.0)

    return step, sum(p.numel() for p in params)


def throughput_worker(s, work: Path) -> dict:
    """Every contender in one process, one step each in turn (rotating the order every round), so
    load from other jobs on a shared machine hits all of them alike. Each round also measures the
    matmul peak right before its steps; the fraction of peak is the median over rounds."""
    from transformers import AutoTokenizer

    device = torch.device(s.device)
    if TrainOptions().keep_freed_memory:  # one process for all: the peers get it too (conservative)
        keep_freed_memory()
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


def alone_worker(kind: str, s, work: Path) -> dict:
    """One contender alone in a fresh process, as a real training job runs: whole-process peak
    memory, tokens/s, and the fraction of the matmul peak (measured before each step) per step."""
    from transformers import AutoTokenizer

    device = torch.device(s.device)
    if kind in OURS and TrainOptions().keep_freed_memory:  # a process setting: ours only, alone
        keep_freed_memory()
    tok = AutoTokenizer.from_pretrained(work / "tokenizer")
    batches = load_batches(s, work, device, tok.pad_token_id)
    step, trainable = contender(kind, s, device, tok.eos_token_id)
    for b in batches[: s.warmup_steps]:
        step(b)
    peak_mb = peak_memory_mb(device)  # before any matmul-peak probe can raise the high-water mark
    seconds, fractions = [], []
    for b in batches[s.warmup_steps :]:
        peak = matmul_peak(device)
        t, flops = timed_step(step, b, device)
        seconds.append(t)
        fractions.append(flops / t / peak)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[s.warmup_steps :])
    return {"kind": kind, "peak_mb": peak_mb, "trainable": trainable,
            "tokens_per_s": tokens / sum(seconds), "fraction_of_peak_flops": statistics.median(fractions),
            "fractions": fractions, "step_seconds": seconds}
