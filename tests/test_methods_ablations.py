"""The ablations of paper section 7.2 / Table 5 compute what the paper defines.

EMB-k: k free embeddings prepended as `inputs_embeds` to a frozen LM. Our route injects their K/V
as a prefix; it must equal the literal `inputs_embeds` computation (padded batch, both sides) and
decode like it. INFIX-k: [x; INFIX; <eos> y]; an infix holding the real K/V of tokens Z (computed
in context after x) must reproduce the text x Z <eos> y, and source tokens must not see it.
"""

from __future__ import annotations

import pytest
import torch

from prefix_bench.methods import build_method

PROMPTS = ["The Mill is a pub", "Alimentum is"]


def _pad(seqs, pad_id, side):
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), pad_id)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        sl = slice(0, len(s)) if side == "right" else slice(width - len(s), width)
        ids[i, sl], mask[i, sl] = torch.tensor(s), 1
    return ids, mask


@pytest.mark.parametrize("side", ["right", "left"])
def test_emb_prefix_equals_inputs_embeds(tiny_lm, side):
    lm, tok = tiny_lm
    torch.manual_seed(1)
    method = build_method("prefix_emb", lm, {"length": 3}).eval()
    emb = method.prefix.weight  # [k, d]
    k = emb.shape[0]
    ids, mask = _pad([tok(" " + p).input_ids for p in PROMPTS], tok.pad_token_id, side)
    with torch.no_grad():
        got = method(ids, mask)
        inputs = torch.cat([emb[None].expand(len(PROMPTS), -1, -1), lm.get_input_embeddings()(ids)], 1)
        full_mask = torch.cat([torch.ones(len(PROMPTS), k, dtype=mask.dtype), mask], 1)
        pos = (full_mask.cumsum(-1) - 1).clamp(min=0)  # literal prefix tokens at 0..k-1
        ref = lm(inputs_embeds=inputs, attention_mask=full_mask, position_ids=pos).logits[:, k:]
    torch.testing.assert_close(got[mask.bool()], ref[mask.bool()], atol=1e-5, rtol=1e-4)


def test_emb_prefix_decodes_like_inputs_embeds(tiny_lm):
    lm, tok = tiny_lm
    torch.manual_seed(2)
    method = build_method("prefix_emb", lm, {"length": 2}).eval()
    ids = tok(" " + PROMPTS[0], return_tensors="pt").input_ids
    kw = dict(num_beams=5, max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
    mask = torch.ones_like(ids)
    with torch.no_grad(), method.generating():
        got = lm.generate(input_ids=ids, attention_mask=mask, **method.generation_kwargs(mask), **kw)
    with torch.no_grad():
        embeds = torch.cat([method.prefix.weight[None], lm.get_input_embeddings()(ids)], 1)
        ref = lm.generate(inputs_embeds=embeds, attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
                          **kw)  # returns only the new tokens
    n = ref.shape[1]
    assert got[0, ids.shape[1]:][:n].tolist() == ref[0].tolist()


def _infix_setup(tiny_lm):
    lm, tok = tiny_lm
    x = tok(" name : The Eagle | food : French ", add_special_tokens=False).input_ids
    z = tok(" table-to-text:", add_special_tokens=False).input_ids
    method = build_method("infix", lm, {"length": len(z), "reparametrize": False}).eval()
    with torch.no_grad():  # K/V of Z in the context of x: the text positions |x|..|x|+L-1
        cache = lm(input_ids=torch.tensor([x + z]), use_cache=True).cache
        kv = torch.stack([torch.stack([layer.keys[0], layer.values[0]]) for layer in cache.layers])[..., len(x):, :]
        method.prefix.table.copy_(kv.permute(3, 0, 1, 2, 4).reshape(len(z), -1))
    return lm, tok, method, x, z


def test_infix_equals_text_with_padding(tiny_lm):
    lm, tok, method, x, z = _infix_setup(tiny_lm)
    eos = tok.eos_token_id
    ys = [tok(" The Eagle serves French food.").input_ids, tok(" It is good.").input_ids]
    ids, mask = _pad([x + [eos] + y + [eos] for y in ys], tok.pad_token_id, "right")
    with torch.no_grad():
        got = method(ids, mask)
        for i, y in enumerate(ys):
            ref = lm(input_ids=torch.tensor([x + z + [eos] + y + [eos]])).logits[0]
            n = len(x)
            torch.testing.assert_close(got[i, n:n + len(y) + 2], ref[n + len(z):], atol=1e-5, rtol=1e-4)
            # the source never sees the infix: its logits are the LM's on x alone
            torch.testing.assert_close(got[i, :n], lm(input_ids=torch.tensor([x])).logits[0], atol=1e-5,
                                       rtol=1e-4)


def test_infix_equals_text_beam5(tiny_lm):
    lm, tok, method, x, z = _infix_setup(tiny_lm)
    eos = tok.eos_token_id
    kw = dict(num_beams=5, max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
    ids, mask = _pad([x + [eos], x + [eos]], tok.pad_token_id, "left")
    ids, mask = torch.cat([torch.full((2, 2), tok.pad_token_id), ids], 1), torch.cat(
        [torch.zeros(2, 2, dtype=mask.dtype), mask], 1)  # extra left padding
    with torch.no_grad(), method.generating():
        got = lm.generate(input_ids=ids, attention_mask=mask, **method.generation_kwargs(mask), **kw)
    text = torch.tensor([x + z + [eos]])
    with torch.no_grad():
        ref = lm.generate(input_ids=text, attention_mask=torch.ones_like(text), **kw)[0, text.shape[1]:]
    for row in got[:, ids.shape[1]:]:
        assert row.tolist()[: len(ref)] == ref.tolist()


def test_emb_mlp_parametrization_trains_an_mlp_and_ejects_to_k_embeddings(tiny_lm):
    """The paper's code runs EMB-k through an MLP (parametrize_emb='MLP'): the trainable state is
    the MLP and its input vectors; after ejecting, only the k x d embeddings remain, same K/V."""
    lm, _ = tiny_lm
    torch.manual_seed(3)
    mlp = build_method("prefix_emb", lm, {"length": 4, "mid_dim": 16}).eval()
    plain = build_method("prefix_emb", lm, {"length": 4, "parametrize": "none"}).eval()
    d = lm.config.hidden_size
    assert sorted(n for n, _ in mlp.prefix.named_parameters()) == [
        "embedding.weight", "mlp.0.bias", "mlp.0.weight", "mlp.2.bias", "mlp.2.weight"]
    assert mlp.parameter_counts()["trainable"] == 4 * d + d * 16 + 16 + 16 * d + d
    assert plain.parameter_counts()["trainable"] == mlp.parameter_counts()["stored"] == 4 * d
    with torch.no_grad():
        before = mlp.compute_kv()
        mlp.eject()
        torch.testing.assert_close(mlp.compute_kv(), before)
    assert [n for n, _ in mlp.prefix.named_parameters()] == ["table"]
