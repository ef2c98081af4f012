"""EMB-k: only the virtual tokens' input embeddings are free (Li & Liang 2021, section 7.2).

The paper's ablation prepends k trainable embeddings to the input (`inputs_embeds`) and lets the
frozen LM compute their activations in every layer. In a causal LM those k leading positions see
only each other, so their per-layer K/V do not depend on the real tokens: running the frozen LM
once on the k embeddings (positions 0..k-1) and injecting the resulting K/V as a prefix is exactly
the same computation, with real tokens at positions k.. . That reuses the prefix attention route,
so `generate` (beam search, padding) needs nothing new. Gradients reach the embeddings through
the frozen LM. tests/test_methods_ablations.py checks the equality against `inputs_embeds`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..activations import layer_kv
from ..base import Method
from ..prefix.model import PrefixTuning


class VirtualEmbeddings(nn.Module):
    """k input embeddings [k, d]: free (random init like GPT-2's token embeddings, std 0.02), or
    the output of a reparametrization MLP over k free vectors (the paper code's default)."""

    def __init__(self, length: int, hidden: int, mid_dim: int | None = None) -> None:
        super().__init__()
        if mid_dim is None:
            self.table = nn.Parameter(torch.randn(length, hidden) * 0.02)
            self.embedding = self.mlp = None
        else:
            self.table = None
            self.embedding = nn.Embedding(length, hidden)
            self.mlp = nn.Sequential(nn.Linear(hidden, mid_dim), nn.Tanh(), nn.Linear(mid_dim, hidden))

    @property
    def weight(self) -> torch.Tensor:
        return self.table if self.table is not None else self.mlp(self.embedding.weight)

    @torch.no_grad()
    def eject(self) -> None:
        """Keep only the k embeddings the MLP produces (a no-op for free embeddings)."""
        if self.table is None:
            table = self.weight.detach().clone()
            del self.embedding, self.mlp
            self.embedding = self.mlp = None
            self.table = nn.Parameter(table)


class PrefixEmbedding(PrefixTuning):
    name = "prefix_emb"
    exports = ()  # no PEFT method computes these K/V

    def _build_prefix(self, length: int) -> None:
        mid = self.config.mid_dim if self.config.parametrize == "mlp" else None
        self.prefix = VirtualEmbeddings(length, self.lm.config.hidden_size, mid)
        device = next(self.lm.parameters()).device
        if device.type != "meta":
            self.prefix.to(device)
        self.prefix_length = length

    def _fit_words(self, ids: list[int]) -> float:
        # The words' own input embeddings: exact, no fitting needed.
        with torch.no_grad():
            table = self.lm.get_input_embeddings().weight
            self.prefix.table.copy_(table[torch.tensor(ids, device=table.device)])
        return 0.0

    def compute_kv(self) -> torch.Tensor:
        emb = self._require_prefix().weight[None]  # [1, k, d]
        ones = torch.ones(emb.shape[:2], dtype=torch.long, device=emb.device)
        return layer_kv(self.lm, ones, inputs_embeds=emb)[:, :, 0]  # [n_layer, 2, kv_heads, k, head_dim]

    def eject(self) -> None:
        """Drop the MLP (if any): only the k x d embeddings remain."""
        self._require_prefix().eject()

    def parameter_counts(self) -> dict[str, int]:
        counts = Method.parameter_counts(self)
        counts["stored"] = self.prefix_length * self.lm.config.hidden_size  # the k embeddings after ejecting
        return counts
