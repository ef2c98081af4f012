"""One training step, as every loop in the package runs it: the loss of a batch (under the run's
precision, with the target-only LM head), the update (backward, clipping, AdamW), the schedule,
and the held-out loss.

The trainer (`train.py`), the CPU bench and the GPU check all call these, so a change here reaches
each of them.
"""

from __future__ import annotations

import contextlib

import torch

from . import precision
from .config import TrainOptions
from .errors import PrefixBenchError
from .methods import Method
from .models.formatting import IGNORE, Encoded, TextFormat, target_positions
from .models.speedups import HEAD_CHUNK_CPU, chunked_linear


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
    with training_forward(method.lm, fmt, batch, opts, device):
        logits = fmt.forward(method, batch)
    return sequence_loss(logits, batch["labels"], method.objective, fmt.shift_labels, batch.get("target_index"))


@contextlib.contextmanager
def training_forward(lm: torch.nn.Module, fmt: TextFormat, batch: dict, opts: TrainOptions, device: torch.device):
    """What a training forward of `lm` runs under: the training precision and, when on, the
    target-only LM head (decoder-only sequences carry source positions that need no logits).
    One run's loss (`loss_of_batch`) and a pack's (`train_packed`) both use it."""
    heads = (lm_head_at_targets(lm, batch["labels"], head_chunk(device), batch.get("target_index"))
             if opts.target_only_head and fmt.shift_labels else contextlib.nullcontext())
    with precision.autocast(device, opts.precision), heads:
        yield


def update(loss: torch.Tensor, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter],
           grad_clip: float) -> None:
    """Backward, gradient clipping (paper: max norm 1.0) and one optimizer step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
