"""Training-speed switches must not change what is learnt (speed itself: `prefix-bench bench`)."""

from __future__ import annotations

import pytest
import torch

from prefix_bench.methods import build_method
from prefix_bench.models.formatting import encode_pair
from prefix_bench.train import collate, epoch_order, length_bucketed, lm_head_at_targets, sequence_loss

PAIRS = [("name : The Eagle | Type : pub", "The Eagle is a pub."),
         ("name : Alimentum", "Alimentum is in the city centre and is not family-friendly."),
         ("name : The Mill | Type : pub | food : Italian | near : Cafe Rouge", "The Mill.")]


@pytest.mark.parametrize("method_name,options", [("prefix", {"length": 3, "mid_dim": 16}), ("finetune", {})])
def test_target_only_head_same_loss_and_gradients(tiny_lm, method_name, options):
    lm, tok = tiny_lm
    torch.manual_seed(0)
    method = build_method(method_name, lm, options).train()
    batch = collate([encode_pair(tok, s, t, 64, 64) for s, t in PAIRS], tok.pad_token_id, torch.device("cpu"))
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
