"""Kill training with SIGKILL at several points; the rerun resumes and ends bit-identical."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest


STEPS = 12
METHODS = ("prefix", "finetune")
KILLS = (4, 8, 11)  # checkpoints every 3 steps: the reruns resume from 3, then 6, the last from 9


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


def kill_and_resume(root: Path, method: str) -> list[tuple[subprocess.CompletedProcess, bool]]:
    """Train into one directory, SIGKILLed after each step of KILLS, then once to the end; per
    attempt its result and whether it left a final output (trained.safetensors or run.json)."""
    out = root / f"{method}-killed"
    attempts = []
    for kill_after in (*KILLS, 0):
        result = train(root, method, out, kill_after=kill_after)
        attempts.append((result, (out / "trained.safetensors").exists() or (out / "run.json").exists()))
    return attempts


@pytest.fixture(scope="module")
def trained(workspace) -> dict:
    """method -> (uninterrupted reference result, killed-then-resumed attempts). The four process
    sequences are independent and single-threaded: they run two at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        chains = {m: pool.submit(kill_and_resume, workspace, m) for m in METHODS}
        references = {m: pool.submit(train, workspace, m, workspace / f"{m}-uninterrupted") for m in METHODS}
        return {m: (references[m].result(), chains[m].result()) for m in METHODS}


@pytest.mark.parametrize("method", METHODS)
def test_sigkill_then_resume_is_bit_identical(workspace, trained, method):
    reference_result, attempts = trained[method]
    assert reference_result.returncode == 0, reference_result.stderr[-2000:]
    reference = workspace / f"{method}-uninterrupted"
    ref_record = json.loads((reference / "run.json").read_text())

    out = workspace / f"{method}-killed"
    *killed, (result, _) = attempts
    for killed_result, left_outputs in killed:
        assert killed_result.returncode == -9, killed_result.stderr[-2000:]  # really SIGKILLed
        assert not left_outputs  # a killed run never leaves what marks a run as finished
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
