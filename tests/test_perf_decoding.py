"""Our batched beam search (prefix_bench.decoding) must pick exactly HF `generate`'s tokens.

Speed is measured by `prefix-bench bench`, never here. The model is a tiny random GPT-2 whose EOS
logit gets a context-dependent bias (a hook on the LM head), so outputs end at varied lengths and
the finished-hypothesis bookkeeping, the length penalty and dropping finished items are exercised.
"""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from prefix_bench.config import GenerateOptions
from prefix_bench.decoding import beam_search
from prefix_bench.generate import decode_sources
from prefix_bench.methods import build_method
from prefix_bench.models.formatting import encode_prompt, newline_token_ids
from prefix_bench.models.tiny import train_byte_bpe

SOURCES = ["name : The Eagle | Type : pub", "Alimentum is", "x", "The Mill is a pub",
           "name : The Mill | Type : pub | food : Italian | near : Cafe Rouge"]
SETTINGS = [(5, 1.0, 20), (3, 0.8, 15), (4, 2.0, 25)]  # num_beams, length_penalty, max_new_tokens


@pytest.fixture(scope="module")
def tok():
    from conftest import TEXTS

    return train_byte_bpe(TEXTS + ["a\nb", "line\n"], vocab_size=300)


def _lm(tok, seed: int):
    torch.manual_seed(seed)
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_layer=2, n_head=4, n_embd=64, n_positions=256,
                                    initializer_range=0.3, eos_token_id=tok.eos_token_id,
                                    bos_token_id=tok.eos_token_id)).eval()
    u = torch.randn(64)

    def eos_bias(module, args, out):  # EOS becomes likely in some contexts only
        out = out.clone()
        out[..., tok.eos_token_id] += 0.5 * (args[0] @ u)
        return out

    lm.lm_head.register_forward_hook(eos_bias)
    return lm


def _batch(tok, sources):
    prompts = [encode_prompt(tok, s, 64) for s in sources]
    width = max(map(len, prompts))
    ids = torch.full((len(prompts), width), tok.pad_token_id)
    mask = torch.zeros_like(ids)
    for r, p in enumerate(prompts):  # left padding
        ids[r, width - len(p):] = torch.tensor(p)
        mask[r, width - len(p):] = 1
    return ids, mask


def _cut(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos) + 1] if eos in ids else ids


@pytest.mark.parametrize("method_name", ["prefix", "prefix_emb", "finetune"])
@pytest.mark.parametrize("seed", [0, 1])
def test_own_beam_search_equals_hf_generate_and_one_at_a_time(tok, method_name, seed):
    lm = _lm(tok, seed)
    options = {"prefix": {"length": 3, "mid_dim": 16}, "prefix_emb": {"length": 2}}.get(method_name, {})
    method = build_method(method_name, lm, options).eval()
    eos, bad = tok.eos_token_id, newline_token_ids(tok)
    assert bad  # the newline ban is exercised
    ids, mask = _batch(tok, SOURCES)
    lengths = set()
    for num_beams, lp, max_new in SETTINGS:
        kw = dict(num_beams=num_beams, length_penalty=lp, max_new_tokens=max_new, bad_words_ids=bad)
        with torch.no_grad(), method.generating():
            hf = lm.generate(input_ids=ids, attention_mask=mask, do_sample=False, early_stopping=False,
                             pad_token_id=tok.pad_token_id, eos_token_id=eos,
                             **method.generation_kwargs(mask), **kw)
            pos = method.generation_kwargs(mask).get("position_ids")
            ours = beam_search(lm, ids, mask, eos_token_id=eos, pad_token_id=tok.pad_token_id,
                               position_ids=pos, **kw)
            kept = beam_search(lm, ids, mask, eos_token_id=eos, pad_token_id=tok.pad_token_id,
                               position_ids=pos, drop_finished=False, **kw)
            plain = beam_search(lm, ids, mask, eos_token_id=eos, pad_token_id=tok.pad_token_id,
                                position_ids=pos, inplace_cache=False, **kw)
            with method.prefix_in_cache() as prefix_kv:  # the prefix written once into the cache
                assert (prefix_kv is None) == (method_name == "finetune")
                cached = beam_search(lm, ids, mask, eos_token_id=eos, pad_token_id=tok.pad_token_id,
                                     position_ids=pos, prefix_kv=prefix_kv, **kw)
            single = []
            for s in SOURCES:
                i1, m1 = _batch(tok, [s])
                single += beam_search(lm, i1, m1, eos_token_id=eos, pad_token_id=tok.pad_token_id,
                                      position_ids=method.generation_kwargs(m1).get("position_ids"), **kw)
        for r in range(len(SOURCES)):
            want = _cut(hf[r, ids.shape[1]:].tolist(), eos)
            assert ours[r] == want == kept[r] == plain[r] == single[r] == cached[r], (num_beams, lp, r)
            lengths.add((len(want), want[-1] == eos))
    assert any(ended for _, ended in lengths) and any(not ended for _, ended in lengths)


def test_generate_stage_own_equals_hf(tok):
    lm = _lm(tok, 1)
    method = build_method("prefix", lm, {"length": 2, "mid_dim": 8}).eval()
    base = dict(num_beams=3, max_new_tokens=12, batch_size=2, length_penalty=0.8)
    own = decode_sources(method, tok, SOURCES, GenerateOptions(**base), 64, torch.device("cpu"))
    hf = decode_sources(method, tok, SOURCES, GenerateOptions(**base, beam_search="hf"), 64,
                        torch.device("cpu"))
    assert own == hf
