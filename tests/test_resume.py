"""Kill training with SIGKILL at several points; the rerun resumes and ends bit-identical."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


STEPS = 12


@pytest.fixture(scope="module")
def workspace(demo_workspace) -> Path:
    return demo_workspace


def spec_json(root: Path, method: str) -> str:
    options = {"length": 3, "mid_dim": 16, "dropout": 0.1} if method == "prefix" else {}
    return json.dumps({
        "run_id": f"r/{method}", "experiment": "r", "dataset": "e2e", "model": "tiny-gpt2",
        "model_path": str(root / "model"), "method": method, "method_options": options,
        "train": {"lr": 1e-3, "max_steps": STEPS, "batch_size": 4, "device": "cpu", "checkpoint_every": 3,
                  "log_every": 1, "threads": 1},
    })


KILLER = Path(__file__).with_name("kill_after_step.py")


def train(root: Path, method: str, out: Path, kill_after: int = 0, spec: str | None = None
          ) -> subprocess.CompletedProcess:
    """`prefix-bench train` in a fresh process; SIGKILLed right after step `kill_after` (0: never)."""
    args = ["train", "--spec-json", spec or spec_json(root, method), "--data-dir", str(root / "data"),
            "--out-dir", str(out)]
    cmd = [sys.executable, str(KILLER), str(kill_after), *args] if kill_after else \
        [sys.executable, "-m", "prefix_bench.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("method", ["prefix", "finetune"])
def test_sigkill_then_resume_is_bit_identical(workspace, method):
    reference = workspace / f"{method}-uninterrupted"
    assert train(workspace, method, reference).returncode == 0
    ref_record = json.loads((reference / "run.json").read_text())

    out = workspace / f"{method}-killed"
    for kill_after, expect_resume in ((4, None), (8, 3), (11, 6)):
        result = train(workspace, method, out, kill_after=kill_after)
        assert result.returncode == -9, result.stderr[-2000:]  # really SIGKILLed
        assert not (out / "trained.safetensors").exists() and not (out / "run.json").exists()
    result = train(workspace, method, out)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((out / "run.json").read_text())
    assert record["training"]["resumed_from_step"] == 9  # the last checkpoint, not from scratch
    assert (out / "trained.safetensors").read_bytes() == (reference / "trained.safetensors").read_bytes()
    assert record["training"]["history"] == ref_record["training"]["history"]
    assert record["training"]["dev_loss"] == ref_record["training"]["dev_loss"]


def test_checkpoint_of_other_settings_is_not_resumed_and_finished_runs_leave_none(workspace):
    out = workspace / "changed-settings"
    assert train(workspace, "prefix", out, kill_after=4).returncode == -9
    assert (out / "checkpoint").is_dir()
    changed = json.loads(spec_json(workspace, "prefix"))
    changed["train"]["lr"] = 5e-4  # the user edited the config: Snakemake reruns the job
    result = train(workspace, "prefix", out, spec=json.dumps(changed))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "starting from scratch" in result.stderr
    assert json.loads((out / "run.json").read_text())["training"]["resumed_from_step"] is None
    assert not (out / "checkpoint").exists()
