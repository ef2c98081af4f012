"""Locating the transformer blocks and the final norm of a Hugging Face causal LM.

Shared by the baselines that act per block (FT-top2, adapters). Architecture-agnostic: the blocks
are the ModuleList of length `num_hidden_layers` inside the base model (GPT-2 `transformer.h`,
Llama `model.layers`); the final norm is the base model's direct child norm (`ln_f`, `norm`).
"""

from __future__ import annotations

from torch import nn


def transformer_blocks(lm: nn.Module) -> nn.ModuleList:
    n_layer = lm.config.num_hidden_layers
    lists = [m for m in lm.base_model.children() if isinstance(m, nn.ModuleList) and len(m) == n_layer]
    if len(lists) != 1:
        raise ValueError(f"cannot find the {n_layer} transformer blocks of {type(lm).__name__}")
    return lists[0]


def final_norm(lm: nn.Module) -> nn.Module:
    norms = [m for m in lm.base_model.children() if "norm" in type(m).__name__.lower()]
    if len(norms) != 1:
        raise ValueError(f"cannot find the final layer norm of {type(lm).__name__}")
    return norms[0]
