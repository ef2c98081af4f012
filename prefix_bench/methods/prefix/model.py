"""Prefix-tuning for decoder-only language models (Li & Liang 2021, section 4).

A frozen LM is steered by L trainable key/value vectors per layer. Following the paper's code,
the prefix is reparametrized: constant ids 0..L-1 -> Embedding(L, d) -> Linear(d, mid) -> Tanh ->
Linear(mid, n_layer * 2 * kv_dim), reshaped to per-layer K and V of shape [1, kv_heads, L, head_dim].
The prefix does not depend on the batch, so it is computed once per step and broadcast.
The K/V reach the attention through `methods.attention` (no KV-cache tricks).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from ..attention import active_prefixes, use_prefix_attention
from ..base import Method
from .config import PrefixConfig


def self_attention_modules(lm: nn.Module) -> list[nn.Module]:
    """The per-layer self-attention modules of a decoder-only HF model, in layer order."""
    found = [
        m
        for m in lm.modules()
        if isinstance(getattr(m, "layer_idx", None), int)
        and not getattr(m, "is_cross_attention", False)
        and hasattr(m, "scaling")
    ]
    found.sort(key=lambda m: m.layer_idx)
    n_layer = lm.config.num_hidden_layers
    if len(found) != n_layer or [m.layer_idx for m in found] != list(range(n_layer)):
        raise ValueError(
            f"found {len(found)} attention modules for {n_layer} layers in "
            f"{type(lm).__name__}; prefix-tuning needs one self-attention per layer"
        )
    return found


def kv_geometry(config) -> tuple[int, int, int, int]:
    """(n_layer, kv_heads, head_dim, hidden) of an HF decoder config; handles GQA."""
    n_layer = config.num_hidden_layers
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return n_layer, kv_heads, head_dim, config.hidden_size


class PrefixEncoder(nn.Module):
    """Produces the prefix K/V table [n_layer, 2, kv_heads, L, head_dim] from trainable parameters."""

    def __init__(self, config: PrefixConfig, n_layer: int, kv_heads: int, head_dim: int, hidden: int):
        super().__init__()
        self.shape = (config.length, n_layer, 2, kv_heads, head_dim)
        out_dim = n_layer * 2 * kv_heads * head_dim
        if config.reparametrize:
            self.embedding = nn.Embedding(config.length, hidden)
            self.mlp = nn.Sequential(
                nn.Linear(hidden, config.mid_dim), nn.Tanh(), nn.Linear(config.mid_dim, out_dim)
            )
        else:
            self.table = nn.Parameter(torch.randn(config.length, out_dim) * 0.02)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self) -> torch.Tensor:
        if hasattr(self, "table"):
            flat = self.table
        else:
            flat = self.mlp(self.embedding.weight)  # [L, n_layer * 2 * kv_dim]
        kv = self.dropout(flat).view(self.shape)  # [L, n_layer, 2, kv_heads, head_dim]
        return kv.permute(1, 2, 3, 0, 4)  # [n_layer, 2, kv_heads, L, head_dim]


class PrefixTuning(Method):
    name = "prefix"

    def __init__(self, lm: nn.Module, config: PrefixConfig) -> None:
        super().__init__(lm, config)
        self.objective = config.objective
        lm.requires_grad_(False)
        use_prefix_attention(lm)
        # Plain list: the attention modules belong to the LM, not to our trainable state.
        self._attention = self_attention_modules(lm)
        self.prefix = PrefixEncoder(config, *kv_geometry(lm.config))
        self.prefix_length = config.length

    def train(self, mode: bool = True) -> "PrefixTuning":
        super().train(mode)
        if not self.config.lm_dropout:
            self.lm.eval()  # paper code: the frozen LM never drops out
        return self

    def position_ids(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """Positions of real tokens (left or right padding), shifted by L when offset is on."""
        pos = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        return pos + self.prefix_length if self.config.position_offset else pos

    def _kv_by_module(self, kv: torch.Tensor) -> dict[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
        # kv: [n_layer, 2, kv_heads, L, head_dim] -> per module ([1, h, L, d], [1, h, L, d])
        return {m: (kv[i, 0].unsqueeze(0), kv[i, 1].unsqueeze(0)) for i, m in enumerate(self._attention)}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        kv = self.prefix()  # once per step, shared by the whole batch
        with active_prefixes(self._kv_by_module(kv)):
            return self.lm(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=self.position_ids(attention_mask),
            ).logits

    def generation_kwargs(self, attention_mask: torch.Tensor) -> dict:
        # generate() expands these over beams and increments them per new token.
        return {"position_ids": self.position_ids(attention_mask)}

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        # Eject once: the prefix is a constant at inference, no MLP per decoding step.
        with torch.no_grad():
            kv = self.prefix().detach()
        with active_prefixes(self._kv_by_module(kv)):
            yield

    def parameter_counts(self) -> dict[str, int]:
        counts = super().parameter_counts()
        counts["stored"] = int(torch.Size(self.prefix.shape).numel())  # the ejected table
        return counts
