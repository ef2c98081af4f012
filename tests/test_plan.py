"""`prefix-bench plan`: a config's runs, tokens, FLOPs and hours, without running anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from prefix_bench.cli import main

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "results" / "bench" / "gpu-h200.json"

# GPT-2 medium (its shape is known without weights), E2E low-data subsets: prefix runs of one
# shape on two subsets (packable), fine-tuning (not), and a second experiment whose prefix run is
# the first experiment's (shared: a run, not a job).
SMALL = {
    "datasets": {
        "e2e": {"source_dir": None},
        "e2e_small": {"derive_grid": {"from": "e2e", "subset_size": [50, 100], "subset_seed": [0],
                                      "name": "e2e_n{subset_size}_s{subset_seed}"}},
    },
    "models": {"gpt2-medium": {"path": "gpt2-medium"}},
    "experiments": {
        "lowdata": {
            "datasets": ["e2e_small"], "models": ["gpt2-medium"], "seeds": [1, 2],
            "overrides": {"train": {"batch_size": 5}},
            "sweep": {"train.max_steps": [100, 200]},
            "variants": {"prefix": {"method": "prefix", "method_options": {"length": 5}},
                         "finetune": {"method": "finetune"}},
        },
        "again": {
            "dataset": "e2e_n50_s0", "models": ["gpt2-medium"], "seeds": [1],
            "overrides": {"train": {"batch_size": 5, "max_steps": 100}},
            "variants": {"prefix": {"method": "prefix", "method_options": {"length": 5}}},
        },
    },
}


@pytest.fixture
def small_config(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no prepared data of this checkout is read
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(SMALL, sort_keys=False), encoding="utf-8")
    return path


def plan_json(config: Path, tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "plan.json"
    assert main(["plan", "--configfile", str(config), "--json", str(out), *args]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_plan_prints_experiments_and_total(small_config, tmp_path, capsys):
    p = plan_json(small_config, tmp_path)
    text = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.split()}
    assert rows["lowdata"][1:3] == ["16", "16"]  # 2 subsets x 2 methods x 2 step budgets x 2 seeds
    assert rows["again"][1:3] == ["1", "0"]  # identical to lowdata's run: reported, not trained
    assert rows["total"][1:3] == ["17", "16"]
    assert p["total"]["jobs"] == 16 and p["total"]["train_flops"] > 0 and p["total"]["decode_flops"] > 0
    assert p["total"]["hours"] == pytest.approx(sum(j["seconds"] for j in p["jobs"]) / 3600)
    assert p["datasets"]["e2e_n50_s0"]["train_pairs"] == 50
    finetune = next(j for j in p["jobs"] if j["method"] == "finetune" and "max_steps200" in j["run"])
    assert finetune["steps"] == 200 and finetune["examples"] == 200 * 5


def test_full_finetuning_costs_more_per_token_than_prefix_tuning(small_config, tmp_path, capsys):
    per_token = {x["method"]: x for x in plan_json(small_config, tmp_path)["flops_per_token"]}
    assert per_token["finetune"]["flops_per_token"] > per_token["prefix"]["flops_per_token"]
    assert 5.8 < per_token["finetune"]["times_n"] < 6.6  # 6N
    assert 3.8 < per_token["prefix"]["times_n"] < 4.6  # 4N: no weight gradients of the frozen LM


@pytest.mark.parametrize("bench", [None, BENCH])
def test_packing_saves_time_and_never_costs_more(small_config, tmp_path, capsys, bench):
    extra = ["--bench", str(bench)] if bench else []
    packed = plan_json(small_config, tmp_path, *extra)
    alone = plan_json(small_config, tmp_path, "--pack", "1", *extra)
    assert alone["packs"] == [] and alone["total"]["hours_packed"] == pytest.approx(alone["total"]["hours"])
    assert packed["total"]["hours"] == pytest.approx(alone["total"]["hours"])
    assert packed["total"]["hours_packed"] < packed["total"]["hours"]
    assert all(j["seconds_packed"] <= j["seconds"] * (1 + 1e-9) for j in packed["jobs"])
    members = [run for pack in packed["packs"] for run in pack["runs"]]
    assert members and all("prefix" in run for run in members) and len(members) == len(set(members))
    assert all(2 <= len(pack["runs"]) <= 8 for pack in packed["packs"])


def test_packs_never_cross_experiments(tmp_path, monkeypatch, capsys):
    """As the workflow packs (`packing.plan_packs`): two experiments' prefix runs of one shape,
    one run each, form no pack; a second seed in one of them does."""
    monkeypatch.chdir(tmp_path)
    one = {"dataset": "e2e_n50_s0", "models": ["gpt2-medium"], "seeds": [1],
           "overrides": {"train": {"batch_size": 5, "max_steps": 100}},
           "variants": {"prefix": {"method": "prefix", "method_options": {"length": 5}}}}
    config = {**SMALL, "experiments": {"a": one, "b": {**one, "overrides": {"train": {"batch_size": 5,
                                                                                     "max_steps": 200}}}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    assert plan_json(path, tmp_path)["packs"] == []
    config["experiments"]["b"]["seeds"] = [1, 2]
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    packs = plan_json(path, tmp_path)["packs"]
    assert [sorted(run.split("/")[0] for run in pack["runs"]) for pack in packs] == [["b", "b"]]


def test_each_time_figure_names_its_source(small_config, tmp_path, capsys):
    plan_json(small_config, tmp_path)
    assumed = capsys.readouterr().out
    assert "assumed MFU 35% of the bf16 peak 989 TFLOP/s" in assumed
    p = plan_json(small_config, tmp_path, "--bench", str(BENCH))
    measured = capsys.readouterr().out
    assert "measured: gpu-h200.json prefix_lm_bf16 batch 10" in measured
    assert "measured: gpu-h200.json finetune batch 10" in measured
    assert "measured: gpu-h200.json packing (8 runs x 10 rows)" in measured
    assert {j["source"] for j in p["jobs"]} == {"measured: gpu-h200.json prefix_lm_bf16 batch 10",
                                                "measured: gpu-h200.json finetune batch 10"}
    fp32 = plan_json(small_config, tmp_path, "--bench", str(BENCH), "--precision", "fp32")
    assert all("fp32 peak 67 TFLOP/s" in j["source"] and "bf16 measured" in j["source"] for j in fp32["jobs"])


def test_paper_config_runs_and_measured_rows(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    p = plan_json(REPO / "config" / "config.yaml", tmp_path, "--bench", str(BENCH), "--precision", "bf16")
    assert (p["total"]["runs"], p["total"]["jobs"]) == (895, 853)
    assert all(j["source"].startswith("measured: gpu-h200.json") for j in p["jobs"])
    xsum_prefix = sum(j["train_flops"] for j in p["jobs"] if j["method"] == "prefix_bart")
    assert xsum_prefix > 0.5 * p["total"]["train_flops"]  # the 30-epoch XSum prefix runs dominate


@pytest.mark.parametrize("args,message", [
    (["--device", "tpu9"], "unknown device 'tpu9'"),
    (["--device", "cpu"], "--device cpu has no datasheet peak"),
    (["--pack", "0"], "--pack must be >= 1"),
    (["--bench", "missing.json"], "missing.json: bench file not found"),
    (["--bench", "bad.json"], "bad.json: missing field train"),
    (["--bench", str(BENCH), "--device", "a100"], "measured on NVIDIA H200, not a100"),
])
def test_bad_input_is_one_line_and_exit_2(small_config, capsys, args, message):
    bench = json.loads(BENCH.read_text(encoding="utf-8"))
    del bench["train"]
    Path("bad.json").write_text(json.dumps(bench), encoding="utf-8")
    assert main(["plan", "--configfile", str(small_config), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prefix-bench plan: error: ") and message in err and "\n" not in err


def test_missing_config_is_one_line(tmp_path, capsys):
    assert main(["plan", "--configfile", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.strip() == f"prefix-bench plan: error: {tmp_path / 'nope.yaml'}: config not found"
