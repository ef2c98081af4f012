"""A prefix equal to the real K/V of tokens X must behave exactly like X fed as text.

This is the numerical guard for the attention-interface route (methods/attention.py): if an
upstream transformers change breaks how our prefix reaches attention, these tests fail.
"""

from __future__ import annotations

import torch

from prefix_bench.methods import build_method
from prefix_bench.methods.prefix.model import self_attention_modules

X = "name : The Eagle |"
PROMPTS = ["The Mill is a pub", "Alimentum is"]


def _prefix_from_text(method, lm, x_ids: torch.Tensor) -> None:
    """Set a flat prefix table to the LM's own K/V for `x_ids` (positions 0..L-1)."""
    with torch.no_grad():
        cache = lm(input_ids=x_ids, use_cache=True).past_key_values
        layers = [(cache.layers[i].keys[0], cache.layers[i].values[0]) for i in range(len(cache.layers))]
        kv = torch.stack([torch.stack([k, v]) for k, v in layers])  # [n_layer, 2, h, L, d]
        table = kv.permute(3, 0, 1, 2, 4).reshape(x_ids.shape[1], -1)  # [L, n_layer*2*h*d]
        method.prefix.table.copy_(table)


def _setup(tiny_lm):
    lm, tok = tiny_lm
    x_ids = tok(" " + X, return_tensors="pt").input_ids
    method = build_method("prefix", lm, {"length": x_ids.shape[1], "reparametrize": False}).eval()
    _prefix_from_text(method, lm, x_ids)
    return lm, tok, method, x_ids


def test_prefix_equals_text_logits_with_padding(tiny_lm):
    lm, tok, method, x_ids = _setup(tiny_lm)
    seqs = [tok(" " + p).input_ids for p in PROMPTS]
    width = max(map(len, seqs))
    for side in ("right", "left"):
        ids = torch.full((len(seqs), width), tok.pad_token_id)
        mask = torch.zeros_like(ids)
        for i, s in enumerate(seqs):
            sl = slice(0, len(s)) if side == "right" else slice(width - len(s), width)
            ids[i, sl] = torch.tensor(s)
            mask[i, sl] = 1
        with torch.no_grad():
            got = method(ids, mask)
        for i, s in enumerate(seqs):
            with torch.no_grad():
                ref = lm(input_ids=torch.cat([x_ids[0], torch.tensor(s)])[None]).logits[0, x_ids.shape[1]:]
            sl = slice(0, len(s)) if side == "right" else slice(width - len(s), width)
            torch.testing.assert_close(got[i, sl], ref, atol=1e-5, rtol=1e-4)


def test_prefix_equals_text_beam_search(tiny_lm):
    lm, tok, method, x_ids = _setup(tiny_lm)
    tok.padding_side = "left"
    enc = tok([" " + p for p in PROMPTS], return_tensors="pt", padding=True)
    kw = dict(num_beams=5, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    with torch.no_grad(), method.generating():
        got = lm.generate(**enc, **method.generation_kwargs(enc.attention_mask), **kw)
    got = got[:, enc.input_ids.shape[1]:]
    for i, p in enumerate(PROMPTS):
        text_ids = torch.cat([x_ids[0], tok(" " + p, return_tensors="pt").input_ids[0]])[None]
        with torch.no_grad():
            ref = lm.generate(input_ids=text_ids, attention_mask=torch.ones_like(text_ids), **kw)
        ref = ref[0, text_ids.shape[1]:].tolist()
        assert got[i].tolist()[: len(ref)] == ref


def test_gradients_reach_only_prefix(tiny_lm):
    lm, tok, _, _ = _setup(tiny_lm)
    method = build_method("prefix", lm, {"length": 3, "mid_dim": 16}).train()
    ids = tok([" The Eagle is a pub"], return_tensors="pt").input_ids
    method(ids, torch.ones_like(ids)).sum().backward()
    assert all(p.grad is None for p in lm.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in method.prefix.parameters())
    assert not lm.training  # frozen LM stays in eval mode (no dropout), as in the paper's code
    assert len(self_attention_modules(lm)) == lm.config.num_hidden_layers
