"""Several prefix-tuning runs trained over one frozen LM in one forward pass ("packing").

The LM is frozen and shared, so K runs that differ only in what trains (seeds, data subsets) can
put their batches side by side: each row of the packed batch carries its own run's prefix (the
attention route takes a prefix per row), and the runs' parameters are disjoint, so the gradient
each prefix receives from the summed loss is exactly the gradient of its own run's loss. Each run
keeps its own learning-rate schedule (one optimizer parameter group per run) and its own gradient
clipping; AdamW is elementwise, so one optimizer over all runs updates each run as its own would.

Decoding packs the same way (`generating` / `prefix_rows`): the runs' test sets share batches,
each row's prefix taken from its own run.

Packing needs equal prefix shapes (same model, length and reparametrisation); different prefix
lengths cannot share one K/V tensor. `tests/test_methods_packed.py` checks packed == separate.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from ...errors import PrefixBenchError
from ...models.formatting import IGNORE
from ..attention import active_prefixes
from .model import PrefixTuning


class PackedPrefixes(nn.Module):
    """K `PrefixTuning` runs on one LM; `forward` takes the runs' batches concatenated in order."""

    def __init__(self, runs: list[PrefixTuning]) -> None:
        super().__init__()
        if not runs:
            raise PrefixBenchError("packing needs at least one prefix-tuning run")
        lm = runs[0].lm
        shapes = {tuple(r._require_prefix().shape) for r in runs}
        if any(r.lm is not lm for r in runs) or len(shapes) != 1:
            raise PrefixBenchError("packed runs must share one LM and one prefix shape "
                                   "(same model, prefix length and reparametrisation)")
        if len({r.config.position_offset for r in runs}) != 1:
            raise PrefixBenchError("packed runs must agree on position_offset (their rows share position ids)")
        self.runs = nn.ModuleList(runs)
        self.objective = runs[0].objective
        self.name, self.per_source_state = runs[0].name, runs[0].per_source_state  # as a decoder
        self._generation_kv: torch.Tensor | None = None  # every run's ejected prefix while generating()

    @property
    def lm(self) -> nn.Module:
        return self.runs[0].lm

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                rows_per_run: list[int]) -> torch.Tensor:
        """Logits of the packed batch; rows [sum(rows_per_run[:k]), ...) belong to run k."""
        if sum(rows_per_run) != input_ids.shape[0] or len(rows_per_run) != len(self.runs):
            raise PrefixBenchError(f"packed batch of {input_ids.shape[0]} rows does not match "
                                   f"rows per run {rows_per_run}")
        kv = torch.stack([run.compute_kv() for run in self.runs])  # [K, n_layer, 2, h, L, d]
        repeats = torch.tensor(rows_per_run, device=kv.device)
        kv = kv.repeat_interleave(repeats, dim=0, output_size=input_ids.shape[0])  # [rows, n_layer, ...]
        first = self.runs[0]
        by_module = {m: (kv[:, i, 0], kv[:, i, 1], None) for i, m in enumerate(first._attention)}
        with active_prefixes(by_module):
            return self.lm(input_ids=input_ids, attention_mask=attention_mask,
                           position_ids=first.position_ids(attention_mask)).logits

    @property
    def run_count(self) -> int:
        return len(self.runs)

    def format_source(self, source: str) -> str:
        """How every run of the pack reads a source (prefix-tuning: as it is)."""
        return self.runs[0].format_source(source)

    def generation_kwargs(self, attention_mask: torch.Tensor, input_ids: torch.Tensor | None = None) -> dict:
        """Position ids of a pooled decoding batch (equal prefix lengths and offsets: any run's)."""
        return self.runs[0].generation_kwargs(attention_mask, input_ids)

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        """Eject every run's prefix once for a pooled decode; `prefix_rows` then picks them per row."""
        with torch.no_grad():
            self._generation_kv = torch.stack([run.compute_kv() for run in self.runs]).detach()
        try:
            yield
        finally:
            self._generation_kv = None

    def prefix_rows(self, run_of_row: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Inside `generating()`: per layer, K and V [rows, kv_heads, L, head_dim], each row holding
        its own run's prefix (`run_of_row`: the run index of every row of the batch)."""
        if self._generation_kv is None:
            raise RuntimeError("prefix_rows() needs generating()")
        kv = self._generation_kv
        return [(kv[:, i, 0][run_of_row], kv[:, i, 1][run_of_row]) for i in range(kv.shape[1])]

    @contextlib.contextmanager
    def prefix_in_cache(self, run_of_row: torch.Tensor) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
        """The rows' prefixes for a decoder that writes them once into its KV cache
        (`decoding.beam_search(prefix_kv=...)`); nothing is active in the attention route meanwhile."""
        yield self.prefix_rows(run_of_row)

    @contextlib.contextmanager
    def prefix_in_attention(self, run_of_row: torch.Tensor) -> Iterator[None]:
        """The rows' prefixes through the attention route (for `generate`, which has no cache slot
        for them); beams of a row share its prefix (the route repeats it over them)."""
        rows = self.prefix_rows(run_of_row)
        with active_prefixes({m: (k, v, None) for m, (k, v) in zip(self.runs[0]._attention, rows)}):
            yield

    def run_parameters(self) -> list[list[nn.Parameter]]:
        """Each run's trainable parameters (one optimizer group and one clipping norm per run)."""
        return [[p for p in run.parameters() if p.requires_grad] for run in self.runs]


def per_run_losses(logits: torch.Tensor, labels: torch.Tensor, rows_per_run: list[int],
                   objective: str) -> torch.Tensor:
    """Each run's own training loss [K] of a packed batch: the trainer's `sequence_loss` applied to
    each run's rows. `logits` is [rows, T, V], or [N, V] at the target positions only (computed
    under `train.lm_head_at_targets`, row-major like `labels[:, 1:][targets]`)."""
    targets = labels[:, 1:] != IGNORE
    run_of_row = torch.repeat_interleave(torch.arange(len(rows_per_run), device=labels.device),
                                         torch.tensor(rows_per_run, device=labels.device),
                                         output_size=labels.shape[0])
    if logits.dim() == 2:
        token = nn.functional.cross_entropy(logits.float(), labels[:, 1:][targets], reduction="none")
        run_of_token = run_of_row[:, None].expand_as(targets)[targets]
    else:
        token = nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                                            labels[:, 1:].reshape(-1), ignore_index=IGNORE, reduction="none")
        run_of_token = run_of_row[:, None].expand_as(targets).reshape(-1)
    sums = torch.zeros(len(rows_per_run), device=labels.device).index_add_(0, run_of_token, token)
    if objective == "sum":  # per-sequence sum averaged over the run's batch
        return sums / torch.tensor(rows_per_run, device=labels.device, dtype=sums.dtype)
    counts = torch.zeros_like(sums).index_add_(0, run_of_row, targets.sum(1).to(sums.dtype))
    return sums / counts.clamp(min=1)


def packed_update(losses: torch.Tensor, optimizer: torch.optim.Optimizer,
                  run_params: list[list[nn.Parameter]], grad_clip: float) -> None:
    """One step for every packed run: backward of the summed losses, clipping per run, update."""
    optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()
    if grad_clip > 0:
        for params in run_params:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
