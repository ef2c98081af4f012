"""Precision is a named option: what it does to the weights, and that every run and prediction
file records what ran (CPU: always fp32)."""

from __future__ import annotations

import json

import torch

from prefix_bench import precision
from prefix_bench.config import parse_run_spec
from prefix_bench.generate import generate_split
from prefix_bench.methods import build_method
from prefix_bench.models.tiny import tiny_model
from prefix_bench.train import train_run


def test_bf16_holds_only_the_frozen_weights_in_bf16():
    lm = tiny_model("tiny-gpt2", 64, 63)
    method = build_method("prefix", lm, {"length": 2, "mid_dim": 8})
    # a CUDA device object decides the policy; the tensors may live anywhere
    record = precision.apply(method, torch.device("cuda"), "bf16", tf32=False)
    assert {p.dtype for p in method.lm.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in method.prefix.parameters()} == {torch.float32}  # what trains stays fp32
    assert record["compute"] == "bf16-autocast" and record["frozen_weights"] == "bfloat16"


def test_fp32_and_cpu_leave_every_weight_in_fp32():
    for device, requested in ((torch.device("cuda"), "fp32"), (torch.device("cpu"), "bf16")):
        method = build_method("prefix", tiny_model("tiny-gpt2", 64, 63), {"length": 2, "mid_dim": 8})
        record = precision.apply(method, device, requested, tf32=False)
        assert {p.dtype for p in method.parameters()} == {torch.float32}
        assert record["compute"] == "fp32" and record["requested"] == requested


def test_fine_tuning_has_no_frozen_weights_to_cast():
    method = build_method("finetune", tiny_model("tiny-gpt2", 64, 63), {})
    precision.apply(method, torch.device("cuda"), "bf16", tf32=False)
    assert {p.dtype for p in method.parameters()} == {torch.float32}


def test_runs_and_predictions_record_precision_and_decoding_identity(demo_workspace):
    spec = parse_run_spec({
        "run_id": "p/prefix", "experiment": "p", "dataset": "e2e", "model": "tiny-gpt2",
        "model_path": str(demo_workspace / "model"), "method": "prefix",
        "method_options": {"length": 2, "mid_dim": 8},
        "train": {"max_steps": 3, "batch_size": 4, "device": "cpu", "precision": "bf16"},
        "generate": {"num_beams": 2, "max_new_tokens": 4},
    })
    out = demo_workspace / "runs" / "precision"
    record = train_run(spec, demo_workspace / "data", out)
    assert record["precision"]["compute"] == "fp32" and record["precision"]["requested"] == "bf16"
    assert "generate" not in record["spec"]  # decoding settings live with the predictions
    info = generate_split(out, demo_workspace / "data" / "test.eval.jsonl", out / "test.txt", spec.generate)
    saved = json.loads((out / "test.json").read_text())
    assert saved == json.loads(json.dumps(info))
    assert saved["device"] == "cpu" and saved["precision"]["compute"] == "fp32"
    assert saved["generate_options"]["num_beams"] == 2 and saved["decode_hash"] == spec.generate.identity()
    assert saved["config_hash"] == record["config_hash"]
    # base model and tokenizer identity, and the code behind the predictions
    assert {"model.safetensors", "tokenizer.json", "config.json"} <= set(record["model"]["files_sha256"])
    assert set(saved["code"]) >= {"commit", "dirty", "prefix_bench"}
