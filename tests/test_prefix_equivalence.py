"""A prefix equal to the real K/V of tokens X must behave exactly like X fed as text.

This is the numerical guard for the attention-interface route (methods/attention.py): if an
upstream transformers change breaks how our prefix reaches attention, these tests fail. One set
of test bodies runs on every decoder architecture: tiny GPT-2 (learned positions) and tiny Llama
(RoPE + grouped-query attention: 4 query heads share 2 K/V heads; the cached keys are already
rotated at positions 0..L-1, and real tokens sit at positions L..).
"""

from __future__ import annotations

import pytest
import torch

from prefix_bench.methods import build_method
from prefix_bench.methods.prefix.init import fit_prefix, lm_kv
from prefix_bench.methods.prefix.model import self_attention_modules
from prefix_bench.models.tiny import tiny_model

X = "name : The Eagle |"
PROMPTS = ["The Mill is a pub", "Alimentum is"]


@pytest.fixture(params=["tiny-gpt2", "tiny-llama"])
def prefixed(request, tiny_lm):
    """(lm, tokenizer, prefix method holding the LM's own K/V of X, X's ids [1, L])."""
    lm, tok = tiny_lm
    if request.param == "tiny-llama":
        lm = tiny_model("tiny-llama", len(tok), tok.eos_token_id, seed=0).eval()
        assert lm.config.num_key_value_heads < lm.config.num_attention_heads  # GQA
    x_ids = tok(" " + X).input_ids
    method = build_method("prefix", lm, {"length": len(x_ids), "reparametrize": False}).eval()
    fit_prefix(method.prefix, lm_kv(lm, x_ids), steps=0, lr=1.0)  # a flat table is set exactly
    return lm, tok, method, torch.tensor([x_ids])


@pytest.mark.parametrize("side", ["right", "left"])
def test_prefix_equals_text_logits_with_padding(prefixed, side):
    lm, tok, method, x_ids = prefixed
    seqs = [tok(" " + p).input_ids for p in PROMPTS]
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), tok.pad_token_id)
    mask = torch.zeros_like(ids)
    rows = [slice(0, len(s)) if side == "right" else slice(width - len(s), width) for s in seqs]
    for i, (s, sl) in enumerate(zip(seqs, rows)):
        ids[i, sl], mask[i, sl] = torch.tensor(s), 1
    with torch.no_grad():
        got = method(ids, mask)
        for i, (s, sl) in enumerate(zip(seqs, rows)):
            ref = lm(input_ids=torch.cat([x_ids[0], torch.tensor(s)])[None]).logits[0, x_ids.shape[1]:]
            torch.testing.assert_close(got[i, sl], ref, atol=1e-5, rtol=1e-4)


def test_prefix_equals_text_beam_search(prefixed):
    lm, tok, method, x_ids = prefixed
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
    lm, tok = tiny_lm
    method = build_method("prefix", lm, {"length": 3, "mid_dim": 16}).train()
    ids = tok([" The Eagle is a pub"], return_tensors="pt").input_ids
    method(ids, torch.ones_like(ids)).sum().backward()
    assert all(p.grad is None for p in lm.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in method.prefix.parameters())
    assert not lm.training  # frozen LM stays in eval mode (no dropout), as in the paper's code
    assert len(self_attention_modules(lm)) == lm.config.num_hidden_layers
