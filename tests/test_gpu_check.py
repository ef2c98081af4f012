"""The GPU check runs end to end in its CPU smoke mode, so it is known to work when a GPU appears."""

from __future__ import annotations

import json
import math

from prefix_bench.bench.gpu_check import TRAIN_CONTENDERS, CheckSettings
from prefix_bench.cli import main


def test_gpu_check_smoke_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    assert main(["gpu-check", "--smoke", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    s = CheckSettings.smoke()
    assert set(r["train"]) == {f"{k}@{b}" for k in TRAIN_CONTENDERS for b in s.train_batches}
    for v in r["train"].values():
        assert v["step_ms"] > 0 and v["flops_per_step"] > 0 and math.isfinite(v["tokens_per_s"])
    # prefix-tuning trains far fewer parameters than fine-tuning, and needs no weight gradients
    small = s.train_batches[0]
    assert r["train"][f"prefix@{small}"]["trainable"] < r["train"][f"finetune@{small}"]["trainable"]
    assert r["train"][f"prefix@{small}"]["flops_per_step"] < r["train"][f"finetune@{small}"]["flops_per_step"]
    assert r["packing"]["runs"] == s.packed_runs and r["packing"]["speedup_vs_separate"] > 0
    d = r["decode"]
    assert d["fp32_identical_sources"] == d["sources"] == s.decode_sources
    assert d["mean_new_tokens"] > 0
    pooled = r["decode_pooled"]
    for search in ("own", "hf"):  # pooled batches decode what each run decodes alone
        assert pooled[search]["fp32_identical"] == pooled[search]["outputs"] == s.packed_runs * s.decode_sources // 2
        assert pooled[search]["speedup"] > 0
    for method in ("prefix", "finetune"):
        p = r["pipeline"][method]
        assert p["device"] == "cpu" and p["steps"] == 30 and p["units_decoded"] == 40
        assert math.isfinite(p["dev_loss"])
    assert "identical to one-at-a-time in fp32: 4/4" in capsys.readouterr().out


def test_gpu_check_without_a_gpu_names_the_smoke_mode(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["gpu-check", "--out", str(tmp_path / "gpu.json")]) == 2
    assert "--smoke" in capsys.readouterr().err
    assert not (tmp_path / "gpu.json").exists()
