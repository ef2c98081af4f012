"""Prefix-tuning on tiny BART: each of the three sites (encoder self-attention, decoder
self-attention, cross-attention) equals a hand-written eager attention with the prefix
concatenated, on padded sources; a padded row decodes (beam 6) exactly like the same row alone."""

from __future__ import annotations

import pytest
import torch

from prefix_bench.methods import build_method
from prefix_bench.methods.prefix_bart.model import SITES, attention_sites
from prefix_bench.models.tiny import tiny_model

SOURCES = [" name : The Eagle | food : French | price : moderate", " name : The Mill"]


@pytest.fixture()
def bart(tiny_lm):
    _, tok = tiny_lm
    lm = tiny_model("tiny-bart", len(tok), tok.eos_token_id, seed=0).eval()
    torch.manual_seed(0)
    method = build_method("prefix_bart", lm, {"length": 3, "mid_dim": 16}).eval()
    with torch.no_grad():  # a prefix strong enough to matter in a random tiny model
        for p in method.prefixes.values():
            p.mlp[2].weight.mul_(20)
    tok.padding_side = "right"
    return lm, tok, method


def _reference(module, h, src, key_mask, causal, kv):
    """Eager attention: softmax(q [prefix_k; k]^T * scale + mask) [prefix_v; v], then out_proj."""
    b, t, _ = h.shape
    heads, d = module.num_heads, module.head_dim
    q = module.q_proj(h).view(b, t, heads, d).transpose(1, 2)  # [B, H, T, d]
    k = module.k_proj(src).view(b, src.shape[1], heads, d).transpose(1, 2)  # [B, H, S, d]
    v = module.v_proj(src).view(b, src.shape[1], heads, d).transpose(1, 2)
    k = torch.cat([kv[0][None].expand(b, -1, -1, -1), k], 2)  # [B, H, L + S, d]
    v = torch.cat([kv[1][None].expand(b, -1, -1, -1), v], 2)
    allowed = key_mask[:, None, None, :].bool().expand(b, 1, t, src.shape[1])  # [B, 1, T, S]
    if causal:
        allowed = allowed & torch.ones(t, src.shape[1], dtype=torch.bool).tril()
    allowed = torch.cat([torch.ones(b, 1, t, kv.shape[2], dtype=torch.bool), allowed], -1)
    scores = (q @ k.transpose(-1, -2)) * module.scaling
    probs = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
    return module.out_proj((probs @ v).transpose(1, 2).reshape(b, t, heads * d))


def test_each_site_matches_hand_written_attention(bart):
    lm, tok, method = bart
    enc = tok(SOURCES, return_tensors="pt", padding=True)
    assert (enc.attention_mask == 0).any()  # padded sources
    dec = tok([" The Eagle is French", " The Mill"], return_tensors="pt", padding=True).input_ids[:, :4]
    seen: dict = {}  # attention module -> (hidden_states, key_value_states, output)

    def capture(module, args, kwargs, output):
        h = kwargs.get("hidden_states", args[0] if args else None)
        seen[module] = (h, kwargs.get("key_value_states"), output[0])

    sites = attention_sites(lm)
    hooks = [m.register_forward_hook(capture, with_kwargs=True) for ms in sites.values() for m in ms]
    try:
        with torch.no_grad():
            method(enc.input_ids, enc.attention_mask, decoder_input_ids=dec)
    finally:
        for hk in hooks:
            hk.remove()
    checked = 0
    with torch.no_grad():
        for site in SITES:
            kv = method.prefixes[site]()  # [n_layer, 2, H, L, d]
            for i, module in enumerate(sites[site]):
                h, kvs, out = seen[module]
                if site == "encoder":
                    ref = _reference(module, h, h, enc.attention_mask, False, kv[i])
                    rows = enc.attention_mask.bool()
                    torch.testing.assert_close(out[rows], ref[rows], atol=1e-5, rtol=1e-4)
                elif site == "decoder":
                    ref = _reference(module, h, h, torch.ones(h.shape[:2]), True, kv[i])
                    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
                else:
                    ref = _reference(module, h, kvs, enc.attention_mask, False, kv[i])
                    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
                checked += 1
    assert checked == lm.config.encoder_layers + 2 * lm.config.decoder_layers


def test_padded_row_decodes_like_alone_beam6(bart):
    lm, tok, method = bart
    kw = dict(num_beams=6, max_new_tokens=10, min_new_tokens=3, no_repeat_ngram_size=3, do_sample=False,
              pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, length_penalty=1.0)
    enc = tok(SOURCES, return_tensors="pt", padding=True)
    with torch.no_grad(), method.generating():
        batch = lm.generate(**enc, **method.generation_kwargs(enc.attention_mask), **kw)
        for i, s in enumerate(SOURCES):
            one = tok([s], return_tensors="pt")
            alone = lm.generate(**one, **method.generation_kwargs(one.attention_mask), **kw)[0]
            got = batch[i][: len(alone)]
            assert got.tolist() == alone.tolist(), (i, got, alone)
        plain = lm.generate(**enc, **kw)
    with torch.no_grad():
        no_prefix = lm.generate(**enc, **kw)
    assert torch.equal(plain, batch)  # inside generating() the prefix is active...
    assert not torch.equal(no_prefix, batch)  # ...and it changes the output


def test_training_reaches_only_the_three_prefixes(bart):
    lm, tok, method = bart
    method.train()
    enc = tok(SOURCES, return_tensors="pt", padding=True)
    labels = tok([" The Eagle is French", " The Mill"], return_tensors="pt", padding=True).input_ids
    method(enc.input_ids, enc.attention_mask, labels=labels).sum().backward()
    assert all(p.grad is None for p in lm.parameters())
    assert set(method.trainable_state_dict()) == {
        n for n, _ in method.prefixes.named_parameters(prefix="prefixes")
    }
    for site in SITES:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in method.prefixes[site].parameters())
    assert not lm.training


def _bart_word_kv_reference(lm, ids):
    """BART's K/V of the words at each site, read another way: the decoder and cross sites from the
    generation cache, the encoder site by projecting each encoder layer's input (BART is post-LN,
    so a layer's input is what its self-attention reads)."""
    x = torch.tensor([ids])
    with torch.no_grad():
        out = lm(input_ids=x, decoder_input_ids=x, use_cache=True, output_hidden_states=True)
    cache = out.cache
    def split(t, heads):  # [1, L, heads * d] -> [heads, L, d]
        return t[0].view(t.shape[1], heads, -1).transpose(0, 1)
    encoder = []
    for layer, h in zip(lm.model.encoder.layers, out.encoder_hidden_states):
        attn = layer.self_attn
        encoder.append(torch.stack([split(attn.k_proj(h), attn.num_heads), split(attn.v_proj(h), attn.num_heads)]))
    def from_cache(c):
        return torch.stack([torch.stack([layer.keys[0], layer.values[0]]) for layer in c.layers])
    return {"encoder": torch.stack(encoder), "decoder": from_cache(cache.self_attention_cache),
            "cross": from_cache(cache.cross_attention_cache)}


@pytest.mark.parametrize("reparametrize", [False, True])
def test_word_init_reproduces_the_words_kv_at_all_three_sites(tiny_lm, reparametrize):
    from prefix_bench.methods.prefix.init import word_ids

    _, tok = tiny_lm
    lm = tiny_model("tiny-bart", len(tok), tok.eos_token_id, seed=0).eval()
    torch.manual_seed(0)
    options = {"init": "words", "init_words": "summarize", "reparametrize": reparametrize, "mid_dim": 32,
               "init_steps": 400, "init_lr": 3e-3}
    method = build_method("prefix_bart", lm, options)
    info = method.initialize(tok)
    ids = word_ids(tok, "summarize")
    assert method.prefix_length == info["init_tokens"] == len(ids)
    expected = _bart_word_kv_reference(lm, ids)
    with torch.no_grad():
        for site in SITES:
            got = method.prefixes[site]()
            assert got.shape == expected[site].shape
            err = (got - expected[site]).abs().max().item()
            assert err < (1e-5 if not reparametrize else 1e-4), (site, err)
    # a fresh model loading the trained state needs only the length (generate.py's path)
    shaped = build_method("prefix_bart", tiny_model("tiny-bart", len(tok), tok.eos_token_id, seed=0), options)
    assert shaped.initialize(tok, fit=False) == {"init_tokens": len(ids)}
    shaped.load_trainable_state_dict(method.trainable_state_dict(), "test")
