"""The frozen LM's own per-layer keys/values of a sequence, the raw material of several methods.

Real-word initialisation (section 7.4) fits a prefix to them, EMB-k injects the K/V its virtual
embeddings produce, INFIX-k those of its embeddings placed after the source. All three need the
K/V exactly as the LM's cache stores them (after RoPE for Llama-style models, so positions are
baked in) and none of them needs logits, so the LM runs without its head: cheaper, and untouched
by the training loop's target-only head (`train.lm_head_at_targets`), which expects the batch's
shape, not this sequence's.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import DynamicCache


def layer_kv(lm: nn.Module, attention_mask: torch.Tensor, *, input_ids: torch.Tensor | None = None,
             inputs_embeds: torch.Tensor | None = None,
             position_ids: torch.Tensor | None = None) -> torch.Tensor:
    """K/V of every layer for a batch [B, T]: [n_layer, 2, B, kv_heads, T, head_dim].

    Gradients flow to `inputs_embeds` (the LM's own weights are frozen by the caller)."""
    cache = DynamicCache()
    lm.base_model(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                  position_ids=position_ids, cache=cache, use_cache=True)
    return torch.stack([torch.stack([layer.keys, layer.values]) for layer in cache.layers])
