"""INFIX-k: trainable activations between source and target (Li & Liang 2021, section 7.2).

The paper's sequence is [x; INFIX; y]. Its code (`get_prompt_p5_infix`, `forward_infix` in
PrefixTuning's gpt2/train_control.py) builds the infix in two passes, and so do we:

1. The frozen LM reads the source followed by k trainable input embeddings (the code's `wte2`),
   the embeddings at positions m..m+k-1 after the m source tokens. Their per-layer K/V are the
   LM's own activations, so they depend on the source.
2. To those K/V a reparametrized table is added (Embedding(k, d) -> MLP -> per-layer K/V, the
   same encoder as the prefix, `self.prefix`). The target then runs after source and infix:
   the separator EOS and y see [x; INFIX]; the source never sees the infix.

Layout, counting the separator as the first token of the y side (it predicts y_1):

    x_1 .. x_m | INFIX_1 .. INFIX_k | <eos> y_1 .. y_n <eos>
    positions 0..m-1 | m..m+k-1 | m+k ..            (with position_offset)

Pass 2 runs the full row with the infix K/V handed to the attention as a per-row block in front of
the keys, hidden by a per-row mask from every query before the separator: keys are order-free
inside attention (positions are baked into them), so this equals the paper's
[src K/V; infix K/V] cache followed by y. The separator is the first unpadded `separator_id` of
each row. One deviation is named: positions count real tokens only; the paper's code gave the
infix and target positions after the batch's longest (right-padded) source, so its numbers
depended on which sources shared a batch. Without padding both agree (tests/test_methods_ablations.py
checks a hand-written two-pass reference of the paper's construction).

In decoding, prompts are ` {x} <eos>` left-padded (formatting.encode_prompt): the separator is each
row's last token, the source everything before it. `generation_kwargs(mask, input_ids)` runs pass
1 for the batch; decoding must run inside `generating()` and keep every row of the batch until it
ends (`per_source_state`), because the infix of a row cannot follow rows that leave the batch.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from ..activations import layer_kv
from ..attention import active_prefixes, replace_active
from ..prefix.model import PrefixTuning
from .config import InfixConfig


class InfixTuning(PrefixTuning):
    name = "infix"
    exports = ()  # no PEFT method computes these K/V
    per_source_state = True

    def __init__(self, lm: nn.Module, config: InfixConfig) -> None:
        super().__init__(lm, config)  # builds the prefix and the infix embeddings (_build_prefix)
        sep = config.separator_id if config.separator_id is not None else lm.config.eos_token_id
        self.separator_id = sep[0] if isinstance(sep, (list, tuple)) else sep
        self._generation_delta: torch.Tensor | None = None

    def _build_prefix(self, length: int) -> None:
        super()._build_prefix(length)  # the reparametrized K/V added to the LM's (paper: control_trans)
        device = next(self.lm.parameters()).device
        weight = torch.randn(length, self.lm.config.hidden_size) * self.config.embedding_init_std
        self.infix_embedding = nn.Parameter(weight.to(device) if device.type != "meta" else weight)

    # --- the two passes -------------------------------------------------------------------------
    def infix_kv(self, source_ids: torch.Tensor, source_mask: torch.Tensor,
                 delta: torch.Tensor) -> torch.Tensor:
        """Pass 1 for left-padded sources [B, S]: the LM's K/V of the infix embeddings read after
        each source, plus `delta` ([n_layer, 2, h, k, d]) -> [n_layer, 2, B, h, k, d]."""
        batch, width = source_ids.shape
        k = self.prefix_length
        embed = self.lm.get_input_embeddings()
        infix = self.infix_embedding.to(embed.weight.dtype)[None].expand(batch, -1, -1)
        inputs = torch.cat([embed(source_ids), infix], dim=1)
        mask = torch.cat([source_mask, source_mask.new_ones(batch, k)], dim=1)
        lengths = source_mask.long().sum(-1, keepdim=True)  # m per row
        positions = torch.cat([(source_mask.long().cumsum(-1) - 1).clamp(min=0),
                               lengths + torch.arange(k, device=lengths.device)], dim=1)
        kv = layer_kv(self.lm, mask, inputs_embeds=inputs, position_ids=positions)[..., width:, :]
        return kv + delta[:, :, None].to(kv.dtype)

    def boundary(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[B] index of each row's first unpadded separator (the row length if there is none)."""
        is_sep = (input_ids == self.separator_id) & attention_mask.bool()  # [B, T]
        width = input_ids.shape[1]
        index = torch.arange(width, device=input_ids.device).expand_as(is_sep)
        return torch.where(is_sep, index, width).min(dim=1).values

    @staticmethod
    def sources(input_ids: torch.Tensor, attention_mask: torch.Tensor,
                boundary: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The tokens before each row's separator, left-padded to the longest: (ids, mask) [B, S]."""
        width = int(boundary.max()) if boundary.numel() else 0  # one host read per step (ablation only)
        cols = boundary[:, None] - width + torch.arange(width, device=boundary.device)[None, :]
        valid = cols >= 0
        cols = cols.clamp(min=0)
        mask = attention_mask.gather(1, cols) * valid
        return input_ids.gather(1, cols) * mask, mask

    def _positions(self, attention_mask: torch.Tensor, boundary: torch.Tensor) -> torch.Tensor:
        pos = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # [B, T]
        if not self.config.position_offset:
            return pos
        after = torch.arange(pos.shape[1], device=pos.device)[None, :] >= boundary[:, None]
        return pos + self.prefix_length * after.long()

    def _per_row(self, kv: torch.Tensor, boundary: torch.Tensor) -> dict:
        # kv: [n_layer, 2, B, h, k, d] -> per module ([B, h, k, d], [B, h, k, d], boundary [B])
        return {m: (kv[i, 0], kv[i, 1], boundary) for i, m in enumerate(self._attention)}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        boundary = self.boundary(input_ids, attention_mask)
        source_ids, source_mask = self.sources(input_ids, attention_mask, boundary)
        kv = self.infix_kv(source_ids, source_mask, self.compute_kv())
        with active_prefixes(self._per_row(kv, boundary)):
            return self.lm(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=self._positions(attention_mask, boundary),
            ).logits

    # --- decoding -------------------------------------------------------------------------------
    def generation_kwargs(self, attention_mask: torch.Tensor, input_ids: torch.Tensor | None = None) -> dict:
        # Left-padded prompts ending with the separator: the source is everything before the last
        # column, the boundary is the last column for every row.
        if input_ids is None or self._generation_delta is None:
            raise RuntimeError("infix decoding needs generation_kwargs(mask, input_ids) inside generating()")
        if not bool(attention_mask[:, -1].all()) or not bool((input_ids[:, -1] == self.separator_id).all()):
            raise ValueError("infix generation needs left-padded prompts ending with the separator")
        width = attention_mask.shape[1]
        with torch.no_grad():
            kv = self.infix_kv(input_ids[:, :-1], attention_mask[:, :-1], self._generation_delta)
        boundary = torch.full((input_ids.shape[0],), width - 1, dtype=torch.long, device=attention_mask.device)
        replace_active(self._per_row(kv, boundary))
        return {"position_ids": self._positions(attention_mask, boundary)}

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        with torch.no_grad():
            self._generation_delta = self.compute_kv().detach()
        # Hidden from everyone until generation_kwargs(mask, ids) sets this batch's infix.
        never = torch.tensor([torch.iinfo(torch.long).max], device=self._generation_delta.device)
        placeholder = self._generation_delta[:, :, None]  # [n_layer, 2, 1, h, k, d]
        try:
            with active_prefixes(self._per_row(placeholder, never)):
                yield
        finally:
            self._generation_delta = None

    @contextlib.contextmanager
    def prefix_in_cache(self) -> Iterator[None]:
        yield None  # per source row and hidden from the source: not one shared prefix

    # --- what is stored ---------------------------------------------------------------------------
    def parameter_counts(self) -> dict[str, int]:
        counts = super().parameter_counts()
        counts["stored"] += self.infix_embedding.numel()  # the ejected table and the k input embeddings
        return counts
