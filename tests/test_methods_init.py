"""Real-word initialisation (paper section 7.4): the prefix length is the words' token count and,
after the MSE fit, the prefix K/V equal the frozen LM's K/V of the words."""

from __future__ import annotations

import pytest
import torch

from prefix_bench.errors import PrefixBenchError
from prefix_bench.methods import build_method
from prefix_bench.methods.prefix.config import INIT_WORD_PRESETS
from prefix_bench.methods.prefix.init import lm_kv, word_ids

# The test fits harder than the paper's 500 steps at lr 1e-4 (tiny random LM, few seconds).
FIT = {"init_steps": 300, "init_lr": 3e-3}
TOLERANCE = 1e-3  # max |prefix K/V - LM K/V| after the fit (measured 4.1e-5; K/V magnitudes <= 0.83)


def test_word_init_fits_lm_kv_and_sets_length(tiny_lm):
    lm, tok = tiny_lm
    torch.manual_seed(0)
    method = build_method("prefix", lm, {"init": "words", "init_words": "table-to-text", "mid_dim": 32, **FIT})
    info = method.initialize(tok)
    ids = word_ids(tok, INIT_WORD_PRESETS["table-to-text"])
    assert method.prefix_length == len(ids) == info["init_tokens"]
    with torch.no_grad():
        err = (method.compute_kv() - lm_kv(lm, ids)).abs().max().item()
    assert err < TOLERANCE, err
    assert info["init_mse"] < TOLERANCE**2


@pytest.mark.parametrize("words", sorted(INIT_WORD_PRESETS))
def test_every_preset_sets_length_without_fit(tiny_lm, words):
    lm, tok = tiny_lm
    method = build_method("prefix", lm, {"init": "words", "init_words": words})
    method.initialize(tok, fit=False)  # what generate.py calls before loading a checkpoint
    assert method.prefix_length == len(word_ids(tok, INIT_WORD_PRESETS[words]))
    assert method.compute_kv().shape[3] == method.prefix_length


def test_length_must_match_word_count(tiny_lm):
    lm, tok = tiny_lm
    n = len(word_ids(tok, "elephant"))
    method = build_method("prefix", lm, {"init": "words", "init_words": "elephant", "length": n + 1})
    with pytest.raises(PrefixBenchError, match="token"):
        method.initialize(tok)
    with pytest.raises(PrefixBenchError, match="init_words"):
        build_method("prefix", lm, {"init": "words"})


def test_emb_word_init_uses_word_embeddings(tiny_lm):
    lm, tok = tiny_lm
    method = build_method("prefix_emb", lm, {"init": "words", "init_words": "summarize", "parametrize": "none"})
    method.initialize(tok)
    ids = word_ids(tok, "summarize")
    assert torch.equal(method.prefix.weight, lm.get_input_embeddings().weight[ids])
    with torch.no_grad():  # and then its K/V are exactly the words' K/V
        torch.testing.assert_close(method.compute_kv(), lm_kv(lm, ids), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("fit_embedding", [False, True])
def test_word_init_fits_only_the_mlp_unless_asked(tiny_lm, fit_embedding):
    """The paper's code fits the reparametrization MLP to the words' activations and leaves the
    prefix embedding it reads where it started; `init_fit_embedding` moves it too."""
    lm, tok = tiny_lm
    torch.manual_seed(0)
    method = build_method("prefix", lm, {"init": "words", "init_words": "table-to-text:", "init_steps": 20,
                                         "init_lr": 1e-2, "init_fit_embedding": fit_embedding})
    method.initialize(tok, fit=False)
    before = {n: p.detach().clone() for n, p in method.prefix.named_parameters()}
    method.initialize(tok)
    moved = {n for n, p in method.prefix.named_parameters() if not torch.equal(p, before[n])}
    assert {n for n in moved if n.startswith("mlp.")} == {n for n in before if n.startswith("mlp.")}
    assert ("embedding.weight" in moved) is fit_embedding


def test_adapter_up_projection_init_follows_the_paper_code_or_starts_at_zero(tiny_lm):
    lm, _ = tiny_lm
    torch.manual_seed(0)
    paper = build_method("adapter", lm, {"bottleneck": 8})
    up = torch.cat([a.up.weight.flatten() for a in paper.adapters])
    assert up.abs().max() > 0 and abs(float(up.std()) - 0.02) < 0.004  # N(0, 0.02)
    assert all(torch.count_nonzero(a.up.bias) == 0 for a in paper.adapters)
    zero = build_method("adapter", lm, {"bottleneck": 8, "up_init": "zeros"})
    assert all(torch.count_nonzero(a.up.weight) == 0 for a in zero.adapters)
