"""Prefix-tuning on a Llama-style LM (RoPE + grouped-query attention) through the attention interface.

The K/V-equivalence test of tests/test_prefix_equivalence.py on tiny-llama (2 layers, 4 query
heads, 2 K/V heads): a prefix holding the LM's own cached K/V of tokens X (keys already rotated
at positions 0..L-1) must reproduce feeding X as text, with real tokens at positions L.. .
"""

from __future__ import annotations

import pytest
import torch

from prefix_bench.methods import build_method
from prefix_bench.methods.prefix.init import fit_prefix, lm_kv
from prefix_bench.models.tiny import tiny_model

X = "name : The Eagle |"
PROMPTS = ["The Mill is a pub", "Alimentum is"]


@pytest.fixture()
def llama(tiny_lm):
    _, tok = tiny_lm
    lm = tiny_model("tiny-llama", len(tok), tok.eos_token_id, seed=0).eval()
    assert lm.config.num_key_value_heads < lm.config.num_attention_heads  # GQA
    x_ids = tok(" " + X).input_ids
    method = build_method("prefix", lm, {"length": len(x_ids), "reparametrize": False}).eval()
    fit_prefix(method.prefix, lm_kv(lm, x_ids), steps=0, lr=1.0)  # a flat table is set exactly
    return lm, tok, method, torch.tensor([x_ids])


@pytest.mark.parametrize("side", ["right", "left"])
def test_llama_prefix_equals_text_logits(llama, side):
    lm, tok, method, x_ids = llama
    seqs = [tok(" " + p).input_ids for p in PROMPTS]
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), tok.pad_token_id)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        sl = slice(0, len(s)) if side == "right" else slice(width - len(s), width)
        ids[i, sl], mask[i, sl] = torch.tensor(s), 1
    with torch.no_grad():
        got = method(ids, mask)
    for i, s in enumerate(seqs):
        with torch.no_grad():
            ref = lm(input_ids=torch.cat([x_ids[0], torch.tensor(s)])[None]).logits[0, x_ids.shape[1]:]
        sl = slice(0, len(s)) if side == "right" else slice(width - len(s), width)
        torch.testing.assert_close(got[i, sl], ref, atol=1e-5, rtol=1e-4)


def test_llama_prefix_equals_text_beam5(llama):
    lm, tok, method, x_ids = llama
    tok.padding_side = "left"
    enc = tok([" " + p for p in PROMPTS], return_tensors="pt", padding=True)
    kw = dict(num_beams=5, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    with torch.no_grad(), method.generating():
        got = lm.generate(**enc, **method.generation_kwargs(enc.attention_mask), **kw)
    got = got[:, enc.input_ids.shape[1]:]
    for i, p in enumerate(PROMPTS):
        text = torch.cat([x_ids[0], tok(" " + p, return_tensors="pt").input_ids[0]])[None]
        with torch.no_grad():
            ref = lm.generate(input_ids=text, attention_mask=torch.ones_like(text), **kw)[0, text.shape[1]:]
        assert got[i].tolist()[: len(ref)] == ref.tolist()
