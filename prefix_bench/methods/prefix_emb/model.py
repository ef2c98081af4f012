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

from ..base import Method
from ..prefix.model import PrefixTuning


class VirtualEmbeddings(nn.Module):
    """k free input embeddings [k, d] (random init like GPT-2's token embeddings, std 0.02)."""

    def __init__(self, length: int, hidden: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(length, hidden) * 0.02)


class PrefixEmbedding(PrefixTuning):
    name = "prefix_emb"

    def _build_prefix(self, length: int) -> None:
        self.prefix = VirtualEmbeddings(length, self.lm.config.hidden_size)
        device = next(self.lm.parameters()).device
        if device.type != "meta":
            self.prefix.to(device)
        self.prefix_length = length

    def _fit_words(self, ids: list[int]) -> float:
        # The words' own input embeddings: exact, no fitting needed.
        with torch.no_grad():
            table = self.lm.get_input_embeddings().weight
            self.prefix.weight.copy_(table[torch.tensor(ids, device=table.device)])
        return 0.0

    def compute_kv(self) -> torch.Tensor:
        emb = self._require_prefix().weight[None]  # [1, k, d]
        ones = torch.ones(emb.shape[:2], dtype=torch.long, device=emb.device)
        cache = self.lm(inputs_embeds=emb, attention_mask=ones, use_cache=True).cache
        layers = [torch.stack([layer.keys[0], layer.values[0]]) for layer in cache.layers]
        return torch.stack(layers)  # [n_layer, 2, kv_heads, k, head_dim]

    def eject(self) -> None:
        raise NotImplementedError("EMB-k stores its k embeddings; there is no MLP to eject")

    def parameter_counts(self) -> dict[str, int]:
        self._require_prefix()
        return Method.parameter_counts(self)  # stored = the k x d embeddings themselves
