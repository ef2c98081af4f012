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
import datetime as dt
import json
import logging
import math
import resource
import time
from dataclasses import dataclass
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
from .models.formatting import Encoded, TextFormat, collate, text_format  # noqa: F401 (collate re-exported)
from .models.speedups import fuse_gelu
from .progress import ProgressLog
from .provenance import environment, sha256_file
from .runtime import keep_freed_memory
from .train_step import (  # noqa: F401 (the step's parts, re-exported for the bench and tests)
    build_optimizer,
    evaluate_loss,
    head_chunk,
    linear_schedule,
    lm_head_at_targets,
    loss_of_batch,
    sequence_loss,
    update,
)

log = logging.getLogger(__name__)


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise PrefixBenchError("train.device is 'cuda' but no GPU is visible; set device: cpu or auto")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


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


def train_run(spec: RunSpec, data_dir: Path, out_dir: Path, dev: bool = True,
              after_step: Callable[[int], None] | None = None) -> dict:
    """Train `spec` on `data_dir/train.jsonl`; write outputs to `out_dir`; return the run record.
    One writer per run directory: a second `train` of the same directory fails at once.
    `after_step(step)` runs after each step and its checkpoint (tests inject faults there)."""
    with exclusive(out_dir, "`prefix-bench train`"):
        checkpoint.remove_partial(out_dir / "checkpoint")  # writes a kill interrupted
        return _train_run(spec, data_dir, out_dir, dev, after_step)


class NonFiniteWatch:
    """Notes, on the device, the first step whose loss is not finite; `check()` (a host read, only
    at log and checkpoint steps: on a GPU each read stalls the host until the queued work is done)
    stops the run before anything a bad step touched is saved."""

    def __init__(self, device: torch.device, run_id: str, ckpt_dir: Path) -> None:
        self.step = torch.full((), -1, dtype=torch.long, device=device)
        self.loss = torch.zeros((), device=device)
        self.run_id, self.ckpt_dir = run_id, ckpt_dir

    def note(self, step: int, loss: torch.Tensor) -> None:
        new = (self.step < 0) & ~torch.isfinite(loss.detach())
        self.step = torch.where(new, step, self.step)
        self.loss = torch.where(new, loss.detach(), self.loss)

    def check(self) -> None:
        bad = int(self.step)
        if bad >= 0:
            raise PrefixBenchError(
                f"loss is {float(self.loss)} at step {bad} of {self.run_id}; training stopped, last "
                f"good checkpoint kept in {self.ckpt_dir}; lower train.lr or check the data")


def _resume(s: Session) -> dict:
    """Restore a checkpoint of this same run (weights, optimizer, schedule, RNG); the state to
    continue from ({"step", "history", "tokens_seen", "resumed_from"}), fresh if there is none."""
    fresh = {"step": 0, "history": [], "tokens_seen": 0, "resumed_from": None}
    ckpt_dir, config_hash = s.ckpt_dir, s.spec.config_hash()
    restored = checkpoint.load(ckpt_dir)
    if restored is None:
        return fresh
    model_state, optim_state, meta = restored
    if meta.get("config_hash") != config_hash:
        # The run's settings changed since (Snakemake reruns on params change): the checkpoint
        # belongs to another run and must not be resumed.
        log.warning("%s: checkpoint made with other settings (config %s, now %s); starting from scratch",
                    ckpt_dir, meta.get("config_hash"), config_hash)
        return fresh
    s.method.load_trainable_state_dict(model_state, str(ckpt_dir))
    s.optimizer.load_state_dict(optim_state)
    step = meta["step"]
    factor = s.scheduler.lr_lambdas[0]  # the run's linear schedule
    for group in s.optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor(step)
    s.scheduler.last_epoch = step
    checkpoint.restore_rng(meta["rng"])
    log.info("resuming %s from step %d", s.spec.run_id, step)
    return {"step": step, "history": meta["history"], "tokens_seen": meta["tokens_seen"], "resumed_from": step}


def _batch_indices(step: int, n: int, batches_per_epoch: int, opts: TrainOptions,
                   lengths: list[int]) -> tuple[int, list[int]]:
    """(epoch, example indices) of training step `step`: a pure function of the step, so a resumed
    run sees exactly the batches it would have seen."""
    epoch, index = divmod(step, batches_per_epoch)
    order = epoch_order(n, opts.seed, epoch)
    if opts.length_buckets:
        order = length_bucketed(order, lengths, opts.batch_size, opts.length_buckets, opts.seed, epoch)
    return epoch, order[index * opts.batch_size : (index + 1) * opts.batch_size]


@dataclass
class Session:
    """What one training run holds while it trains (built by `_start`)."""

    spec: RunSpec
    method: Method
    tokenizer: object
    fmt: TextFormat
    examples: list[Encoded]
    params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    device: torch.device
    ckpt_dir: Path
    total_steps: int
    setup: dict  # initialisation, precision and memory figures for run.json

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.examples) / self.spec.train.batch_size)


@dataclass
class LoadedLM:
    """The frozen LM a job loads once: one run's, or every run's of a pack (train_packed.py)."""

    lm: torch.nn.Module
    tokenizer: object
    device: torch.device
    kept_freed_memory: bool


def load_shared_lm(spec: RunSpec) -> LoadedLM:
    """Process settings (threads, allocator) and the LM of `spec`, on its device."""
    opts = spec.train
    if opts.threads:
        torch.set_num_threads(opts.threads)
    kept_freed_memory = opts.keep_freed_memory and keep_freed_memory()
    device = pick_device(opts.device)
    lm, tokenizer = load_lm(spec.model_path, device, spec.trust_remote_code)
    return LoadedLM(lm, tokenizer, device, kept_freed_memory)


def build_initialized(spec: RunSpec, loaded: LoadedLM) -> tuple[Method, dict]:
    """The run's method over the loaded LM, initialised, with its initialisation record. The seed
    is set right here, after the LM loaded, so a run starts from the same weights alone or packed."""
    torch.manual_seed(spec.train.seed)  # fixes the method's initialisation and dropout
    method = build_method(spec.method, loaded.lm, spec.method_options).to(loaded.device)
    # Real-word initialisation (paper section 7.4) fits the prefix to the frozen LM's K/V here;
    # a no-op for methods without one. Runs before the checkpoint restore overwrites weights.
    return method, method.initialize(loaded.tokenizer)


def make_session(spec: RunSpec, method: Method, init_info: dict, loaded: LoadedLM, train_rows: list[dict],
                 out_dir: Path) -> Session:
    """Data, optimizer and schedule of a run whose method is built and whose LM is prepared."""
    opts, device = spec.train, loaded.device
    params = [p for p in method.parameters() if p.requires_grad]
    precision_info = precision.apply(method, device, opts.precision, opts.tf32)
    fmt = text_format(loaded.lm)
    examples = encode_split(train_rows, loaded.tokenizer, spec, fmt, method)
    total_steps = opts.max_steps or math.ceil(len(examples) / opts.batch_size) * opts.epochs
    optimizer = build_optimizer(params, opts)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(opts.warmup_steps, total_steps))
    setup = {"initialization": init_info, "precision": precision_info,
             "kept_freed_memory": loaded.kept_freed_memory}
    return Session(spec, method, loaded.tokenizer, fmt, examples, params, optimizer, scheduler, device,
                   out_dir / "checkpoint", total_steps, setup)


def _start(spec: RunSpec, train_rows: list[dict], out_dir: Path) -> Session:
    """Model, method (initialised), data, optimizer and schedule of a run, before any step."""
    loaded = load_shared_lm(spec)
    method, init_info = build_initialized(spec, loaded)
    prepare_lm(loaded.lm, spec.train)
    return make_session(spec, method, init_info, loaded, train_rows, out_dir)


def save_checkpoint(s: Session, step: int, history: list[dict], tokens_seen: int) -> None:
    """The run's resume state at `step` (weights, optimizer, schedule position, RNG, history)."""
    checkpoint.save(s.ckpt_dir, s.method.trainable_state_dict(), s.optimizer,
                    {"config_hash": s.spec.config_hash(), "step": step, "history": history,
                     "tokens_seen": tokens_seen, "method": s.spec.method, "model": s.spec.model})


def _train_steps(s: Session, state: dict, after_step: Callable[[int], None] | None) -> dict:
    """Train from `state` ({"step", "history", "tokens_seen"}) to the last step, logging and
    checkpointing on the way; return the final state with the loop's figures."""
    opts, run_id = s.spec.train, s.spec.run_id
    step, history, tokens_seen = state["step"], state["history"], state["tokens_seen"]
    lengths = [len(e.input_ids) for e in s.examples]
    s.method.train()
    progress = tqdm(total=s.total_steps, initial=step, desc=f"train {run_id}", unit="step", disable=None,
                    mininterval=5)
    job_log = ProgressLog(f"train {run_id}", s.total_steps, "steps", start=step)  # checked at log steps
    t0, tokens0, loss_value = time.perf_counter(), tokens_seen, float("nan")
    watch = NonFiniteWatch(s.device, run_id, s.ckpt_dir)  # no host read per step: see the class
    while step < s.total_steps:
        epoch, chunk = _batch_indices(step, len(s.examples), s.batches_per_epoch, opts, lengths)
        batch = s.fmt.collate([s.examples[i] for i in chunk], s.tokenizer.pad_token_id, s.device)
        loss = loss_of_batch(s.method, s.fmt, batch, opts, s.device)
        watch.note(step, loss)
        update(loss, s.optimizer, s.params, opts.grad_clip)
        s.scheduler.step()
        step += 1
        tokens_seen += sum(lengths[i] for i in chunk)
        progress.update(1)
        if is_log_step(s, step):
            loss_value = log_loss(s, step, loss, history, watch)
            progress.set_postfix(loss=f"{loss_value:.3f}")
            job_log.update(step, epoch=f"{epoch + 1}/{math.ceil(s.total_steps / s.batches_per_epoch)}",
                           loss=f"{loss_value:.4f}", lr=f"{history[-1]['lr']:.2e}",
                           tokens_per_s=f"{(tokens_seen - tokens0) / (time.perf_counter() - t0):.0f}")
        if is_checkpoint_step(s, step) and step < s.total_steps:
            watch.check()  # never save weights that a non-finite loss has touched
            save_checkpoint(s, step, history, tokens_seen)
        if after_step is not None:
            after_step(step)
    progress.close()
    return training_figures(s, step, loss_value, history, state["resumed_from"], tokens_seen, tokens0,
                            time.perf_counter() - t0)


def is_log_step(s: Session, step: int) -> bool:
    """Whether the run logs its loss after `step`: every `log_every` steps and at its last."""
    return step % s.spec.train.log_every == 0 or step == s.total_steps


def is_checkpoint_step(s: Session, step: int) -> bool:
    """Whether `step` falls on the run's `checkpoint_every` interval (0: never)."""
    every = s.spec.train.checkpoint_every
    return bool(every) and step % every == 0


def log_loss(s: Session, step: int, loss: torch.Tensor, history: list[dict], watch: NonFiniteWatch) -> float:
    """Read the loss of a log step (the loop's only host read) into `history`; a non-finite loss
    noted since the last check fails the run here."""
    watch.check()
    value = loss.item()
    history.append({"step": step, "loss": value, "lr": s.scheduler.get_last_lr()[0]})
    return value


def training_figures(s: Session, step: int, final_loss: float, history: list[dict], resumed_from: int | None,
                     tokens_seen: int, tokens0: int, seconds: float) -> dict:
    """run.json's `training` block: where the run ended and its throughput over `seconds`."""
    return {"steps": step, "examples": len(s.examples), "final_loss": final_loss, "history": history,
            "resumed_from_step": resumed_from, "tokens_seen": tokens_seen,
            "tokens_per_s": (tokens_seen - tokens0) / seconds if seconds > 0 else None}


def _train_run(spec: RunSpec, data_dir: Path, out_dir: Path, dev: bool,
               after_step: Callable[[int], None] | None) -> dict:
    started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    s = _start(spec, read_pairs(data_dir / "train.jsonl"), out_dir)
    state = _resume(s)
    training = _train_steps(s, state, after_step)
    record = finish_run(s, training, data_dir, out_dir, dev, started, t0)
    checkpoint.remove(s.ckpt_dir)  # the final outputs are complete: the resume state is spent
    return record


def finish_run(s: Session, training: dict, data_dir: Path, out_dir: Path, dev: bool, started: dt.datetime,
               t0: float, extra: dict | None = None) -> dict:
    """The run record (spec, parameters, training, provenance, dev loss, cost, plus `extra`) and the
    outputs, each written whole or not at all; returns the record."""
    spec = s.spec
    record = {
        "spec": spec.training_dict(),  # decoding settings belong to the predictions (generate stage)
        "config_hash": spec.config_hash(),
        "parameters": s.method.parameter_counts(),
        "initialization": s.setup["initialization"],
        "training": training,
        "model": model_provenance(spec.model_path),
        "data": {"train_sha256": sha256_file(data_dir / "train.jsonl")},
        "environment": environment(),
        "device": str(s.device),
        "precision": s.setup["precision"],
        # what ran, not only what was asked: an encoder-decoder's logits all align with labels,
        # so it always uses the whole head (train.target_only_head applies to decoder-only LMs)
        "lm_head": "target positions" if spec.train.target_only_head and s.fmt.shift_labels else "every position",
        **(extra or {}),
    }
    if dev:
        _add_dev_loss(record, data_dir / "dev.jsonl", s.method, s.fmt, s.tokenizer, spec, s.device)
    record["cost"] = {
        "wall_seconds": time.perf_counter() - t0,
        "peak_memory_mb": peak_memory_mb(s.device),
        "kept_freed_memory": s.setup["kept_freed_memory"],  # train.keep_freed_memory took effect (glibc)
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    _write_outputs(out_dir, s.method, spec, record)
    return record


def _add_dev_loss(record: dict, dev_path: Path, method: Method, fmt: TextFormat, tokenizer, spec: RunSpec,
                  device: torch.device) -> None:
    """The held-out loss (early stopping in the low-data grids reads it), or None without a dev split."""
    dev_rows = read_jsonl(dev_path) if dev_path.is_file() else []
    if not dev_rows:
        log.warning("%s: no dev pairs (the dev split was not prepared): no dev loss for %s", dev_path, spec.run_id)
        record["training"]["dev_loss"] = None
        return
    dev_examples = encode_split(dev_rows, tokenizer, spec, fmt, method)
    record["training"]["dev_loss"] = evaluate_loss(method, fmt, dev_examples, spec.train.batch_size,
                                                   tokenizer.pad_token_id, device)
    record["data"]["dev_sha256"] = sha256_file(dev_path)


def _write_outputs(out_dir: Path, method: Method, spec: RunSpec, record: dict) -> None:
    """trained.safetensors (the trained tensors only), then run.json: each written whole or not at all."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "trained.safetensors") as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in method.trainable_state_dict().items()}
        # One metadata key: safetensors writes a multi-key map in arbitrary order, and the file's
        # bytes (hashed into the provenance of everything downstream) must be reproducible.
        meta = json.dumps({"method": spec.method, "model": spec.model, "config_hash": record["config_hash"]},
                          sort_keys=True)
        save_file(state, str(tmp), metadata={"prefix_bench": meta})
    write_json(out_dir / "run.json", record)


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
