"""Prefix-tuning for BART (Li & Liang 2021, section 4.2: "for an encoder-decoder architecture,
we prepend prefixes for both encoder and decoder").

As in the paper's code, three independent prefixes, each with its own Embedding + MLP:
  encoder self-attention   K/V [1, heads, L, head_dim] per encoder layer (batch B at run time)
  decoder self-attention   K/V [1, heads, L, head_dim] per decoder layer (batch B * num_beams)
  cross-attention          K/V [1, heads, L, head_dim] per decoder layer, in front of the encoder's
                           keys/values (batch B * num_beams)
All are injected by `methods.attention` (the batch-1 prefix is expanded to any batch, the mask is
widened so every query sees the prefix, padded source keys stay masked). Positions are not
offset on either side: BART's learned positions count real tokens only. Real-word initialisation
(`init: words`) fits each site to BART's own K/V of the words (`word_site_kv`).

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

from ...errors import PrefixBenchError
from ..attention import active_prefixes, use_prefix_attention
from ..base import Method
from ..prefix.init import fit_prefix, init_word_ids
from ..prefix.model import PrefixEncoder
from .config import DEFAULT_BART_LENGTH, PrefixBartConfig

SITES = ("encoder", "decoder", "cross")


def attention_sites(lm: nn.Module) -> dict[str, list[nn.Module]]:
    """The attention modules of each prefix site of a BART-style model, in layer order."""
    model = lm.model  # BartForConditionalGeneration.model: BartModel(encoder, decoder)
    return {
        "encoder": [layer.self_attn for layer in model.encoder.layers],
        "decoder": [layer.self_attn for layer in model.decoder.layers],
        "cross": [layer.encoder_attn for layer in model.decoder.layers],
    }


@torch.no_grad()
def word_site_kv(lm: nn.Module, sites: dict[str, list[nn.Module]], ids: list[int]) -> dict[str, torch.Tensor]:
    """BART's own K/V of the words `ids` at each site -> {site: [n_layer, 2, heads, L, head_dim]}.

    The words are both the encoder input and the decoder input (positions 0..L-1, no special
    tokens): the encoder site gets the encoder's self-attention K/V of the words, the decoder site
    the decoder's (reading the words over the encoded words), the cross site the cross-attention
    K/V of the encoded words. Read at each attention module's key/value projections."""
    captured: dict[tuple[nn.Module, str], torch.Tensor] = {}
    hooks = []
    for modules in sites.values():
        for m in modules:
            for part in ("k_proj", "v_proj"):
                def keep(_module, _args, out, key=(m, part)):
                    captured[key] = out
                hooks.append(getattr(m, part).register_forward_hook(keep))
    device = next(lm.parameters()).device
    x = torch.tensor([ids], device=device)
    was_training = lm.training
    lm.eval()
    try:
        lm(input_ids=x, attention_mask=torch.ones_like(x), decoder_input_ids=x,
           decoder_attention_mask=torch.ones_like(x), use_cache=False)
    finally:
        lm.train(was_training)
        for h in hooks:
            h.remove()
    out = {}
    for site, modules in sites.items():
        layers = []
        for m in modules:
            k, v = (captured[(m, part)][0] for part in ("k_proj", "v_proj"))  # [L, heads * head_dim]
            heads = m.num_heads
            layers.append(torch.stack([t.view(t.shape[0], heads, -1).transpose(0, 1) for t in (k, v)]))
        out[site] = torch.stack(layers)
    return out


class PrefixBart(Method):
    name = "prefix_bart"

    def __init__(self, lm: nn.Module, config: PrefixBartConfig) -> None:
        super().__init__(lm, config)
        self.objective = config.objective
        lm.requires_grad_(False)
        use_prefix_attention(lm)
        self._sites = attention_sites(lm)  # plain dict: modules of the frozen LM
        self.prefixes: nn.ModuleDict | None = None
        self.prefix_length = 0
        if config.init == "random" or config.length is not None:
            self._build_prefixes(config.length or DEFAULT_BART_LENGTH)
        # else: L is the init words' token count, known once `initialize(tokenizer)` runs

    def _build_prefixes(self, length: int) -> None:
        c, config = self.lm.config, self.config
        heads = {"encoder": c.encoder_attention_heads, "decoder": c.decoder_attention_heads,
                 "cross": c.decoder_attention_heads}
        self.prefixes = nn.ModuleDict({
            site: PrefixEncoder(length, config.mid_dim, config.reparametrize, config.dropout,
                                len(modules), heads[site], c.d_model // heads[site], c.d_model)
            for site, modules in self._sites.items()
        })
        device = next(self.lm.parameters()).device
        if device.type != "meta":
            self.prefixes.to(device)
        self.prefix_length = length

    def initialize(self, tokenizer, fit: bool = True) -> dict:
        """Real-word init (section 7.4): L = the words' token count; if `fit`, each site's MLP is
        fitted to BART's K/V of the words at that site."""
        if self.config.init != "words":
            return {}
        ids = init_word_ids(tokenizer, self.config)
        if self.prefixes is None:
            self._build_prefixes(len(ids))
        if not fit:
            return {"init_tokens": len(ids)}
        targets = word_site_kv(self.lm, self._sites, ids)
        mse = {site: fit_prefix(self.prefixes[site], targets[site], self.config.init_steps, self.config.init_lr,
                                self.config.init_fit_embedding) for site in SITES}
        return {"init_tokens": len(ids), "init_mse": max(mse.values()), "init_mse_by_site": mse}

    def _require_prefixes(self) -> nn.ModuleDict:
        if self.prefixes is None:
            raise PrefixBenchError(
                "prefix length comes from init_words: call method.initialize(tokenizer) before use")
        return self.prefixes

    def _kv_by_module(self) -> dict[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
        active = {}
        for site, modules in self._sites.items():
            kv = self._require_prefixes()[site]()  # [n_layer, 2, heads, L, head_dim]
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
        counts["stored"] = sum(int(torch.Size(p.shape).numel()) for p in self._require_prefixes().values())
        return counts
