"""The `bench` subcommand's plumbing (the measurements themselves run only in `prefix-bench bench`)."""

from __future__ import annotations

from prefix_bench.bench import TRAIN_KINDS, BenchSettings, data_files, ratios, table
from prefix_bench.cli import build_parser


def test_bench_is_a_subcommand():
    args = build_parser().parse_args(["bench", "--device", "cpu", "--out", "x.json", "--repeats", "3"])
    assert args.command == "bench" and args.repeats == 3 and args.func.__module__ == "prefix_bench.bench"


def test_ratios_and_table_from_figures():
    train = {f"{k}_{m}": v for k in TRAIN_KINDS
             for m, v in (("tokens_per_s", 10.0), ("peak_mb", 100.0), ("fraction_of_peak_flops", 0.5))}
    train.update(prefix_tokens_per_s=30.0, finetune_tokens_per_s=15.0, prefix_peak_mb=50.0, finetune_peak_mb=100.0,
                 peft_prefix_peak_mb=80.0)
    decode = {"batched_sources_per_s": 3.0, "hf_batched_sources_per_s": 1.5, "one_at_a_time_sources_per_s": 1.0,
              "peft_nocache_sources_per_s": None, "outputs_identical": True}
    result = {"train": train, "decode": decode, "score": {"e2e_test_seconds": None, "error": "x"}}
    result["ratios"] = r = ratios(train, decode)
    assert r["prefix_vs_peft"] == 3.0 and r["prefix_vs_finetune"] == 2.0
    assert r["prefix_memory_vs_finetune"] == 0.5 and r["decode_batched_vs_one_at_a_time"] == 3.0
    assert r["decode_batched_vs_peft_nocache"] is None  # missing figure: no ratio, never a made-up one
    assert "ours prefix" in table(result) and "n/a" in table(result)


def test_settings_per_device_and_data_fallback(tmp_path):
    assert BenchSettings.for_device("cuda").max_new_tokens == 100  # paper decoding length on a GPU
    assert BenchSettings.for_device("cpu").train_steps < BenchSettings.for_device("cuda").train_steps
    root, note = data_files(None)
    assert (root / "testset_w_refs.csv").is_file() and note
