"""INFIX-k: trainable activations between source and target (Li & Liang 2021, section 7.2).

The paper's sequence is [x; INFIX; y]. We count the separator EOS as the first token of the y
side (it is the position that predicts y_1), so the layout is

    x_1 .. x_m | INFIX_1 .. INFIX_k | <eos> y_1 .. y_n <eos>
    positions 0..m-1 | (m..m+k-1) | m+k ..            (with position_offset)

The infix K/V come from the same reparametrized encoder as the prefix. Keys are order-free inside
attention (positions are already baked into them), so the infix slots are concatenated in front of
the keys like a prefix, but a per-row mask hides them from every query before the separator:
source tokens never see the infix, the separator and the target always do. The separator is the
first unpadded occurrence of `separator_id` in each row. In generation the prompt is
` {x} <eos>` left-padded (formatting.encode_prompt), so the separator is each row's last token;
that is checked, and generation must run inside `generating()` (as generate.py and decoding.py do).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from ..attention import active_prefixes, replace_active
from ..prefix.model import PrefixTuning
from .config import InfixConfig


class InfixTuning(PrefixTuning):
    name = "infix"

    def __init__(self, lm: nn.Module, config: InfixConfig) -> None:
        super().__init__(lm, config)
        sep = config.separator_id if config.separator_id is not None else lm.config.eos_token_id
        self.separator_id = sep[0] if isinstance(sep, (list, tuple)) else sep
        self._generation_kv: torch.Tensor | None = None

    def boundary(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[B] index of each row's first unpadded separator (the row length if there is none)."""
        is_sep = (input_ids == self.separator_id) & attention_mask.bool()  # [B, T]
        width = input_ids.shape[1]
        index = torch.arange(width, device=input_ids.device).expand_as(is_sep)
        return torch.where(is_sep, index, width).min(dim=1).values

    def _positions(self, attention_mask: torch.Tensor, boundary: torch.Tensor) -> torch.Tensor:
        pos = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # [B, T]
        if not self.config.position_offset:
            return pos
        after = torch.arange(pos.shape[1], device=pos.device)[None, :] >= boundary[:, None]
        return pos + self.prefix_length * after.long()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        kv = self.compute_kv()
        boundary = self.boundary(input_ids, attention_mask)
        with active_prefixes(self._kv_by_module(kv, boundary)):
            return self.lm(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=self._positions(attention_mask, boundary),
            ).logits

    def generation_kwargs(self, attention_mask: torch.Tensor) -> dict:
        # Left-padded prompts ending with the separator: the boundary is the last index, the same
        # for every row, so one value [1] serves any batch (beams, rows dropped by our own beam
        # search in decoding.py).
        if not bool(attention_mask[:, -1].all()):
            raise ValueError("infix generation needs left-padded prompts ending with the separator")
        width = attention_mask.shape[1]
        boundary = torch.full((1,), width - 1, dtype=torch.long, device=attention_mask.device)
        if self._generation_kv is not None:
            replace_active(self._kv_by_module(self._generation_kv, boundary))
        return {"position_ids": self._positions(attention_mask, boundary.expand(attention_mask.shape[0]))}

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        with torch.no_grad():
            self._generation_kv = self.compute_kv().detach()
        # Hidden from everyone until generation_kwargs(mask) sets this batch's boundaries.
        never = torch.tensor([torch.iinfo(torch.long).max], device=self._generation_kv.device)
        try:
            with active_prefixes(self._kv_by_module(self._generation_kv, never)):
                yield
        finally:
            self._generation_kv = None
