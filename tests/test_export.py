"""`prefix-bench export`: a trained run as a PEFT adapter (prefix, LoRA) or a plain Hugging Face
model (fine-tuning) gives the run's own logits when loaded with those libraries alone."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from test_train_generate import make_spec
from transformers import AutoModelForCausalLM, AutoTokenizer

from prefix_bench.cli import main
from prefix_bench.generate import load_run
from prefix_bench.train import train_run


def _trained(workspace: Path, method: str, options: dict) -> Path:
    out = workspace / "runs" / f"export-{method}"
    if not (out / "run.json").is_file():
        train_run(make_spec(workspace, method, options, steps=3), workspace / "data", out, dev=False)
    return out


def _inputs(tok) -> tuple[torch.Tensor, torch.Tensor]:
    tok.padding_side = "right"  # PEFT's prefix positions agree with ours on right padding
    enc = tok([" name : The Eagle | food : French <|endoftext|>", " name : The Mill <|endoftext|>"],
              return_tensors="pt", padding=True)
    return enc.input_ids, enc.attention_mask


@pytest.mark.parametrize("method,options,to", [("prefix", {"length": 3, "mid_dim": 16}, "peft"),
                                               ("lora", {"r": 2}, "peft"),
                                               ("finetune", {}, "hf")])
def test_export_round_trip_gives_the_runs_logits(demo_workspace, tmp_path, method, options, to):
    from peft import PeftModel

    run_dir = _trained(demo_workspace, method, options)
    out = tmp_path / f"{method}-{to}"
    assert main(["export", "--to", to, "--run-dir", str(run_dir), "--out", str(out)]) == 0
    info = json.loads((out / "export.json").read_text())
    assert info["format"] == to and info["method"] == method
    _, ours, tok, _ = load_run(run_dir)
    ids, mask = _inputs(tok)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if to == "hf":
            theirs = AutoModelForCausalLM.from_pretrained(out).eval()
            assert AutoTokenizer.from_pretrained(out)(" name").input_ids == tok(" name").input_ids
        else:
            base = AutoModelForCausalLM.from_pretrained(demo_workspace / "model").eval()
            theirs = PeftModel.from_pretrained(base, str(out)).eval()
        expected = ours(ids, mask)
        got = theirs(input_ids=ids, attention_mask=mask).logits
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], atol=1e-4, rtol=1e-4)


def test_export_refuses_what_has_no_equivalent(demo_workspace, tmp_path, capsys):
    run_dir = _trained(demo_workspace, "prefix", {"length": 3, "mid_dim": 16})
    assert main(["export", "--to", "hf", "--run-dir", str(run_dir), "--out", str(tmp_path / "x")]) == 2
    assert "has no 'hf' export" in capsys.readouterr().err and not (tmp_path / "x").exists()
    (tmp_path / "taken").mkdir()
    assert main(["export", "--to", "peft", "--run-dir", str(run_dir), "--out", str(tmp_path / "taken")]) == 2
    assert "already exists" in capsys.readouterr().err
