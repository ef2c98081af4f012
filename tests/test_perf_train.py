"""Training-speed switches must not change what is learnt (speed itself: `prefix-bench bench`)."""

from __future__ import annotations

import contextlib
import copy
import sys

import pytest
import torch

from prefix_bench.config import TrainOptions
from prefix_bench.methods import build_method
from prefix_bench.models.formatting import encode_pair
from prefix_bench.models.speedups import chunked_linear, fuse_gelu
from prefix_bench.runtime import keep_freed_memory
from prefix_bench.train import (
    build_optimizer,
    collate,
    epoch_order,
    length_bucketed,
    lm_head_at_targets,
    prepare_lm,
    sequence_loss,
)

PAIRS = [("name : The Eagle | Type : pub", "The Eagle is a pub."),
         ("name : Alimentum", "Alimentum is in the city centre and is not family-friendly."),
         ("name : The Mill | Type : pub | food : Italian | near : Cafe Rouge", "The Mill.")]


def pairs_batch(tok) -> dict:
    """PAIRS encoded and padded as one training batch."""
    return collate([encode_pair(tok, s, t, 64, 64) for s, t in PAIRS], tok.pad_token_id, torch.device("cpu"))


@pytest.mark.parametrize("method_name,options", [("prefix", {"length": 3, "mid_dim": 16}), ("finetune", {})])
def test_target_only_head_same_loss_and_gradients(tiny_lm, method_name, options):
    lm, tok = tiny_lm
    torch.manual_seed(0)
    method = build_method(method_name, lm, options).train()
    batch = pairs_batch(tok)
    params = [p for p in method.parameters() if p.requires_grad]

    torch.manual_seed(1)  # same dropout masks in both passes (fine-tuning keeps LM dropout on)
    full = sequence_loss(method(batch["input_ids"], batch["attention_mask"]), batch["labels"], method.objective)
    full_grads = torch.autograd.grad(full, params)
    torch.manual_seed(1)
    with lm_head_at_targets(method.lm, batch["labels"]):
        logits = method(batch["input_ids"], batch["attention_mask"])
    assert logits.shape == (int((batch["labels"][:, 1:] != -100).sum()), lm.config.vocab_size)
    fast = sequence_loss(logits, batch["labels"], method.objective)
    fast_grads = torch.autograd.grad(fast, params)
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-6)
    for a, b in zip(fast_grads, full_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # the hook is gone afterwards: a plain forward gives full [B, T, V] logits again
    assert method(batch["input_ids"], batch["attention_mask"]).shape[:2] == batch["input_ids"].shape


def test_chunked_head_same_loss_and_gradients(tiny_lm):
    """The CPU head in vocabulary slices (slice 7: several slices, a ragged last one) = one matmul."""
    lm, tok = tiny_lm
    torch.manual_seed(0)
    method = build_method("prefix", lm, {"length": 3, "mid_dim": 16}).train()
    batch = pairs_batch(tok)
    params = [p for p in method.parameters() if p.requires_grad]
    results = []
    for chunk in (None, 7):
        with lm_head_at_targets(method.lm, batch["labels"], chunk):
            loss = sequence_loss(method(batch["input_ids"], batch["attention_mask"]), batch["labels"], "sum")
        results.append((loss, torch.autograd.grad(loss, params)))
    (plain, plain_grads), (chunked, chunked_grads) = results
    torch.testing.assert_close(chunked, plain, rtol=1e-6, atol=1e-6)
    for a, b in zip(chunked_grads, plain_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert "forward" not in vars(lm.get_output_embeddings())  # the class's own forward is back


def test_chunked_linear_gradients_for_weight_and_bias():
    """Fine-tuning trains the head too: weight and bias gradients of the slices = F.linear's."""
    torch.manual_seed(0)
    x, w, b = (torch.randn(5, 8, requires_grad=True), torch.randn(23, 8, requires_grad=True),
               torch.randn(23, requires_grad=True))
    ours = chunked_linear(x, w, b, chunk=6)
    plain = torch.nn.functional.linear(x, w, b)
    torch.testing.assert_close(ours, plain)
    g = torch.randn_like(plain)
    for a, c in zip(torch.autograd.grad(ours, (x, w, b), g), torch.autograd.grad(plain, (x, w, b), g)):
        torch.testing.assert_close(a, c)


def test_fused_gelu_same_function(tiny_lm):
    """gelu_new and the fused tanh-GELU kernel are one formula: logits agree to float rounding."""
    lm, tok = tiny_lm
    fused = copy.deepcopy(lm).eval()
    assert fuse_gelu(fused) == lm.config.n_layer
    assert fuse_gelu(fused) == 0  # idempotent: nothing left to replace
    ids = torch.tensor([tok("name : The Eagle | Type : pub").input_ids])
    with torch.no_grad():
        torch.testing.assert_close(fused(input_ids=ids).logits, lm.eval()(input_ids=ids).logits,
                                   rtol=1e-5, atol=1e-5)


def test_speed_switches_learn_the_same_prefix(tiny_lm):
    """Ten optimizer steps with all training speed switches on vs off end at the same prefix."""
    lm, tok = tiny_lm
    batch = pairs_batch(tok)
    finals = []
    for on in (False, True):
        opts = TrainOptions(fused_gelu=on, fused_adamw=on, target_only_head=on, lr=1e-3)
        model = copy.deepcopy(lm)
        prepare_lm(model, opts)
        torch.manual_seed(0)
        method = build_method("prefix", model, {"length": 3, "mid_dim": 16}).train()
        params = [p for p in method.parameters() if p.requires_grad]
        optimizer = build_optimizer(params, opts)
        start = torch.cat([p.detach().flatten() for p in params])
        for _ in range(10):
            heads = lm_head_at_targets(model, batch["labels"], 7) if on else contextlib.nullcontext()
            with heads:
                loss = sequence_loss(method(batch["input_ids"], batch["attention_mask"]), batch["labels"], "sum")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        finals.append(torch.cat([p.detach().flatten() for p in params]))
        assert (finals[-1] - start).abs().max() > 1e-3  # it did learn something
    torch.testing.assert_close(finals[1], finals[0], rtol=1e-4, atol=1e-5)


def test_length_buckets_is_a_deterministic_permutation_of_sorted_batches():
    lengths = [(7 * i) % 23 for i in range(50)]
    order = epoch_order(50, seed=1, epoch=0)
    a = length_bucketed(order, lengths, batch_size=4, window=5, seed=1, epoch=0)
    assert sorted(a) == list(range(50)) and a == length_bucketed(order, lengths, 4, 5, 1, 0)
    batches = [a[i : i + 4] for i in range(0, 50, 4)]
    # each batch comes from one sorted window, so its lengths are close to each other
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    plain = sum(max(lengths[i] for i in order[j : j + 4]) - min(lengths[i] for i in order[j : j + 4])
                for j in range(0, 50, 4))
    assert spread < plain


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_keep_freed_memory_takes_effect_on_glibc_and_leaves_results_alone():
    """The allocator switch is accepted by glibc; tensors computed afterwards are the same."""
    torch.manual_seed(0)
    a, b = torch.randn(300, 200), torch.randn(200, 5000)  # a 6 MB product: above glibc's default threshold
    before = a @ b
    assert keep_freed_memory() is True
    torch.testing.assert_close(a @ b, before, rtol=0, atol=0)
