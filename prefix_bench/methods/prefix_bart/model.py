"""Prefix-tuning for BART (Li & Liang 2021, section 4.2: "for an encoder-decoder architecture,
we prepend prefixes for both encoder and decoder").

As in the paper's code, three independent prefixes, each with its own Embedding + MLP:
  encoder self-attention   K/V [1, heads, L, head_dim] per encoder layer (batch B at run time)
  decoder self-attention   K/V [1, heads, L, head_dim] per decoder layer (batch B * num_beams)
  cross-attention          K/V [1, heads, L, head_dim] per decoder layer, in front of the encoder's
                           keys/values (batch B * num_beams)
All are injected by `methods.attention` (the batch-1 prefix is expanded to any batch, the mask is
widened so every query sees the prefix, padded source keys stay masked). Positions are not
offset on either side: BART's learned positions count real tokens only.

Interface: `forward` is seq2seq-shaped,
    forward(input_ids, attention_mask, decoder_input_ids=None, decoder_attention_mask=None,
            labels=None) -> decoder logits [B, T_dec, V]
(with only `labels`, BART builds `decoder_input_ids` by shifting them right). Generation goes
through `self.lm.generate(input_ids=source, attention_mask=source_mask, ...)` inside
`generating()`; `generation_kwargs` adds nothing.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from ..attention import active_prefixes, use_prefix_attention
from ..base import Method
from ..prefix.model import PrefixEncoder
from .config import PrefixBartConfig

SITES = ("encoder", "decoder", "cross")


def attention_sites(lm: nn.Module) -> dict[str, list[nn.Module]]:
    """The attention modules of each prefix site of a BART-style model, in layer order."""
    model = lm.model  # BartForConditionalGeneration.model: BartModel(encoder, decoder)
    return {
        "encoder": [layer.self_attn for layer in model.encoder.layers],
        "decoder": [layer.self_attn for layer in model.decoder.layers],
        "cross": [layer.encoder_attn for layer in model.decoder.layers],
    }


class PrefixBart(Method):
    name = "prefix_bart"

    def __init__(self, lm: nn.Module, config: PrefixBartConfig) -> None:
        super().__init__(lm, config)
        self.objective = config.objective
        lm.requires_grad_(False)
        use_prefix_attention(lm)
        self._sites = attention_sites(lm)  # plain dict: modules of the frozen LM
        c = lm.config
        heads = {"encoder": c.encoder_attention_heads, "decoder": c.decoder_attention_heads,
                 "cross": c.decoder_attention_heads}
        self.prefixes = nn.ModuleDict({
            site: PrefixEncoder(config.length, config.mid_dim, config.reparametrize, config.dropout,
                                len(modules), heads[site], c.d_model // heads[site], c.d_model)
            for site, modules in self._sites.items()
        })
        device = next(lm.parameters()).device
        if device.type != "meta":
            self.prefixes.to(device)
        self.prefix_length = config.length


    def _kv_by_module(self) -> dict[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
        active = {}
        for site, modules in self._sites.items():
            kv = self.prefixes[site]()  # [n_layer, 2, heads, L, head_dim]
            for i, m in enumerate(modules):
                active[m] = (kv[i, 0].unsqueeze(0), kv[i, 1].unsqueeze(0))
        return active

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                decoder_input_ids: torch.Tensor | None = None,
                decoder_attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        with active_prefixes(self._kv_by_module()):
            return self.lm(input_ids=input_ids, attention_mask=attention_mask,
                           decoder_input_ids=decoder_input_ids,
                           decoder_attention_mask=decoder_attention_mask, labels=labels,
                           use_cache=False).logits

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        with torch.no_grad():
            active = {m: (k.detach(), v.detach()) for m, (k, v) in self._kv_by_module().items()}
        with active_prefixes(active):
            yield

    def parameter_counts(self) -> dict[str, int]:
        counts = super().parameter_counts()
        counts["stored"] = sum(int(torch.Size(p.shape).numel()) for p in self.prefixes.values())
        return counts
