"""The device-slot helper (prefix_bench/devices.py): concurrent jobs get distinct GPUs, a killed
job's GPU is freed by the kernel, and the CPU fallback happens only when the config says cpu.

Jobs are real subprocesses (`python -m prefix_bench.devices with-device ... -- python -c ...`) that
write the CUDA_VISIBLE_DEVICES they were given; no GPU is needed.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The "job": records its CUDA_VISIBLE_DEVICES, then sleeps until killed (or for argv[2] seconds).
JOB = (
    "import os, sys, time\n"
    "open(sys.argv[1] + '.tmp', 'w').write(os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>'))\n"
    "os.replace(sys.argv[1] + '.tmp', sys.argv[1])\n"
    "time.sleep(float(sys.argv[2]))\n"
)


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CUDA_VISIBLE_DEVICES", "PREFIX_BENCH_DEVICES", "SLURM_JOB_ID")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def start_job(tmp: Path, name: str, *helper_args: str, sleep: float = 60, env: dict | None = None):
    out = tmp / f"{name}.device"
    cmd = [sys.executable, "-m", "prefix_bench.devices", "with-device", "--lock-dir", str(tmp / "locks"),
           *helper_args, "--", sys.executable, "-c", JOB, str(out), str(sleep)]
    proc = subprocess.Popen(cmd, env=env or _env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out


def wait_for(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path.name} was not written within {timeout} s")


@pytest.fixture()
def jobs():
    started = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_concurrent_jobs_get_distinct_devices(tmp_path, jobs):
    outs = []
    for i in range(3):
        proc, out = start_job(tmp_path, f"job{i}", "--device", "auto", "--devices", "0,1,2")
        jobs.append(proc)
        outs.append(out)
    assert sorted(wait_for(o) for o in outs) == ["0", "1", "2"]


def test_busy_pool_waits_and_sigkill_frees_the_slot(tmp_path, jobs):
    holders = {}
    for i in range(2):
        proc, out = start_job(tmp_path, f"holder{i}", "--device", "cuda", "--devices", "0,1")
        jobs.append(proc)
        holders[wait_for(out)] = proc
    assert sorted(holders) == ["0", "1"]

    waiter, waiter_out = start_job(tmp_path, "waiter", "--device", "cuda", "--devices", "0,1", sleep=0)
    jobs.append(waiter)
    time.sleep(1.5)
    assert not waiter_out.exists(), "a third job started although both GPUs were taken"

    # SIGKILL leaves no chance to clean up: the kernel must release the flock with the process.
    holders["1"].send_signal(signal.SIGKILL)
    holders["1"].wait(timeout=10)
    assert wait_for(waiter_out) == "1"
    assert waiter.wait(timeout=30) == 0


def test_slot_is_reusable_after_a_normal_exit(tmp_path, jobs):
    first, first_out = start_job(tmp_path, "first", "--devices", "7", sleep=0)
    jobs.append(first)
    assert first.wait(timeout=30) == 0
    assert wait_for(first_out) == "7"
    second, second_out = start_job(tmp_path, "second", "--devices", "7", sleep=0)
    jobs.append(second)
    assert second.wait(timeout=30) == 0
    assert wait_for(second_out) == "7"


def test_timeout_when_every_device_stays_busy(tmp_path, jobs):
    holder, out = start_job(tmp_path, "holder", "--devices", "0")
    jobs.append(holder)
    wait_for(out)
    late, late_out = start_job(tmp_path, "late", "--devices", "0", "--timeout", "1", sleep=0)
    jobs.append(late)
    assert late.wait(timeout=30) == 2
    assert "stayed busy" in late.stderr.read()
    assert not late_out.exists()


def test_cpu_is_explicit_and_hides_gpus(tmp_path, jobs):
    proc, out = start_job(tmp_path, "cpu", "--device", "cpu", "--devices", "0", sleep=0,
                          env=_env(CUDA_VISIBLE_DEVICES="0"))
    jobs.append(proc)
    assert proc.wait(timeout=30) == 0
    assert wait_for(out) == ""
    assert not (tmp_path / "locks").exists(), "a cpu job must not take a GPU slot"


def test_cuda_without_any_gpu_fails_naming_the_switch(tmp_path, jobs):
    proc, out = start_job(tmp_path, "nogpu", "--device", "cuda", "--devices", "", sleep=0)
    jobs.append(proc)
    assert proc.wait(timeout=30) == 2
    assert "train.device: cpu" in proc.stderr.read()
    assert not out.exists()


def test_auto_without_any_gpu_runs_on_cpu_and_says_so(tmp_path, jobs):
    proc, out = start_job(tmp_path, "auto", "--device", "auto", "--devices", "", sleep=0)
    jobs.append(proc)
    assert proc.wait(timeout=30) == 0
    assert wait_for(out) == ""
    assert "running on the CPU" in proc.stderr.read()


def test_inside_slurm_the_schedulers_gpu_is_kept(tmp_path, jobs):
    proc, out = start_job(tmp_path, "slurm", "--device", "cuda", sleep=0,
                          env=_env(SLURM_JOB_ID="42", CUDA_VISIBLE_DEVICES="3"))
    jobs.append(proc)
    assert proc.wait(timeout=30) == 0
    assert wait_for(out) == "3"
    assert not (tmp_path / "locks").exists()


def test_pool_sources_in_order(monkeypatch):
    from prefix_bench.devices import detect_devices

    assert detect_devices("2, 3", {"PREFIX_BENCH_DEVICES": "0", "CUDA_VISIBLE_DEVICES": "1"}) == ["2", "3"]
    assert detect_devices(None, {"PREFIX_BENCH_DEVICES": "0,1", "CUDA_VISIBLE_DEVICES": "5"}) == ["0", "1"]
    assert detect_devices(None, {"CUDA_VISIBLE_DEVICES": "4,5"}) == ["4", "5"]
    assert detect_devices(None, {"CUDA_VISIBLE_DEVICES": ""}) == []
    monkeypatch.setenv("PATH", "/nonexistent")
    assert detect_devices(None, {}) == []  # no nvidia-smi: no GPUs


def test_with_device_is_a_prefix_bench_subcommand():
    from prefix_bench import cli

    assert cli.COMMANDS["with-device"] == "prefix_bench.devices"


def test_lock_directory_is_private_and_planted_symlinks_are_refused(tmp_path):
    from prefix_bench.devices import acquire_slot
    from prefix_bench.errors import PrefixBenchError

    locks = tmp_path / "locks"
    dev, fd = acquire_slot(["0"], locks, timeout=1)
    os.close(fd)
    assert stat.S_IMODE(locks.stat().st_mode) == 0o700 and stat.S_IMODE((locks / "gpu0.lock").stat().st_mode) == 0o600

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (locks / "gpu1.lock").symlink_to(victim)  # someone plants a link where a lock will be opened
    with pytest.raises(PrefixBenchError, match="symlink"):
        acquire_slot(["1"], locks, timeout=1)
    assert victim.read_text() == "precious\n"  # neither truncated nor written

    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o777)
    open_dir.chmod(0o777)
    with pytest.raises(PrefixBenchError, match="writable by other users"):
        acquire_slot(["0"], open_dir, timeout=1)
    linked = tmp_path / "linked"
    linked.symlink_to(locks)  # the lock directory itself replaced by a link
    with pytest.raises(PrefixBenchError, match="not a directory owned by you"):
        acquire_slot(["0"], linked, timeout=1)


def test_several_jobs_share_a_gpu_when_asked(tmp_path, monkeypatch):
    """Small jobs leave most of a GPU idle: with 2 slots per GPU, two jobs hold GPU 0 at once and a
    third waits until one ends; slots fill across GPUs first."""
    from prefix_bench.devices import acquire_slot, slots_per_device
    from prefix_bench.errors import PrefixBenchError

    locks = tmp_path / "locks"
    first, fd1 = acquire_slot(["0", "1"], locks, timeout=1, slots=2)
    second, fd2 = acquire_slot(["0", "1"], locks, timeout=1, slots=2)
    assert (first, second) == ("0", "1")  # across GPUs before sharing one
    third, fd3 = acquire_slot(["0", "1"], locks, timeout=1, slots=2)
    fourth, fd4 = acquire_slot(["0", "1"], locks, timeout=1, slots=2)
    assert (third, fourth) == ("0", "1")
    with pytest.raises(PrefixBenchError, match="stayed busy"):
        acquire_slot(["0", "1"], locks, timeout=0.5, poll=0.1, slots=2)
    os.close(fd3)
    freed, fd5 = acquire_slot(["0", "1"], locks, timeout=1, slots=2)
    assert freed == "0"
    for fd in (fd1, fd2, fd4, fd5):
        os.close(fd)
    monkeypatch.setenv("PREFIX_BENCH_SLOTS_PER_GPU", "3")
    assert slots_per_device() == 3 and slots_per_device(2) == 2
    monkeypatch.setenv("PREFIX_BENCH_SLOTS_PER_GPU", "zero")
    with pytest.raises(PrefixBenchError, match="PREFIX_BENCH_SLOTS_PER_GPU"):
        slots_per_device()


def test_auto_slots_fit_jobs_by_memory(tmp_path, monkeypatch):
    """`--slots-per-device auto` (the default): as many jobs of the rule's memory estimate as fit in
    90% of the smallest GPU (a fake nvidia-smi reports 80 GB and 40 GB), at most 8; a job of
    unknown size, or GPUs of unknown size, take a whole GPU. The estimate itself stays within the
    H200 measurements' range (GPT-2 medium prefix 3.1 GB, fine-tuning 6.9 GB at batch 10)."""
    from prefix_bench.config import parse_run_spec
    from prefix_bench.devices import slots_per_device
    from prefix_bench.gpu_memory import estimate_gpu_mem_mb

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text("#!/bin/sh\nprintf '0, 81920\\n1, 40960\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("PREFIX_BENCH_SLOTS_PER_GPU", raising=False)
    assert slots_per_device(None, 4000, ["0"]) == 8  # 73 GB / 4 GB, capped at 8
    assert slots_per_device(None, 12000, ["0", "1"]) == 3  # the 40 GB GPU decides
    assert slots_per_device("auto", None, ["0"]) == 1 and slots_per_device(None, 4000, ["7"]) == 1
    assert slots_per_device("2", 4000, ["0"]) == 2  # an explicit count wins

    def spec(method: str, precision: str):
        return parse_run_spec({"run_id": "a/b", "experiment": "a", "dataset": "e2e", "model": "gpt2-medium",
                               "model_path": "gpt2-medium", "method": method,
                               "train": {"batch_size": 10, "precision": precision}})

    prefix, finetune = estimate_gpu_mem_mb(spec("prefix", "fp32")), estimate_gpu_mem_mb(spec("finetune", "fp32"))
    assert 3109 <= prefix <= 2 * 3109 and 6949 <= finetune <= 2 * 6949
    assert estimate_gpu_mem_mb(spec("prefix", "bf16")) < prefix
    assert estimate_gpu_mem_mb(parse_run_spec({**spec("prefix", "fp32").to_dict(), "model": "mine",
                                               "model_path": "/models/mine"})) is None
