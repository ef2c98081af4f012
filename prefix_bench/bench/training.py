"""Training contenders: timed side by side in one process (the speed ratios), and each alone in a
process of its own (peak memory, fraction of the matmul peak).

Each contender is a fresh model of the same shape and weights, on the same batches, lr 5e-5,
gradient clipping at 1.0. Every process first steps each contender once on each of the shape's
distinct batches, untimed, under the FLOP counter (its warm-up, and the FLOPs of each batch);
the timed steps then cycle over those batches with no counter around them.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Callable

import torch

from ..config import TrainOptions
from ..runtime import keep_freed_memory
from ..train import peak_memory_mb
from .inputs import build_lm, load_batches
from .measure import count_flops, matmul_peak, timed_step
from .settings import BenchSettings, Shape

CONTENDERS: dict[str, str] = {
    # ours with the pipeline's defaults (TrainOptions: target-only LM head, fused GELU, fused
    # AdamW, freed memory kept; frozen LM in eval mode, as the paper's code)
    "prefix": "ours prefix (pipeline defaults)",
    # ours with those speed switches off: what a plain hand-written prefix does
    "prefix_plain": "ours prefix, speed switches off",
    # PEFT prefix-tuning with its defaults (MLP projection; LM in train mode: dropout on)
    "peft_prefix": "PEFT prefix (its defaults)",
    # the same in eval mode (no dropout): the same mode as ours
    "peft_prefix_eval": "PEFT prefix, eval mode",
    # full fine-tuning as the paper's code runs it: logits at every position, the model's own
    # GELU, per-tensor AdamW (the paper's transformers fork), dropout on
    "finetune_paper_code": "full FT, the paper's code's way",
    # full fine-tuning as transformers' Trainer does by default: its default optimizer (fused
    # torch AdamW in 5.x), the model's own loss over logits at every position, its own GELU,
    # dropout on, fp32
    "finetune_hf_default": "full FT, HF Trainer defaults",
    # full fine-tuning through our pipeline's defaults (the same switches as `prefix`)
    "finetune_ours": "full FT, our pipeline's defaults",
}
TRAIN_KINDS = list(CONTENDERS)
PLAIN = dict(target_only_head=False, fused_gelu=False, fused_adamw=False, keep_freed_memory=False)
OURS = ("prefix", "finetune_ours")  # the contenders that run with the pipeline's defaults
LR = 5e-5
GRAD_CLIP = 1.0

Step = Callable[[dict], None]


def contender(kind: str, s: BenchSettings, shape: Shape, device: torch.device, eos: int) -> tuple[Step, int]:
    """A fresh model for `kind`: (one optimizer step on a batch, trainable parameter count)."""
    lm = build_lm(s, shape, device, eos)
    if kind.startswith("peft"):
        return _peft_contender(kind, s, lm, device)
    if kind == "finetune_hf_default":
        return _hf_trainer_contender(lm)
    return _pipeline_contender(kind, s, lm, device)


def _pipeline_contender(kind: str, s: BenchSettings, lm, device: torch.device) -> tuple[Step, int]:
    """Our method and the trainer's own loss and update (`train.loss_of_batch`, `train.update`)."""
    from ..methods import build_method
    from ..models.formatting import text_format
    from ..train import build_optimizer, loss_of_batch, prepare_lm, update

    opts = TrainOptions(lr=LR) if kind in OURS else TrainOptions(**PLAIN, lr=LR)
    prepare_lm(lm, opts)
    name = "prefix" if kind.startswith("prefix") else "finetune"
    options = {"length": s.prefix_length, "mid_dim": s.mid_dim} if name == "prefix" else {}
    model = build_method(name, lm, options).to(device).train()
    fmt = text_format(lm)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, opts)

    def step(b: dict) -> None:
        update(loss_of_batch(model, fmt, b, opts, device), optimizer, params, GRAD_CLIP)

    return step, sum(p.numel() for p in params)


def _peft_contender(kind: str, s: BenchSettings, lm, device: torch.device) -> tuple[Step, int]:
    """PEFT's prefix-tuning, its model's own loss, per-tensor AdamW (what a PEFT script builds)."""
    from peft import PrefixTuningConfig, get_peft_model

    from ..precision import autocast
    from ..train import build_optimizer, update

    model = get_peft_model(lm, PrefixTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=s.prefix_length, prefix_projection=True,
        encoder_hidden_size=s.mid_dim))
    model.train(kind == "peft_prefix")  # PEFT's default: LM in train mode (dropout on)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, TrainOptions(**PLAIN, lr=LR))

    def step(b: dict) -> None:
        with autocast(device):
            loss = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
        update(loss, optimizer, params, GRAD_CLIP)

    return step, sum(p.numel() for p in params)


def hf_trainer_defaults() -> tuple[type, dict, dict]:
    """transformers' Trainer's default optimizer (class, keyword arguments), asked from the Trainer
    itself rather than copied, and the TrainingArguments defaults the bench records."""
    import tempfile

    from transformers import Trainer, TrainingArguments

    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, report_to=[])
        cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args)
    return cls, kwargs, {"optim": str(args.optim.value), "learning_rate": args.learning_rate,
                         "weight_decay": args.weight_decay, "max_grad_norm": args.max_grad_norm}


def hf_trainer_optimizer(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The Trainer's default optimizer at the bench's learning rate (also the Trainer's default)."""
    cls, kwargs, _ = hf_trainer_defaults()
    return cls(params, **{**kwargs, "lr": LR})


def _hf_trainer_contender(lm) -> tuple[Step, int]:
    """Full fine-tuning as the Trainer's default training step runs it: the model in train mode,
    its own loss over full logits, no autocast (fp32 is the Trainer's default), clipping at 1.0
    (its default max_grad_norm), its default optimizer."""
    from ..train import update

    lm.train()
    params = [p for p in lm.parameters() if p.requires_grad]
    optimizer = hf_trainer_optimizer(params)

    def step(b: dict) -> None:
        loss = lm(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
        update(loss, optimizer, params, GRAD_CLIP)

    return step, sum(p.numel() for p in params)


# --- the workers (each runs in a process of its own, see workers.py) ---------------------------
def _setup(s: BenchSettings, shape: Shape, work: Path) -> tuple[torch.device, list[dict], int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(work / "tokenizer")
    device = torch.device(s.device)
    return device, load_batches(s, shape, work, device, tok.pad_token_id), tok.eos_token_id


def _schedule(shape: Shape) -> list[int]:
    """Batch index of each timed step: the timed steps cycle over the warm-up batches."""
    return [r % shape.warmup_steps for r in range(shape.train_steps)]


def _tokens(batches: list[dict], shape: Shape) -> int:
    """Real (non-pad) tokens over the timed steps."""
    return sum(int(batches[i]["attention_mask"].sum()) for i in _schedule(shape))


def _figures(seconds: list[float], fractions: list[float], flops: list[int], tokens: int, trainable: int) -> dict:
    return {"tokens_per_s": tokens / sum(seconds), "fraction_of_peak_flops": statistics.median(fractions),
            "fractions": fractions, "step_seconds": seconds, "flops_per_batch": flops, "trainable": trainable}


def rotated(items: list, by: int) -> list:
    by %= len(items)
    return items[by:] + items[:by]


def side_by_side_worker(s: BenchSettings, shape: Shape, work: Path, repeat: int) -> dict:
    """Every contender in one process, one step each in turn (the order rotating every round), so
    load from other jobs on a shared machine hits all of them alike. Each round first measures the
    matmul peak; a step's fraction of the peak is its counted FLOPs / its time / that peak."""
    device, batches, eos = _setup(s, shape, work)
    if TrainOptions().keep_freed_memory:  # one process for all: the peers get it too (conservative)
        keep_freed_memory()
    steps, trainable, flops = {}, {}, {}
    for kind in TRAIN_KINDS:
        steps[kind], trainable[kind] = contender(kind, s, shape, device, eos)
        flops[kind] = [count_flops(steps[kind], b) for b in batches]  # untimed: warm-up + FLOPs
    seconds: dict[str, list[float]] = {k: [] for k in TRAIN_KINDS}
    fractions: dict[str, list[float]] = {k: [] for k in TRAIN_KINDS}
    peaks = []
    for r, i in enumerate(_schedule(shape)):
        peaks.append(matmul_peak(device, s.matmul_sizes))
        for kind in rotated(TRAIN_KINDS, r + repeat):
            t = timed_step(steps[kind], batches[i], device)
            seconds[kind].append(t)
            fractions[kind].append(flops[kind][i] / t / peaks[-1])
    tokens = _tokens(batches, shape)
    return {"matmul_peak_flops": peaks, "tokens": tokens,
            "contenders": {k: _figures(seconds[k], fractions[k], flops[k], tokens, trainable[k]) for k in TRAIN_KINDS}}


def alone_worker(kind: str, s: BenchSettings, shape: Shape, work: Path, repeat: int) -> dict:
    """One contender alone in a process of its own, as a training job runs: whole-process peak
    memory, tokens/s and the fraction of the matmul peak (measured right before each step)."""
    device, batches, eos = _setup(s, shape, work)
    if kind in OURS and TrainOptions().keep_freed_memory:  # a process setting: ours only, alone
        keep_freed_memory()
    step, trainable = contender(kind, s, shape, device, eos)
    flops = [count_flops(step, b) for b in batches]  # untimed: warm-up + FLOPs
    peak_mb = peak_memory_mb(device)  # before any matmul-peak probe can raise the high-water mark
    seconds, fractions, peaks = [], [], []
    for i in _schedule(shape):
        peaks.append(matmul_peak(device, s.matmul_sizes))
        t = timed_step(step, batches[i], device)
        seconds.append(t)
        fractions.append(flops[i] / t / peaks[-1])
    return {"kind": kind, "peak_mb": peak_mb, "matmul_peak_flops": peaks,
            **_figures(seconds, fractions, flops, _tokens(batches, shape), trainable)}
