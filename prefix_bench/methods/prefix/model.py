"""Prefix-tuning for decoder-only language models (Li & Liang 2021, section 4).

A frozen LM is steered by L trainable key/value vectors per layer. Following the paper's code,
the prefix is reparametrized: constant ids 0..L-1 -> Embedding(L, d) -> Linear(d, mid) -> Tanh ->
Linear(mid, n_layer * 2 * kv_dim), reshaped to per-layer K and V of shape [1, kv_heads, L, head_dim].
The prefix does not depend on the batch, so it is computed once per step and broadcast.
The K/V reach the attention through `methods.attention` (no KV-cache tricks), so any HF causal LM
on the standard attention interface works, GQA (Llama: kv_heads < heads) included.

After training, `eject()` drops the MLP and keeps only the stored table [L, n_layer * 2 * kv_dim]
(section 4.3: "we only need the prefix parameters"); `export.py` writes it as safetensors or PEFT.
Subclasses (ablations, section 7.2) change only where the K/V come from (`compute_kv`) or who sees
them (`visible_from`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from ...errors import PrefixBenchError
from ..attention import active_prefixes, suspended, use_prefix_attention
from ..base import Method
from .config import DEFAULT_LENGTH, PrefixConfig
from .init import fit_prefix, init_word_ids, lm_kv


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

    def __init__(self, length: int, mid_dim: int, reparametrize: bool, dropout: float,
                 n_layer: int, kv_heads: int, head_dim: int, hidden: int):
        super().__init__()
        self.shape = (length, n_layer, 2, kv_heads, head_dim)
        out_dim = n_layer * 2 * kv_heads * head_dim
        if reparametrize:
            self.embedding = nn.Embedding(length, hidden)
            self.mlp = nn.Sequential(nn.Linear(hidden, mid_dim), nn.Tanh(), nn.Linear(mid_dim, out_dim))
            self.table = None
        else:
            self.table = nn.Parameter(torch.randn(length, out_dim) * 0.02)
        self.dropout = nn.Dropout(dropout)

    @classmethod
    def from_config(cls, config, length: int, lm_config) -> "PrefixEncoder":
        return cls(length, config.mid_dim, config.reparametrize, config.dropout, *kv_geometry(lm_config))

    def flat(self) -> torch.Tensor:
        """The prefix as the stored table [L, n_layer * 2 * kv_heads * head_dim] (PEFT's layout)."""
        if self.table is not None:
            return self.table
        return self.mlp(self.embedding.weight)

    def forward(self) -> torch.Tensor:
        kv = self.dropout(self.flat()).view(self.shape)  # [L, n_layer, 2, kv_heads, head_dim]
        return kv.permute(1, 2, 3, 0, 4)  # [n_layer, 2, kv_heads, L, head_dim]

    @torch.no_grad()
    def eject(self) -> None:
        """Replace Embedding + MLP by the table they produce (a no-op for a flat table)."""
        if self.table is not None:
            return
        table = self.flat().detach().clone()
        del self.embedding, self.mlp
        self.table = nn.Parameter(table)


class PrefixTuning(Method):
    name = "prefix"

    def __init__(self, lm: nn.Module, config: PrefixConfig) -> None:
        super().__init__(lm, config)
        self.objective = config.objective
        lm.requires_grad_(False)
        use_prefix_attention(lm)
        # Plain list: the attention modules belong to the LM, not to our trainable state.
        self._attention = self_attention_modules(lm)
        self.prefix: nn.Module | None = None
        self.prefix_length = 0
        self._generation_kv: torch.Tensor | None = None  # the ejected prefix while generating()
        if config.init == "random" or config.length is not None:
            self._build_prefix(config.length or DEFAULT_LENGTH)
        # else: init words without an explicit length: L is their token count, known only once
        # `initialize(tokenizer)` runs.

    def _build_prefix(self, length: int) -> None:
        self.prefix = PrefixEncoder.from_config(self.config, length, self.lm.config)
        device = next(self.lm.parameters()).device
        if device.type != "meta":
            self.prefix.to(device)
        self.prefix_length = length

    # --- tokenizer-dependent set-up (paper section 7.4) ---------------------------------------
    def initialize(self, tokenizer, fit: bool = True) -> dict:
        """Resolve the prefix length from the init words and, if `fit`, fit the prefix to them."""
        if self.config.init != "words":
            return {}
        ids = init_word_ids(tokenizer, self.config)
        if self.prefix is None:
            self._build_prefix(len(ids))
        if not fit:
            return {"init_tokens": len(ids)}
        mse = self._fit_words(ids)
        return {"init_tokens": len(ids), "init_mse": mse}

    def _fit_words(self, ids: list[int]) -> float:
        return fit_prefix(self.prefix, lm_kv(self.lm, ids), self.config.init_steps, self.config.init_lr,
                          self.config.init_fit_embedding)

    def _require_prefix(self) -> nn.Module:
        if self.prefix is None:
            raise PrefixBenchError(
                "prefix length comes from init_words: call method.initialize(tokenizer) before use"
            )
        return self.prefix

    # --- forward / generation -------------------------------------------------------------

    def compute_kv(self) -> torch.Tensor:
        """Prefix K/V for every layer: [n_layer, 2, kv_heads, L, head_dim]."""
        return self._require_prefix()()

    def position_ids(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """Positions of real tokens (left or right padding), shifted by L when offset is on."""
        pos = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        return pos + self.prefix_length if self.config.position_offset else pos

    def _kv_by_module(self, kv: torch.Tensor, visible_from: torch.Tensor | None = None) -> dict:
        # kv: [n_layer, 2, kv_heads, L, head_dim] -> per module ([1, h, L, d], [1, h, L, d], vis)
        return {
            m: (kv[i, 0].unsqueeze(0), kv[i, 1].unsqueeze(0), visible_from)
            for i, m in enumerate(self._attention)
        }

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        kv = self.compute_kv()  # once per step, shared by the whole batch
        with active_prefixes(self._kv_by_module(kv)):
            return self.lm(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=self.position_ids(attention_mask),
            ).logits

    def generation_kwargs(self, attention_mask: torch.Tensor, input_ids: torch.Tensor | None = None) -> dict:
        # generate() expands these over beams and increments them per new token.
        return {"position_ids": self.position_ids(attention_mask)}

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        # Eject once: the prefix is a constant at inference, no MLP per decoding step.
        with torch.no_grad():
            self._generation_kv = self.compute_kv().detach()
        try:
            with active_prefixes(self._kv_by_module(self._generation_kv)):
                yield
        finally:
            self._generation_kv = None

    @contextlib.contextmanager
    def prefix_in_cache(self) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]] | None]:
        kv = self._generation_kv
        if kv is None:
            raise RuntimeError("prefix_in_cache() needs generating()")
        with suspended(self._attention):
            yield [(kv[i, 0].unsqueeze(0), kv[i, 1].unsqueeze(0)) for i in range(kv.shape[0])]

    # --- what is stored ----------------------------------------------------------------------
    exports = ("peft",)

    def export_peft(self, out_dir: Path, base_model: str) -> None:
        from .export import export_peft

        export_peft(self, out_dir, base_model)

    def eject(self) -> None:
        """Drop the reparametrization: only the table [L, n_layer*2*kv_dim] remains trainable/stored."""
        self._require_prefix().eject()

    def parameter_counts(self) -> dict[str, int]:
        counts = super().parameter_counts()
        counts["stored"] = int(torch.Size(self._require_prefix().shape).numel())  # the ejected table
        return counts
