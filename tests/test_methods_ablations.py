"""The ablations of paper section 7.2 / Table 5 compute what the paper defines.

EMB-k: k free embeddings prepended as `inputs_embeds` to a frozen LM. Our route injects their K/V
as a prefix; it must equal the literal `inputs_embeds` computation (padded batch, both sides) and
decode like it. INFIX-k (the paper code's two passes): the LM reads k trainable embeddings after
the source and a table is added to their K/V; it must equal a hand-written two-pass reference, an
infix of the word embeddings of Z must reproduce the text x Z <eos> y, and the source must not
see the infix.
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


SOURCES = [" name : The Eagle | food : French ", " name : The Mill "]


def _infix_as_words(tiny_lm):
    """An infix whose k input embeddings are the LM's own embeddings of tokens Z and whose added
    table is zero: by the paper's construction it must equal reading the text x Z <eos> y."""
    lm, tok = tiny_lm
    z = tok(" table-to-text:", add_special_tokens=False).input_ids
    method = build_method("infix", lm, {"length": len(z), "reparametrize": False}).eval()
    with torch.no_grad():
        method.prefix.table.zero_()
        method.infix_embedding.copy_(lm.get_input_embeddings().weight[z])
    xs = [tok(s, add_special_tokens=False).input_ids for s in SOURCES]
    return lm, tok, method, xs, z


def test_infix_of_word_embeddings_equals_text_and_depends_on_the_source(tiny_lm):
    lm, tok, method, xs, z = _infix_as_words(tiny_lm)
    eos = tok.eos_token_id
    ys = [tok(" The Eagle serves French food.").input_ids, tok(" It is good.").input_ids]
    ids, mask = _pad([x + [eos] + y + [eos] for x, y in zip(xs, ys)], tok.pad_token_id, "right")
    with torch.no_grad():
        got = method(ids, mask)
        for i, (x, y) in enumerate(zip(xs, ys)):
            ref = lm(input_ids=torch.tensor([x + z + [eos] + y + [eos]])).logits[0]
            n = len(x)
            torch.testing.assert_close(got[i, n:n + len(y) + 2], ref[n + len(z):], atol=1e-5, rtol=1e-4)
            # the source never sees the infix: its logits are the LM's on x alone
            torch.testing.assert_close(got[i, :n], lm(input_ids=torch.tensor([x])).logits[0], atol=1e-5,
                                       rtol=1e-4)


def _paper_two_pass(lm, x, target, infix_embeds, delta):
    """The paper code's INFIX (get_prompt_p5_infix + forward_infix), one unpadded row: the LM reads
    [x; infix embeddings] into a cache, the table `delta` [n_layer, 2, h, k, d] is added to the
    infix slots, then the target (separator onward) continues from that cache."""
    embeds = torch.cat([lm.get_input_embeddings()(torch.tensor([x])), infix_embeds[None]], dim=1)
    cache = lm(inputs_embeds=embeds, use_cache=True).cache
    m, k = len(x), infix_embeds.shape[0]
    for layer, (dk, dv) in zip(cache.layers, delta):
        pad = torch.zeros(m, *dk.shape[:1], dk.shape[-1])  # [m, h, d], zero on the source slots
        layer.keys = layer.keys + torch.cat([pad.permute(1, 0, 2), dk], dim=1)[None]
        layer.values = layer.values + torch.cat([pad.permute(1, 0, 2), dv], dim=1)[None]
    positions = torch.arange(m + k, m + k + len(target))[None]
    return lm(input_ids=torch.tensor([target]), cache=cache, position_ids=positions).logits[0]


def test_infix_matches_the_papers_two_pass_construction(tiny_lm):
    lm, tok = tiny_lm
    torch.manual_seed(4)
    method = build_method("infix", lm, {"length": 3, "mid_dim": 16}).eval()
    eos = tok.eos_token_id
    xs = [tok(s, add_special_tokens=False).input_ids for s in SOURCES]
    ys = [tok(" The Eagle is French.").input_ids, tok(" A pub.").input_ids]
    ids, mask = _pad([x + [eos] + y + [eos] for x, y in zip(xs, ys)], tok.pad_token_id, "right")
    with torch.no_grad():
        got = method(ids, mask)
        delta = method.compute_kv()
        assert delta.abs().max() > 0.01  # the added table is really in play
        for i, (x, y) in enumerate(zip(xs, ys)):
            ref = _paper_two_pass(lm, x, [eos] + y + [eos], method.infix_embedding, delta)
            torch.testing.assert_close(got[i, len(x):len(x) + len(y) + 2], ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("decoder", ["generate", "own"])
def test_infix_decodes_like_text_beam5(tiny_lm, decoder):
    from prefix_bench.decoding import beam_search

    lm, tok, method, xs, z = _infix_as_words(tiny_lm)
    eos = tok.eos_token_id
    kw = dict(num_beams=5, max_new_tokens=10, pad_token_id=tok.pad_token_id, eos_token_id=eos)
    ids, mask = _pad([x + [eos] for x in xs], tok.pad_token_id, "left")
    ids, mask = torch.cat([torch.full((2, 2), tok.pad_token_id), ids], 1), torch.cat(
        [torch.zeros(2, 2, dtype=mask.dtype), mask], 1)  # extra left padding
    with torch.no_grad(), method.generating():
        extra = method.generation_kwargs(mask, ids)
        if decoder == "generate":
            got = lm.generate(input_ids=ids, attention_mask=mask, do_sample=False, **extra, **kw)
            got = [row[ids.shape[1]:].tolist() for row in got]
        else:
            got = beam_search(lm, ids, mask, position_ids=extra["position_ids"],
                              drop_finished=not method.per_source_state, **kw)
    for x, row in zip(xs, got):
        text = torch.tensor([x + z + [eos]])
        with torch.no_grad():
            ref = lm.generate(input_ids=text, attention_mask=torch.ones_like(text), do_sample=False,
                              **kw)[0, text.shape[1]:].tolist()
        assert row[: len(ref)] == ref[: len(row)] and row


def test_infix_refuses_word_init(tiny_lm):
    from prefix_bench.errors import PrefixBenchError

    with pytest.raises(PrefixBenchError, match="not defined for INFIX-k"):
        build_method("infix", tiny_lm[0], {"init": "words", "init_words": "table-to-text"})


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
