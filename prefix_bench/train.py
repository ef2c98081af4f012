"""Training stage: fit one method on one dataset, save only what was trained.

Command: `prefix-bench train --spec SPEC.json --data-dir results/data/e2e --out-dir results/runs/RUN`

Reads the run spec (config.RunSpec), encodes ` {source} <|endoftext|> {target} <|endoftext|>`
pairs, runs AdamW with a linear schedule and gradient clipping (paper section 5.2), and writes
`trained.safetensors` (the method's trainable tensors only) and `run.json` (spec, parameter
counts, cost figures, provenance). A checkpoint in `<out-dir>/checkpoint/` lets a killed job
resume with bit-identical results.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import math
import resource
import time
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import save_file
from tqdm import tqdm

from . import checkpoint, precision
from .atomic import atomic_path, exclusive, write_json
from .config import RunSpec, TrainOptions, parse_run_spec
from .data.schema import read_jsonl
from .errors import PrefixBenchError
from .methods import Method, build_method
from .models import load_lm, model_provenance
from .models.formatting import (  # noqa: F401 (collate re-exported)
    IGNORE,
    Encoded,
    TextFormat,
    collate,
    target_positions,
    text_format,
)
from .models.speedups import HEAD_CHUNK_CPU, chunked_linear, fuse_gelu
from .progress import ProgressLog
from .provenance import environment, sha256_file
from .runtime import keep_freed_memory

log = logging.getLogger(__name__)


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise PrefixBenchError("train.device is 'cuda' but no GPU is visible; set device: cpu or auto")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def sequence_loss(logits: torch.Tensor, labels: torch.Tensor, objective: str, shift: bool = True,
                  index: torch.Tensor | None = None) -> torch.Tensor:
    """Next-token loss. "sum": per-sequence sum averaged over the batch (paper's prefix runs);
    "mean": mean over all target tokens (paper's fine-tuning runs). `logits` is [B, T, V], or
    [N, V] for the target positions only (computed under `lm_head_at_targets`; `index` = their
    `target_positions`, computed here when not given)."""
    if logits.dim() == 2:
        index = target_positions(labels) if index is None else index
        if logits.shape[0] != index.numel():
            raise PrefixBenchError("logits do not match the target positions; the method does not "
                                   "use the LM head: set train.target_only_head: false")
        targets = labels.flatten().index_select(0, index + 1)  # the token each position predicts
        total = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
        return total / labels.shape[0] if objective == "sum" else total / max(1, index.numel())
    if shift:  # decoder-only: position t predicts token t + 1; encoder-decoder logits align with labels
        logits, labels = logits[:, :-1], labels[:, 1:]
    token_loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=IGNORE, reduction="none"
    ).view(labels.shape)
    if objective == "sum":
        return token_loss.sum(dim=1).mean()
    return token_loss.sum() / (labels != IGNORE).sum().clamp(min=1)


@contextlib.contextmanager
def lm_head_at_targets(lm: torch.nn.Module, labels: torch.Tensor, chunk: int | None = None,
                       index: torch.Tensor | None = None):
    """Apply the LM head only at positions that predict a target token: logits come back [N, V].

    Source positions need no logits (their labels are IGNORE) and the head is the largest single
    matmul of a GPT-2 forward (d x 50257). The hidden states are gathered [B, T, d] -> [N, d] at
    `index` (`target_positions(labels)`, computed here when not given), row-major. With `chunk`
    (CPU: `HEAD_CHUNK_CPU`) a linear head is computed in vocabulary slices
    (`models.speedups.chunked_linear`), which the CPU BLAS runs faster."""
    index = target_positions(labels) if index is None else index

    def gather(hidden: torch.Tensor) -> torch.Tensor:
        return hidden.flatten(0, 1).index_select(0, index)

    head = lm.get_output_embeddings()
    if chunk and isinstance(head, torch.nn.Linear):
        head.forward = lambda hidden: chunked_linear(gather(hidden), head.weight, head.bias, chunk)

        def undo() -> None:
            del head.forward  # back to the class's own forward
    else:
        undo = head.register_forward_pre_hook(lambda module, args: (gather(args[0]), *args[1:])).remove
    try:
        yield
    finally:
        undo()


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """Deterministic shuffle for one epoch: the data position is just (epoch, batch index)."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def length_bucketed(order: list[int], lengths: list[int], batch_size: int, window: int, seed: int,
                    epoch: int) -> list[int]:
    """Length-bucketed batches: sort each run of `window` batches of `order` by length, cut it into
    batches, shuffle the batches (deterministic in seed and epoch, so resuming stays exact)."""
    span = window * batch_size
    batches = []
    for start in range(0, len(order), span):
        part = sorted(order[start : start + span], key=lambda i: lengths[i])
        batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    g = torch.Generator().manual_seed(seed * 100_003 + epoch + 7)
    return [i for b in torch.randperm(len(batches), generator=g).tolist() for i in batches[b]]


def linear_schedule(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


@torch.no_grad()
def evaluate_loss(method: Method, fmt: TextFormat, examples: list[Encoded], batch_size: int, pad_id: int,
                  device: torch.device) -> float:
    """Token-mean loss on held-out pairs (comparable across methods and objectives)."""
    was_training = method.training
    method.eval()
    total, count = 0.0, 0
    for i in range(0, len(examples), batch_size):
        batch = fmt.collate(examples[i : i + batch_size], pad_id, device)
        logits = fmt.forward(method, batch)
        targets = batch["labels"][:, 1:] if fmt.shift_labels else batch["labels"]
        n = int((targets != IGNORE).sum())
        total += float(sequence_loss(logits, batch["labels"], "mean", fmt.shift_labels)) * n
        count += n
    method.train(was_training)
    return total / max(1, count)


def read_pairs(path: Path) -> list[dict]:
    """Validated training pairs; read before any model loads so bad data fails fast."""
    rows = read_jsonl(path)
    if not rows:
        raise PrefixBenchError(f"{path}: no training pairs; check the prepared data")
    return rows


def encode_split(rows: list[dict], tokenizer, spec: RunSpec, fmt: TextFormat, method: Method) -> list[Encoded]:
    t = spec.train
    return [fmt.encode_pair(tokenizer, method.format_source(r["source"]), r["target"], t.max_source_tokens,
                            t.max_target_tokens) for r in rows]


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def prepare_lm(lm: torch.nn.Module, opts: TrainOptions) -> None:
    """Apply the LM-level speed switches of `opts` in place (after any real-word initialisation)."""
    if opts.fused_gelu:
        fuse_gelu(lm)
    if opts.compile:
        lm.compile()  # in place; the first steps pay the compilation (minutes on CPU)


def build_optimizer(params: list[torch.nn.Parameter], opts: TrainOptions) -> torch.optim.Optimizer:
    """AdamW as the paper's code configures it; `fused_adamw` picks torch's one-kernel update
    (same rule, about 7x faster a step on CPU for the 9.8M prefix-MLP parameters)."""
    fused = opts.fused_adamw and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=opts.lr, betas=(opts.adam_beta1, opts.adam_beta2),
                             eps=opts.adam_eps, weight_decay=opts.weight_decay, fused=fused or None)


def head_chunk(device: torch.device) -> int | None:
    """Vocabulary slice width of the target-only LM head: CPU BLAS only (one matmul on a GPU)."""
    return HEAD_CHUNK_CPU if device.type == "cpu" else None


def loss_of_batch(method: Method, fmt: TextFormat, batch: dict, opts: TrainOptions,
                  device: torch.device) -> torch.Tensor:
    """The training loss of one batch as the pipeline computes it (forward under the training
    precision, target-only LM head when on); no host synchronisation. The trainer, the bench
    and the GPU check all call this, so a change here reaches each of them."""
    # Target-only LM head: decoder-only sequences carry source positions that need no logits.
    target_only = opts.target_only_head and fmt.shift_labels
    index = batch.get("target_index")
    heads = (lm_head_at_targets(method.lm, batch["labels"], head_chunk(device), index) if target_only
             else contextlib.nullcontext())
    with precision.autocast(device, opts.precision), heads:
        logits = fmt.forward(method, batch)
    return sequence_loss(logits, batch["labels"], method.objective, fmt.shift_labels, index)


def update(loss: torch.Tensor, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter],
           grad_clip: float) -> None:
    """Backward, gradient clipping (paper: max norm 1.0) and one optimizer step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()


def train_run(spec: RunSpec, data_dir: Path, out_dir: Path, dev: bool = True,
              after_step: Callable[[int], None] | None = None) -> dict:
    """Train `spec` on `data_dir/train.jsonl`; write outputs to `out_dir`; return the run record.
    One writer per run directory: a second `train` of the same directory fails at once.
    `after_step(step)` runs after each step and its checkpoint (tests inject faults there)."""
    with exclusive(out_dir, "`prefix-bench train`"):
        checkpoint.remove_partial(out_dir / "checkpoint")  # writes a kill interrupted
        return _train_run(spec, data_dir, out_dir, dev, after_step)


def _train_run(spec: RunSpec, data_dir: Path, out_dir: Path, dev: bool,
               after_step: Callable[[int], None] | None) -> dict:
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    opts = spec.train
    if opts.threads:
        torch.set_num_threads(opts.threads)
    kept_freed_memory = opts.keep_freed_memory and keep_freed_memory()
    device = pick_device(opts.device)
    torch.manual_seed(opts.seed)  # fixes the method's initialisation and dropout
    train_path = data_dir / "train.jsonl"
    train_rows = read_pairs(train_path)
    lm, tokenizer = load_lm(spec.model_path, device, spec.trust_remote_code)
    method = build_method(spec.method, lm, spec.method_options).to(device)
    # Real-word initialisation (paper section 7.2) fits the prefix to the frozen LM's K/V here;
    # a no-op for methods without one. Runs before the checkpoint restore overwrites weights.
    init_info = method.initialize(tokenizer)
    prepare_lm(lm, opts)
    params = [p for p in method.parameters() if p.requires_grad]
    precision_info = precision.apply(method, device, opts.precision, opts.tf32)

    fmt = text_format(lm)
    examples = encode_split(train_rows, tokenizer, spec, fmt, method)
    batches_per_epoch = math.ceil(len(examples) / opts.batch_size)
    total_steps = opts.max_steps or batches_per_epoch * opts.epochs
    optimizer = build_optimizer(params, opts)
    factor = linear_schedule(opts.warmup_steps, total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    ckpt_dir = out_dir / "checkpoint"
    config_hash = spec.config_hash()
    step, history, tokens_seen, resumed_from = 0, [], 0, None
    restored = checkpoint.load(ckpt_dir)
    if restored is not None and restored[2].get("config_hash") != config_hash:
        # The run's settings changed since (Snakemake reruns on params change): the checkpoint
        # belongs to another run and must not be resumed.
        log.warning("%s: checkpoint made with other settings (config %s, now %s); starting from scratch",
                    ckpt_dir, restored[2].get("config_hash"), config_hash)
        restored = None
    if restored is not None:
        model_state, optim_state, meta = restored
        method.load_trainable_state_dict(model_state, str(ckpt_dir))
        optimizer.load_state_dict(optim_state)
        step, history, tokens_seen = meta["step"], meta["history"], meta["tokens_seen"]
        resumed_from = step
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor(step)
        scheduler.last_epoch = step
        checkpoint.restore_rng(meta["rng"])
        log.info("resuming %s from step %d", spec.run_id, step)

    def save_checkpoint() -> None:
        checkpoint.save(ckpt_dir, method.trainable_state_dict(), optimizer,
                        {"config_hash": config_hash, "step": step, "history": history,
                         "tokens_seen": tokens_seen, "method": spec.method, "model": spec.model})

    method.train()
    progress = tqdm(total=total_steps, initial=step, desc=f"train {spec.run_id}", unit="step",
                    disable=None, mininterval=5)
    job_log = ProgressLog(f"train {spec.run_id}", total_steps, "steps", start=step)  # checked at log steps
    train_t0, train_tokens0, loss_value = time.perf_counter(), tokens_seen, float("nan")
    # No device-to-host read in the loop except at log and checkpoint steps (on a GPU each read
    # stalls the host until the queued work is done): the loss stays on the device, and the first
    # step whose loss is not finite is noted there and looked at before anything is saved.
    first_bad_step = torch.full((), -1, dtype=torch.long, device=device)
    first_bad_loss = torch.zeros((), device=device)

    def stop_if_not_finite() -> None:
        bad = int(first_bad_step)
        if bad >= 0:
            raise PrefixBenchError(
                f"loss is {float(first_bad_loss)} at step {bad} of {spec.run_id}; training stopped, last "
                f"good checkpoint kept in {ckpt_dir}; lower train.lr or check the data"
            )

    while step < total_steps:
        epoch, index = divmod(step, batches_per_epoch)
        order = epoch_order(len(examples), opts.seed, epoch)
        if opts.length_buckets:
            order = length_bucketed(order, [len(e.input_ids) for e in examples], opts.batch_size,
                                    opts.length_buckets, opts.seed, epoch)
        chunk = order[index * opts.batch_size : (index + 1) * opts.batch_size]
        batch = fmt.collate([examples[i] for i in chunk], tokenizer.pad_token_id, device)
        loss = loss_of_batch(method, fmt, batch, opts, device)
        newly_bad = (first_bad_step < 0) & ~torch.isfinite(loss.detach())
        first_bad_step = torch.where(newly_bad, step, first_bad_step)
        first_bad_loss = torch.where(newly_bad, loss.detach(), first_bad_loss)
        update(loss, optimizer, params, opts.grad_clip)
        scheduler.step()
        step += 1
        tokens_seen += sum(len(examples[i].input_ids) for i in chunk)
        progress.update(1)
        if step % opts.log_every == 0 or step == total_steps:
            stop_if_not_finite()
            loss_value = loss.item()
            history.append({"step": step, "loss": loss_value, "lr": scheduler.get_last_lr()[0]})
            progress.set_postfix(loss=f"{loss_value:.3f}")
            job_log.update(step, epoch=f"{epoch + 1}/{math.ceil(total_steps / batches_per_epoch)}",
                           loss=f"{loss_value:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}",
                           tokens_per_s=f"{(tokens_seen - train_tokens0) / (time.perf_counter() - train_t0):.0f}")
        if opts.checkpoint_every and step % opts.checkpoint_every == 0 and step < total_steps:
            stop_if_not_finite()  # never save weights that a non-finite loss has touched
            save_checkpoint()
        if after_step is not None:
            after_step(step)
    progress.close()
    train_seconds = time.perf_counter() - train_t0

    record = {
        "spec": spec.training_dict(),  # decoding settings belong to the predictions (generate stage)
        "config_hash": config_hash,
        "parameters": method.parameter_counts(),
        "initialization": init_info,
        "training": {
            "steps": step, "examples": len(examples), "final_loss": loss_value, "history": history,
            "resumed_from_step": resumed_from, "tokens_seen": tokens_seen,
            "tokens_per_s": (tokens_seen - train_tokens0) / train_seconds if train_seconds > 0 else None,
        },
        "model": model_provenance(spec.model_path),
        "data": {"train_sha256": sha256_file(train_path)},
        "environment": environment(),
        "device": str(device),
        "precision": precision_info,
        # what ran, not only what was asked: an encoder-decoder's logits all align with labels,
        # so it always uses the whole head (train.target_only_head applies to decoder-only LMs)
        "lm_head": "target positions" if opts.target_only_head and fmt.shift_labels else "every position",
    }
    dev_path = data_dir / "dev.jsonl"
    dev_rows = read_jsonl(dev_path) if dev and dev_path.is_file() else []
    if dev and not dev_rows:
        log.warning("%s: no dev pairs (the dev split was not prepared): no dev loss for %s", dev_path, spec.run_id)
        record["training"]["dev_loss"] = None
    if dev_rows:
        dev_examples = encode_split(dev_rows, tokenizer, spec, fmt, method)
        record["training"]["dev_loss"] = evaluate_loss(method, fmt, dev_examples, opts.batch_size,
                                                       tokenizer.pad_token_id, device)
        record["data"]["dev_sha256"] = sha256_file(dev_path)
    record["cost"] = {
        "wall_seconds": time.perf_counter() - t0,
        "peak_memory_mb": peak_memory_mb(device),
        "kept_freed_memory": kept_freed_memory,  # train.keep_freed_memory took effect (glibc)
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "trained.safetensors") as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in method.trainable_state_dict().items()}
        # One metadata key: safetensors writes a multi-key map in arbitrary order, and the file's
        # bytes (hashed into the provenance of everything downstream) must be reproducible.
        meta = json.dumps({"method": spec.method, "model": spec.model, "config_hash": config_hash},
                          sort_keys=True)
        save_file(state, str(tmp), metadata={"prefix_bench": meta})
    write_json(out_dir / "run.json", record)
    checkpoint.remove(ckpt_dir)  # the final outputs are complete: the resume state is spent
    return record


def load_spec_arg(args: argparse.Namespace) -> RunSpec:
    if args.spec_json:
        return parse_run_spec(args.spec_json, "--spec-json")
    path = Path(args.spec)
    if not path.is_file():
        raise PrefixBenchError(f"{path}: run spec not found")
    return parse_run_spec(path.read_text(encoding="utf-8"), str(path))


def run(args: argparse.Namespace) -> int:
    spec = load_spec_arg(args)
    record = train_run(spec, Path(args.data_dir), Path(args.out_dir))
    t = record["training"]
    print(json.dumps({"run": spec.run_id, "steps": t["steps"], "final_loss": t["final_loss"],
                      "dev_loss": t.get("dev_loss"), "parameters": record["parameters"]}))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train one run (prefix-tuning, fine-tuning, ...)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--spec", help="run spec JSON file")
    src.add_argument("--spec-json", help="run spec as a JSON string")
    p.add_argument("--data-dir", required=True, help="prepared dataset directory (train.jsonl, dev.jsonl)")
    p.add_argument("--out-dir", required=True, help="run directory (trained.safetensors, run.json)")
    p.set_defaults(func=run)
