"""Eject (MLP -> stored table), safetensors round trip, and PEFT's prefix-tuning format."""

from __future__ import annotations

import warnings

import pytest
import torch

from prefix_bench.methods import build_method
from prefix_bench.methods.prefix.export import export_peft, load_prefix, save_prefix
from prefix_bench.models.tiny import tiny_model


def _method(tok, arch="tiny-gpt2", **options):
    lm = tiny_model(arch, len(tok), tok.eos_token_id, seed=0).eval()
    torch.manual_seed(0)
    return build_method("prefix", lm, {"length": 3, "mid_dim": 16, **options}).eval()


def _batch(tok, side):
    tok.padding_side = side
    return tok([" The Eagle is a pub", " Alimentum"], return_tensors="pt", padding=True)


def test_eject_keeps_kv_and_stores_only_the_table(tiny_lm):
    _, tok = tiny_lm
    method = _method(tok)
    with torch.no_grad():
        before = method.compute_kv()
    method.eject()
    cfg = method.lm.config
    assert list(method.trainable_state_dict()) == ["prefix.table"]
    assert method.prefix.table.shape == (3, cfg.n_layer * 2 * cfg.n_embd)
    assert method.parameter_counts()["stored"] == method.parameter_counts()["trainable"] == 3 * cfg.n_layer * 2 * cfg.n_embd
    torch.testing.assert_close(method.compute_kv(), before, atol=0, rtol=0)


def test_safetensors_round_trip(tiny_lm, tmp_path):
    _, tok = tiny_lm
    method = _method(tok)
    save_prefix(method, tmp_path / "prefix.safetensors")
    other = _method(tok, reparametrize=True)
    with torch.no_grad():
        other.prefix.mlp[2].bias.add_(1.0)  # make sure the load really replaces it
    load_prefix(other, tmp_path / "prefix.safetensors")
    enc = _batch(tok, "right")
    with torch.no_grad():
        torch.testing.assert_close(other(enc.input_ids, enc.attention_mask),
                                   method(enc.input_ids, enc.attention_mask), atol=0, rtol=0)


@pytest.mark.parametrize("arch", ["tiny-gpt2", "tiny-llama"])  # tiny-llama: grouped-query attention
def test_peft_loads_exported_prefix_with_same_logits(tiny_lm, tmp_path, arch):
    from peft import PeftModel

    _, tok = tiny_lm
    method = _method(tok, arch)
    export_peft(method, tmp_path / "peft")
    base = tiny_model(arch, len(tok), tok.eos_token_id, seed=0).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = PeftModel.from_pretrained(base, str(tmp_path / "peft")).eval()
        # Right padding: PEFT's forward (prefix through the cache) puts real tokens at L.., like our
        # default position_offset: true -> identical logits on every real token.
        enc = _batch(tok, "right")
        with torch.no_grad():
            ours = method(enc.input_ids, enc.attention_mask)
            theirs = peft_model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
        real = enc.attention_mask.bool()
        torch.testing.assert_close(theirs[real], ours[real], atol=1e-5, rtol=1e-4)
        # Left padding: PEFT's positions ignore the padding (counted from the cache length), so only
        # the unpadded row agrees; ours are padding-aware (documented in prefix/export.py).
        enc = _batch(tok, "left")
        with torch.no_grad():
            ours = method(enc.input_ids, enc.attention_mask)
            theirs = peft_model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
    torch.testing.assert_close(theirs[0], ours[0], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(theirs[1][enc.attention_mask[1].bool()], ours[1][enc.attention_mask[1].bool()])


def test_peft_without_cache_decodes_our_tokens(tiny_lm, tmp_path):
    """The comparison route the README names: PEFT's `generate(use_cache=False)` on an exported
    prefix gives the tokens our own decoding gives (its cached generate does not)."""
    from peft import PeftModel

    _, tok = tiny_lm
    method = _method(tok)
    with torch.no_grad():
        method.prefix.mlp[2].weight.mul_(20)  # a prefix that changes what the tiny LM says
    export_peft(method, tmp_path / "peft")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = PeftModel.from_pretrained(tiny_model("tiny-gpt2", len(tok), tok.eos_token_id, seed=0),
                                               str(tmp_path / "peft")).eval()
        ids = tok(" name : The Eagle | food : French", return_tensors="pt").input_ids
        mask = torch.ones_like(ids)
        kw = dict(max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
        with torch.no_grad():
            theirs = peft_model.generate(input_ids=ids, attention_mask=mask, use_cache=False, **kw)
            with method.generating():
                ours = method.lm.generate(input_ids=ids, attention_mask=mask, **method.generation_kwargs(mask, ids),
                                          **kw)
            base = tiny_model("tiny-gpt2", len(tok), tok.eos_token_id, seed=0).eval().generate(
                input_ids=ids, attention_mask=mask, **kw)
    assert theirs[0, ids.shape[1]:].tolist() == ours[0, ids.shape[1]:].tolist()
    assert ours[0, ids.shape[1]:].tolist() != base[0, ids.shape[1]:].tolist()  # the prefix matters
