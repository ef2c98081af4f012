"""The `bench` subcommand: its smoke mode runs every code path (both shapes' stand-ins, every
contender, every worker process, decoding, scoring) in seconds; speed is never asserted here."""

from __future__ import annotations

import json

import pytest
import torch

from prefix_bench.bench import TRAIN_KINDS, data_files, preset
from prefix_bench.bench.summary import ratios
from prefix_bench.bench.settings import GPT2_MEDIUM, GPT2_SMALL
from prefix_bench.bench.training import hf_trainer_optimizer
from prefix_bench.cli import build_parser, main
from prefix_bench.errors import PrefixBenchError


def test_bench_is_a_subcommand():
    args = build_parser().parse_args(["bench", "--out", "x.json", "--repeats", "3", "--shapes", "small"])
    assert args.command == "bench" and args.repeats == 3 and args.func.__module__ == "prefix_bench.bench"
    assert args.shapes == "small" and not args.demo_data and not args.smoke


def test_settings_per_device_and_shape():
    cpu = preset("cpu")
    assert list(cpu.shapes) == ["small", "medium"]
    assert cpu.shapes["small"].dims == GPT2_SMALL and cpu.shapes["medium"].dims == GPT2_MEDIUM
    assert cpu.shapes["small"].side_by_side and cpu.shapes["small"].decode
    assert not cpu.shapes["medium"].side_by_side  # seven medium contenders do not fit in memory together
    assert cpu.decode_sources == cpu.decode_batch == 32
    assert preset("cuda").max_new_tokens == 100  # the paper's decoding length on a GPU
    assert list(preset("cpu", ["medium"], steps=1).shapes) == ["medium"]
    assert preset("cpu", steps=1).shapes["small"].train_steps == 1
    with pytest.raises(PrefixBenchError, match="large"):
        preset("cpu", ["large"])


def test_no_silent_demo_data(tmp_path, capsys):
    with pytest.raises(PrefixBenchError, match="--data-dir"):
        data_files(None)
    root, note = data_files(None, demo=True)
    assert (root / "testset_w_refs.csv").is_file() and note.startswith("DEMO DATA")
    with pytest.raises(PrefixBenchError, match="devset.csv"):
        data_files(tmp_path)
    out = tmp_path / "bench.json"
    assert main(["bench", "--smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--data-dir" in err[0] and "--demo-data" in err[0]
    assert not out.exists()


def test_ratios_never_made_up():
    speed = {k: 10.0 for k in TRAIN_KINDS} | {"prefix": 30.0, "finetune_hf_default": 15.0, "peft_prefix": None}
    memory = {k: 100.0 for k in TRAIN_KINDS} | {"prefix": 50.0}
    decode = {"batched_sources_per_s": 3.0, "hf_batched_sources_per_s": 1.5, "one_at_a_time_sources_per_s": 0.5,
              "peft_nocache_sources_per_s": None}
    r = ratios(speed, memory, decode)
    assert r["prefix_vs_finetune_hf_default"] == 2.0 and r["prefix_vs_finetune_paper_code"] == 3.0
    assert r["prefix_memory_vs_finetune_ours"] == 0.5 and r["decode_batched_vs_one_at_a_time"] == 6.0
    assert r["prefix_vs_peft_prefix"] is None and r["decode_batched_vs_peft_nocache"] is None
    assert "decode_batched_vs_hf_batched" not in ratios(speed, memory, None)


def test_hf_default_contender_uses_the_trainers_default_optimizer():
    optimizer = hf_trainer_optimizer([torch.nn.Parameter(torch.zeros(3))])
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["fused"]
    assert optimizer.defaults["lr"] == 5e-5


def test_bench_smoke_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--smoke", "--demo-data", "--repeats", "2", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    s = preset(smoke=True)
    assert r["data"].startswith("DEMO DATA") and set(r["contenders"]) == set(TRAIN_KINDS)
    assert set(r["shapes"]) == {"small", "medium"}
    for name, sh in r["shapes"].items():
        shape = s.shapes[name]
        assert sh["model"] == shape.dims and sh["flops_agree_across_processes"]
        assert sh["ratios_from"] == ("side_by_side" if shape.side_by_side else "alone")
        assert len(sh["ratios_per_repeat"]) == 2 and sh["ratios"]["prefix_vs_finetune_hf_default"] > 0
        for kind in TRAIN_KINDS:
            t = sh["train"][kind]
            assert len(t["flops_per_batch"]) == shape.warmup_steps and min(t["flops_per_batch"]) > 0
            assert t["peak_mb"] > 0 and t["alone_tokens_per_s"] > 0 and 0 < t["fraction_of_peak_flops"]
            assert (t["tokens_per_s"] is not None) == shape.side_by_side
            for run in sh["runs"]["alone"][kind]:
                assert len(run["step_seconds"]) == shape.train_steps
        assert ("decode" in sh) == shape.decode
    small = r["shapes"]["small"]
    # prefix-tuning trains far fewer parameters than fine-tuning, and runs no weight gradients
    t = small["train"]
    assert t["prefix"]["trainable"] < t["finetune_hf_default"]["trainable"] == t["finetune_paper_code"]["trainable"]
    assert t["prefix"]["flops_per_batch"][0] < t["finetune_hf_default"]["flops_per_batch"][0]
    # identity is checked on every source decoded one at a time, which are the batched sources
    for run in small["runs"]["decode"]:
        assert run["sources"]["one_at_a_time"] == run["sources"]["batched"] == s.decode_sources
        assert run["sources_compared"] == s.decode_sources
        assert run["identical_sources"] == s.decode_sources and run["outputs_identical"]
    assert small["ratios"]["decode_batched_vs_one_at_a_time"] > 0
    assert r["score"]["e2e_test_seconds"] > 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].endswith(r["data"]) and "DEMO DATA" in printed.splitlines()[0]
    assert "full FT, HF Trainer defaults" in printed and f"{s.decode_sources}/{s.decode_sources} sources" in printed


def test_a_failing_worker_is_reported_in_one_line(tmp_path):
    from prefix_bench.bench.workers import run_worker

    with pytest.raises(PrefixBenchError, match="bench worker 'nonsense' at small failed: ValueError: unknown"):
        run_worker("nonsense", preset(smoke=True), "small", tmp_path, 0)
