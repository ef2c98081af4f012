"""The smoke DAG (config/smoke.yaml: the demo sample with the tiny random model) runs end to end with the CI profile, in a temporary
copy of the workflow (never the repository's results/), and a second invocation has nothing to do.
The tests run it at a smaller size (`write_smoke_config`: fewer steps, a smaller beam, shorter
outputs): every stage still runs, and training still writes a checkpoint and crosses an epoch.

The finished run is cached for the session: tests/test_slurm.py compares its SLURM run's metrics
with this local run's (`demo_local_run`, `score_metrics`). Not marked `slow`: CI (which deselects
slow tests) needs this run for the SLURM comparison anyway, and the two checks here add seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# What a workflow run needs besides the installed package: the workflow itself, the configs,
# the profiles and the demo data the demo config points at (relative to the working directory).
WORKFLOW_PARTS = ["Snakefile", "workflow", "config", "profiles"]
DEMO_DATA = Path("prefix_bench") / "resources" / "demo"
DEMO_TIMEOUT_S = 900
# The test-size smoke run, written next to the workflow copy (outside config/, whose files other
# tests enumerate). 40 steps (~31 per epoch) still cross an epoch boundary and a checkpoint;
# decoding stays beam search; the shipped 200 steps, beam 5, 40 tokens only take longer.
SMOKE = "smoke-test.yaml"
SMOKE_SIZE = {"train": {"max_steps": 40, "checkpoint_every": 20, "log_every": 10},
              "generate": {"num_beams": 2, "max_new_tokens": 12}}

_LOCAL_RUN: dict[str, Path] = {}


def copy_workflow(dest: Path) -> Path:
    """A runnable copy of the workflow in `dest` (results/ and .snakemake/ are not copied)."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / part)
    shutil.copytree(REPO / DEMO_DATA, dest / DEMO_DATA)
    return dest


def workflow_env() -> dict:
    """Offline, no busy-waiting threads, and this interpreter's `prefix-bench` on PATH."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_WAIT_POLICY="PASSIVE")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def run_snakemake(workdir: Path, *args: str, timeout: int = DEMO_TIMEOUT_S,
                  env: dict | None = None) -> subprocess.CompletedProcess:
    # `timeout -s KILL` is the hard stop: Python's own timeout cannot reap a hung grandchild.
    cmd = ["timeout", "-s", "KILL", str(timeout), sys.executable, "-m", "snakemake", *args]
    return subprocess.run(cmd, cwd=workdir, env=env or workflow_env(), capture_output=True, text=True,
                          timeout=timeout + 30)


def score_metrics(workdir: Path) -> dict[str, dict[str, float]]:
    """run/split -> the metric values of its scores JSON (the float entries at the top level)."""
    out = {}
    for path in sorted((workdir / "results" / "runs").glob("*/*/scores/*.json")):
        data = json.loads(path.read_text())
        key = str(path.relative_to(workdir / "results" / "runs"))
        out[key] = {k: v for k, v in data.items() if isinstance(v, float)}
    return out


def write_smoke_config(workdir: Path) -> str:
    """config/smoke.yaml at test size (SMOKE_SIZE) as `workdir`/SMOKE; returns that relative path."""
    config = yaml.safe_load((workdir / "config" / "smoke.yaml").read_text())
    for section, values in SMOKE_SIZE.items():
        config["defaults"][section].update(values)
    (workdir / SMOKE).write_text(yaml.safe_dump(config, sort_keys=False))
    return SMOKE


def failure_report(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout (tail)\n{result.stdout[-6000:]}\n--- stderr (tail)\n{result.stderr[-6000:]}"


@pytest.fixture(scope="session")
def demo_local_run(tmp_path_factory) -> Path:
    """The demo DAG run locally once per session (profiles/ci); returns its working directory."""
    if "dir" not in _LOCAL_RUN:
        workdir = copy_workflow(tmp_path_factory.mktemp("demo-local"))
        result = run_snakemake(workdir, "--workflow-profile", "profiles/ci", "--configfile", write_smoke_config(workdir))
        assert result.returncode == 0, failure_report(result)
        _LOCAL_RUN["dir"] = workdir
    return _LOCAL_RUN["dir"]


def test_demo_dag_runs_locally(demo_local_run):
    report = demo_local_run / "results" / "report" / "runs.md"
    assert report.is_file() and report.read_text().strip()
    metrics = score_metrics(demo_local_run)
    assert set(metrics) == {"smoke/tiny-gpt2-finetune-s1/scores/test.json", "smoke/tiny-gpt2-prefix-s1/scores/test.json"}
    assert all(values for values in metrics.values()), metrics
    # every job left its log and benchmark where the rules say
    for rule in ("prepare_data", "build_model", "train_run", "generate_outputs", "score_outputs", "all_runs_table"):
        assert list((demo_local_run / "results" / "logs" / rule).rglob("*.log")) or \
            (demo_local_run / "results" / "logs" / f"{rule}.log").is_file(), f"no log for {rule}"
        assert list((demo_local_run / "results" / "benchmarks").glob(f"{rule}*")), f"no benchmark for {rule}"
    # the demo pins train.device: cpu, so the device helper hid the GPUs explicitly
    train_log = (demo_local_run / "results" / "logs" / "train_run" / "smoke" / "tiny-gpt2-prefix-s1.log").read_text()
    assert "train.device is cpu" in train_log


def test_demo_rerun_has_nothing_to_do(demo_local_run):
    result = run_snakemake(demo_local_run, "-n", "--workflow-profile", "profiles/ci", "--configfile",
                           SMOKE, timeout=300)
    assert result.returncode == 0, failure_report(result)
    assert "Nothing to be done" in result.stdout + result.stderr, failure_report(result)


def test_demo_rerun_from_training_gives_bit_identical_metrics(demo_local_run, tmp_path):
    """Determinism (seeded data order, init and dropout; CPU): retraining the demo's prefix run
    from scratch through Snakemake reproduces its weights and scores file byte for byte."""
    run = demo_local_run / "results" / "runs" / "smoke" / "tiny-gpt2-prefix-s1"
    files = [run / "trained.safetensors", run / "predictions" / "test.txt", run / "scores" / "test.json"]
    before = {path: path.read_bytes() for path in files}
    result = run_snakemake(demo_local_run, "--workflow-profile", "profiles/ci", "--configfile",
                           SMOKE, "--forcerun", str((run / "run.json").relative_to(demo_local_run)))
    assert result.returncode == 0, failure_report(result)
    assert "train_run" in result.stdout + result.stderr, failure_report(result)  # it really retrained
    for path, content in before.items():
        assert path.read_bytes() == content, f"{path} changed on rerun"
    assert json.loads((run / "run.json").read_text())["training"]["resumed_from_step"] is None


def _dry_run_jobs(workdir: Path, edit) -> str:
    """Dry-run the smoke DAG under a copy of its (test-size) config changed by `edit`; return the output."""
    config = yaml.safe_load((workdir / SMOKE).read_text())
    edit(config)
    changed = workdir / "config" / "smoke-changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, "-n", "--workflow-profile", "profiles/ci", "--configfile",
                           "config/smoke-changed.yaml", timeout=300)
    assert result.returncode == 0, failure_report(result)
    return result.stdout + result.stderr


def test_decoding_change_reruns_decoding_and_scoring_but_not_training(demo_local_run):
    """Decoding has its own identity: a new beam size re-runs generate and score, never train."""
    out = _dry_run_jobs(demo_local_run, lambda c: c["defaults"]["generate"].update(num_beams=3))
    assert "generate_outputs" in out and "score_outputs" in out, out
    assert "train_run" not in out, out
    # while a training setting does retrain (the same check can fail)
    out = _dry_run_jobs(demo_local_run, lambda c: c["defaults"]["train"].update(max_steps=150))
    assert "train_run" in out, out


def test_report_reads_only_the_runs_the_config_defines(demo_local_run, tmp_path):
    """A run directory left from an older config (here a seed 9 with wild scores) is listed as
    ignored and never enters the results table."""
    results = tmp_path / "results"
    for part in ("runs", "data", "report"):
        shutil.copytree(demo_local_run / "results" / part, results / part)
    stray = results / "runs" / "smoke" / "tiny-gpt2-prefix-s9"
    shutil.copytree(results / "runs" / "smoke" / "tiny-gpt2-prefix-s1", stray)
    expected = results / "report" / "expected_runs.json"
    assert json.loads(expected.read_text())["runs"] == ["smoke/tiny-gpt2-finetune-s1", "smoke/tiny-gpt2-prefix-s1"]
    out = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "prefix_bench.cli", "report", "--runs-dir", str(results / "runs"),
                             "--data-dir", str(results / "data"), "--expected-runs", str(expected),
                             "--out-dir", str(out)], capture_output=True, text=True, cwd=demo_local_run)
    assert result.returncode == 0, result.stderr
    table = (out / "runs.md").read_text()
    assert "| smoke/tiny-gpt2-prefix-s1 |" in table and "| smoke/tiny-gpt2-prefix-s9 |" not in table
    assert "Ignored: 1 run directory the config does not define (smoke/tiny-gpt2-prefix-s9)" in table
    assert "tiny-gpt2-prefix-s9" not in (out / "runs.csv").read_text()


def test_packed_prefix_runs_train_in_one_job_and_flow_downstream(tmp_path):
    """`packing.max_runs: 2`: the smoke config's two prefix seeds train in one `train-pack` job
    (one rule per pack) and decode the test split in one `generate-pack` job, fine-tuning alone;
    each run gets its own files, and a rerun has nothing to do."""
    workdir = copy_workflow(tmp_path)
    config = yaml.safe_load((workdir / "config" / "smoke.yaml").read_text())
    config["defaults"]["train"].update(max_steps=8, checkpoint_every=4, log_every=2)
    config["defaults"]["generate"].update(num_beams=2, max_new_tokens=8)
    config["experiments"]["smoke"]["seeds"] = [1, 2]
    config["packing"] = {"max_runs": 2}
    (workdir / "packed.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    runs = workdir / "results" / "runs" / "smoke"
    targets = [f"results/runs/smoke/tiny-gpt2-{v}-s{seed}/predictions/test.txt"
               for v, seed in (("prefix", 1), ("prefix", 2), ("finetune", 1))]
    result = run_snakemake(workdir, *targets, "--workflow-profile", "profiles/ci", "--configfile", "packed.yaml")
    assert result.returncode == 0, failure_report(result)
    jobs = result.stdout + result.stderr
    assert "rule train_pack_" in jobs and "train-pack --members-json" in jobs and "rule train_run" in jobs
    for seed in (1, 2):
        record = json.loads((runs / f"tiny-gpt2-prefix-s{seed}" / "run.json").read_text())
        assert record["packing"]["runs"] == ["smoke/tiny-gpt2-prefix-s1", "smoke/tiny-gpt2-prefix-s2"]
        assert (runs / f"tiny-gpt2-prefix-s{seed}" / "predictions" / "test.txt").stat().st_size > 0
        decoded = json.loads((runs / f"tiny-gpt2-prefix-s{seed}" / "predictions" / "test.json").read_text())
        assert decoded["packing"]["runs"] == record["packing"]["runs"]
    assert "rule generate_pack_" in jobs and "generate-pack --generate-json" in jobs and "rule generate_outputs" in jobs
    assert "packing" not in json.loads((runs / "tiny-gpt2-finetune-s1" / "run.json").read_text())
    assert "packing" not in json.loads((runs / "tiny-gpt2-finetune-s1" / "predictions" / "test.json").read_text())
    pack_logs = list((workdir / "results" / "logs" / "train_pack" / "smoke").glob("pack_*.log"))
    assert len(pack_logs) == 1 and "train pack of 2" in pack_logs[0].read_text()
    again = run_snakemake(workdir, *targets, "-n", "--workflow-profile", "profiles/ci", "--configfile", "packed.yaml",
                          timeout=300)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, failure_report(again)
