"""The paper's parameter counts, recomputed from real model shapes on the meta device (no weights)."""

from __future__ import annotations

import pytest

from prefix_bench.models.accounting import method_counts


def test_prefix_stored_table_gpt2_medium():
    assert method_counts("prefix", "gpt2-medium", {"length": 5})["stored"] == 245_760
    assert method_counts("prefix", "gpt2-medium", {"length": 10})["stored"] == 491_520


def test_finetune_top2_gpt2_medium():
    c = method_counts("finetune_top2", "gpt2-medium")
    assert c["trainable"] == pytest.approx(25.19e6, abs=0.01e6)  # 25,194,496


@pytest.mark.parametrize("bottleneck,percent", [(215, 3.0), (6, 0.1)])
def test_adapter_sizes_gpt2_medium(bottleneck, percent):
    c = method_counts("adapter", "gpt2-medium", {"bottleneck": bottleneck})
    assert c["stored_percent"] == pytest.approx(percent, rel=0.05)


def test_bart_large_prefix_is_about_two_percent():
    c = method_counts("prefix_bart", "bart-large", {"length": 100, "mid_dim": 800})
    assert c["stored"] == 3 * 100 * 12 * 2 * 1024  # 7,372,800
    assert c["stored_percent"] == pytest.approx(2.0, abs=0.25)  # 1.81% of 406.3M
