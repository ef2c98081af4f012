"""Prefix key/values injected at the attention function, the route that survives transformers 5.

transformers 5 removed legacy cache tuples, and passing a prefix through the KV cache breaks on
padded sources, beam search and BART's cross-attention. Instead we
register our own attention implementation: it looks up the prefix K/V of the calling attention
module, concatenates them in front of that module's own keys/values and widens the mask so every
query may attend to every prefix slot. Everything else is transformers' own SDPA path, so causal
masking, padding, GQA head repetition and generation caches behave exactly as upstream.

The numerical guard against upstream changes is `tests/test_prefix_equivalence.py`: a prefix
equal to the real K/V of tokens X must reproduce feeding X as text.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Iterator

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTENTION_NAME = "prefix_sdpa"

# attention module -> (key, value) or (key, value, visible_from):
#   key, value    [batch or 1, kv_heads, L, head_dim]
#   visible_from  [batch or 1] long: index (in the padded sequence, cache included) of the first query
#                 that may see the prefix. Absent = every query sees it (prefix-tuning). The infix
#                 ablation (paper section 7.2) uses it so that source tokens never see the infix.
_ACTIVE: "weakref.WeakKeyDictionary[nn.Module, tuple[torch.Tensor, ...]]" = weakref.WeakKeyDictionary()


def _prefix_visibility(
    visible_from: torch.Tensor, batch: int, q_len: int, kv_len: int, prefix_len: int
) -> torch.Tensor:
    """Bool [batch, 1, q_len, L]: True where query i (absolute index kv_len - q_len + i) sees the prefix."""
    q_abs = torch.arange(q_len, device=visible_from.device) + (kv_len - q_len)  # [q]
    sees = q_abs[None, :] >= _match_batch(visible_from[:, None, None, None], batch)[:, 0, 0]  # [B, q]
    return sees[:, None, :, None].expand(batch, 1, q_len, prefix_len)


def _widen_mask(
    mask: torch.Tensor | None,
    query: torch.Tensor,
    kv_len: int,
    prefix_len: int,
    causal: bool,
    visibility: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """Return a mask over [prefix; keys]; the prefix is visible to every query unless `visibility`
    ([B, 1, q, L] bool) says otherwise."""
    q_len = query.shape[2]
    if mask is None:
        if visibility is None and (not causal or q_len == 1):
            return None  # everything visible, prefix included
        # Explicit mask, aligned to the end (queries are the last q_len keys).
        q_pos = torch.arange(q_len, device=query.device) + (kv_len - q_len)
        keys = torch.arange(kv_len, device=query.device)[None, :]
        mask = (keys <= q_pos[:, None]) if causal else torch.ones(q_len, kv_len, dtype=torch.bool,
                                                                   device=query.device)
        mask = mask[None, None]
    if visibility is None:
        visible = torch.ones((*mask.shape[:-1], prefix_len), dtype=torch.bool, device=mask.device)
    else:
        visible = visibility
        mask = mask.expand(visible.shape[0], *mask.shape[1:])
    if mask.dtype != torch.bool:  # additive float mask: 0 means visible
        visible = torch.zeros_like(visible, dtype=mask.dtype).masked_fill(
            ~visible, torch.finfo(mask.dtype).min
        )
    return torch.cat([visible.expand(*mask.shape[:-1], prefix_len), mask], dim=-1)


def _match_batch(t: torch.Tensor, batch: int) -> torch.Tensor:
    """Expand a prefix [1 or b, h, L, d] to `batch` rows (beam search runs b * num_beams rows)."""
    if t.shape[0] == batch:
        return t
    if t.shape[0] == 1:
        return t.expand(batch, -1, -1, -1)
    if batch % t.shape[0] == 0:
        return t.repeat_interleave(batch // t.shape[0], dim=0)
    raise RuntimeError(f"prefix batch {t.shape[0]} does not divide attention batch {batch}")


def prefix_sdpa_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """SDPA attention with this module's prefix K/V (if any) in front of its keys/values."""
    prefix = _ACTIVE.get(module)
    if prefix is not None:
        prefix_key, prefix_value = prefix[:2]
        batch = key.shape[0]
        prefix_len = prefix_key.shape[2]
        causal = kwargs.get("is_causal")
        causal = getattr(module, "is_causal", True) if causal is None else causal
        visibility = None
        if len(prefix) > 2 and prefix[2] is not None:
            visibility = _prefix_visibility(prefix[2], batch, query.shape[2], key.shape[2], prefix_len)
        attention_mask = _widen_mask(attention_mask, query, key.shape[2], prefix_len, causal, visibility)
        key = torch.cat([_match_batch(prefix_key, batch).to(key.dtype), key], dim=2)
        value = torch.cat([_match_batch(prefix_value, batch).to(value.dtype), value], dim=2)
        kwargs["is_causal"] = False  # the widened mask carries causality now
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def register() -> str:
    """Register the attention function and its mask builder (idempotent); return its name."""
    AttentionInterface.register(ATTENTION_NAME, prefix_sdpa_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)
    return ATTENTION_NAME


def use_prefix_attention(model: nn.Module) -> None:
    """Switch a Hugging Face model to the prefix-aware attention implementation."""
    register()
    model.set_attn_implementation(ATTENTION_NAME)


@contextlib.contextmanager
def active_prefixes(
    kv_by_module: dict[nn.Module, tuple[torch.Tensor, ...]],
) -> Iterator[None]:
    """Make the given prefix K/V visible to their attention modules for the duration of a call."""
    _ACTIVE.update(kv_by_module)
    try:
        yield
    finally:
        for module in kv_by_module:
            _ACTIVE.pop(module, None)


@contextlib.contextmanager
def suspended(modules: list[nn.Module]) -> Iterator[None]:
    """Hide these modules' prefixes from the attention for a while (a decoder that holds the prefix
    in its KV cache instead, `decoding.beam_search(prefix_kv=...)`), then restore them."""
    held = {m: _ACTIVE.pop(m) for m in modules if m in _ACTIVE}
    try:
        yield
    finally:
        _ACTIVE.update(held)


def replace_active(kv_by_module: dict[nn.Module, tuple[torch.Tensor, ...]]) -> None:
    """Swap the prefix entries of modules already inside `active_prefixes` (e.g. a new batch's
    visibility during generation); the enclosing context still removes them on exit."""
    missing = [m for m in kv_by_module if m not in _ACTIVE]
    if missing:
        raise RuntimeError("replace_active: module has no active prefix (call inside active_prefixes)")
    _ACTIVE.update(kv_by_module)
