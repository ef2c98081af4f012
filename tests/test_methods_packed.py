"""K prefix-tuning runs packed into one batch over one frozen LM train exactly as K separate runs."""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch

from prefix_bench.errors import PrefixBenchError
from prefix_bench.methods import build_method
from prefix_bench.methods.prefix.packed import PackedPrefixes, packed_update, per_run_losses
from prefix_bench.models.formatting import Encoded, collate
from prefix_bench.models.tiny import tiny_model
from prefix_bench.train import lm_head_at_targets, sequence_loss, update

VOCAB, EOS = 96, 95
OPTIONS = {"length": 3, "mid_dim": 16}


def pairs(seed: int, n: int) -> list[Encoded]:
    """Random source/target pairs of varying length (so the runs' batches pad differently)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        src = torch.randint(0, EOS, (int(torch.randint(2, 7, (1,), generator=g)),), generator=g).tolist()
        tgt = torch.randint(0, EOS, (int(torch.randint(2, 7, (1,), generator=g)),), generator=g).tolist()
        ids = src + [EOS] + tgt + [EOS]
        out.append(Encoded(ids, [-100] * (len(src) + 1) + tgt + [EOS]))
    return out


def fresh_runs(lm, k: int):
    runs = []
    for seed in range(k):
        torch.manual_seed(100 + seed)
        runs.append(build_method("prefix", lm, OPTIONS).train())
    return runs


@pytest.mark.parametrize("arch,target_only_head", [("tiny-gpt2", False), ("tiny-llama", False),
                                                   ("tiny-gpt2", True)])
def test_packed_runs_end_where_separate_runs_end(arch, target_only_head):
    lm = tiny_model(arch, VOCAB, EOS, seed=0).eval()
    k, steps, lrs = 3, 3, [1e-2, 5e-3, 2e-2]
    data = {run: [pairs(10 * run + s, 2 + run) for s in range(steps)] for run in range(k)}  # 2, 3, 4 rows

    separate = fresh_runs(lm, k)
    start = [copy.deepcopy(r.state_dict()) for r in separate]
    separate_losses = []
    for run, method in enumerate(separate):
        params = [p for p in method.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lrs[run])
        for s in range(steps):
            batch = collate(data[run][s], EOS, torch.device("cpu"))
            loss = sequence_loss(method(batch["input_ids"], batch["attention_mask"]), batch["labels"], "sum")
            separate_losses.append((run, s, loss.item()))
            update(loss, opt, params, 0.05)  # a small clip, so clipping acts on every step

    packed_runs = fresh_runs(lm, k)
    for method, state in zip(packed_runs, start):
        method.load_state_dict(state)
    packed = PackedPrefixes(packed_runs)
    groups = packed.run_parameters()
    opt = torch.optim.AdamW([{"params": g, "lr": lr} for g, lr in zip(groups, lrs)])
    packed_losses = []
    for s in range(steps):
        examples = [e for run in range(k) for e in data[run][s]]
        rows = [len(data[run][s]) for run in range(k)]
        batch = collate(examples, EOS, torch.device("cpu"))
        heads = lm_head_at_targets(lm, batch["labels"]) if target_only_head else contextlib.nullcontext()
        with heads:  # the trainer's target-only LM head gives logits [targets, V]
            logits = packed(batch["input_ids"], batch["attention_mask"], rows)
        losses = per_run_losses(logits, batch["labels"], rows, packed.objective)
        packed_losses += [(run, s, losses[run].item()) for run in range(k)]
        packed_update(losses, opt, groups, 0.05)

    assert [x[:2] for x in sorted(packed_losses)] == [x[:2] for x in sorted(separate_losses)]
    assert [x[2] for x in sorted(packed_losses)] == pytest.approx([x[2] for x in sorted(separate_losses)],
                                                                  abs=1e-5)
    for one, other in zip(separate, packed_runs):
        for a, b in zip(one.parameters(), other.parameters()):
            if a.requires_grad:
                # Adam moves each weight by ~lr (1e-2) a step; float noise on near-zero gradients is
                # amplified by its normalisation, so allow 2% of one step
                torch.testing.assert_close(b, a, atol=2e-4, rtol=1e-3)
        assert not torch.equal(one.prefix.flat(), fresh_runs(lm, 1)[0].prefix.flat())  # it trained


def test_packing_refuses_runs_of_different_prefix_shapes():
    lm = tiny_model("tiny-gpt2", VOCAB, EOS, seed=0)
    a = build_method("prefix", lm, {"length": 3, "mid_dim": 16})
    b = build_method("prefix", lm, {"length": 4, "mid_dim": 16})
    with pytest.raises(PrefixBenchError, match="one prefix shape"):
        PackedPrefixes([a, b])
