"""Shared checks over every decoder-only method on tiny GPT-2 (STYLE.md 12).

For each method: a few training steps change every declared trainable tensor and nothing else
(frozen LM weights stay bit-identical); save -> load into a fresh model gives identical logits and
identical beam-search output through the same interface train.py / generate.py use.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

from prefix_bench.methods import METHODS, build_method
from prefix_bench.models.formatting import encode_pair, encode_prompt
from prefix_bench.train import collate, sequence_loss

CASES = {
    "prefix": {"length": 3, "mid_dim": 16},
    "finetune_top2": {},
    "adapter": {"bottleneck": 4},
    "lora": {"r": 2, "alpha": 4.0},
    "prefix_emb": {"length": 2},
    "infix": {"length": 2, "mid_dim": 16},
}
PAIRS = [("name : The Eagle | food : French", "The Eagle serves French food."),
         ("name : The Mill | Type : pub", "The Mill is a pub.")]


def _fresh(tiny_dir, name):
    lm = AutoModelForCausalLM.from_pretrained(tiny_dir).eval()
    torch.manual_seed(0)
    return build_method(name, lm, CASES[name])


def _batch(tok):
    return collate([encode_pair(tok, s, t, 64, 64) for s, t in PAIRS], tok.pad_token_id, torch.device("cpu"))


def _left_padded_prompts(tok) -> tuple[torch.Tensor, torch.Tensor]:
    """The PAIRS sources as decoding prompts, left-padded (ids, attention mask)."""
    prompts = [encode_prompt(tok, s, 64) for s, _ in PAIRS]
    width = max(map(len, prompts))
    ids = torch.full((len(prompts), width), tok.pad_token_id)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):], mask[i, width - len(p):] = torch.tensor(p), 1
    return ids, mask


def _generate(method, tok):
    ids, mask = _left_padded_prompts(tok)
    with torch.no_grad(), method.generating():
        return method.lm.generate(input_ids=ids, attention_mask=mask, num_beams=3, max_new_tokens=6,
                                  do_sample=False, pad_token_id=tok.pad_token_id,
                                  **method.generation_kwargs(mask, ids))


def test_every_decoder_method_is_covered():
    assert set(CASES) == set(METHODS) - {"finetune", "prefix_bart"}  # BART: test_methods_bart.py


@pytest.mark.parametrize("name", sorted(CASES))
def test_training_changes_only_declared_parameters(tiny_dir, tiny_lm, name, tmp_path):
    _, tok = tiny_lm
    method = _fresh(tiny_dir, name).train()
    before = {n: p.detach().clone() for n, p in method.named_parameters()}
    declared = set(method.trainable_state_dict())
    assert declared and declared == {n for n, p in method.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-2)
    batch = _batch(tok)
    for _ in range(3):
        loss = sequence_loss(method(batch["input_ids"], batch["attention_mask"]), batch["labels"],
                             method.objective)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = dict(method.named_parameters())
    for n, p in after.items():
        if n in declared:
            assert not torch.equal(p.detach(), before[n]), f"{name}: {n} did not train"
        else:
            assert torch.equal(p.detach(), before[n]), f"{name}: frozen {n} changed"

    # save -> load into a fresh model: identical logits and generations
    method.eval()
    save_file({k: v.contiguous() for k, v in method.trainable_state_dict().items()}, str(tmp_path / "t.st"))
    reloaded = _fresh(tiny_dir, name).eval()
    reloaded.load_trainable_state_dict(load_file(str(tmp_path / "t.st")), "t.st")
    with torch.no_grad():
        a = method(batch["input_ids"], batch["attention_mask"])
        b = reloaded(batch["input_ids"], batch["attention_mask"])
    assert torch.equal(a, b)
    assert torch.equal(_generate(method, tok), _generate(reloaded, tok))
    counts = method.parameter_counts()
    assert counts["trainable"] == sum(v.numel() for v in method.trainable_state_dict().values())


@pytest.mark.parametrize("name", sorted(CASES))
def test_own_beam_search_matches_generate(tiny_dir, tiny_lm, name):
    """decoding.beam_search (prefill once, drops finished rows) sees each method like generate."""
    from prefix_bench.decoding import beam_search

    _, tok = tiny_lm
    method = _fresh(tiny_dir, name).eval()
    with torch.no_grad():  # move off the identity init (adapter/LoRA start equal to the LM)
        for p in method.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    ids, mask = _left_padded_prompts(tok)
    kw = dict(num_beams=3, max_new_tokens=6, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    with torch.no_grad(), method.generating():
        ours = beam_search(method.lm, ids, mask,
                           position_ids=method.generation_kwargs(mask, ids).get("position_ids"),
                           drop_finished=not method.per_source_state, **kw)
        ref = method.lm.generate(input_ids=ids, attention_mask=mask, do_sample=False, early_stopping=False,
                                 **method.generation_kwargs(mask, ids), **kw)[:, ids.shape[1]:]
    for row, got in zip(ref.tolist(), ours):
        # ours stops at EOS; generate pads the row after it: same tokens, then padding only
        assert got and row[: len(got)] == got and set(row[len(got):]) <= {tok.pad_token_id}


def test_fine_tuning_cue_words_reach_training_and_decoding_alike(tiny_lm):
    """The paper's low-data fine-tuning sees the prefix's init words in front of every source."""
    lm, tok = tiny_lm
    cued = build_method("finetune", lm, {"cue_words": "table-to-text"})
    assert cued.format_source("name : The Eagle") == "table-to-text: name : The Eagle"
    assert build_method("finetune", lm, {}).format_source("name : The Eagle") == "name : The Eagle"
    assert build_method("prefix", lm, {"length": 2}).format_source("x") == "x"


@pytest.mark.parametrize("name", sorted(CASES))
def test_target_only_head_gives_the_full_heads_loss(tiny_dir, tiny_lm, name):
    """The training loop's target-only LM head must not change any method's loss (EMB-k and INFIX-k
    run the LM on their own sequences inside the forward, where the head must not be gathered)."""
    from prefix_bench.config import TrainOptions
    from prefix_bench.models.formatting import text_format
    from prefix_bench.train import loss_of_batch

    _, tok = tiny_lm
    method = _fresh(tiny_dir, name).eval()
    batch, cpu = _batch(tok), torch.device("cpu")
    fmt = text_format(method.lm)
    with torch.no_grad():
        losses = [loss_of_batch(method, fmt, batch, TrainOptions(target_only_head=on), cpu) for on in (True, False)]
    torch.testing.assert_close(losses[0], losses[1], atol=1e-5, rtol=1e-5)
