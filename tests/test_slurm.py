"""The demo DAG through a real SLURM: profiles/slurm + `--executor slurm` on a single-node cluster
(slurmctld + slurmd on localhost, Debian's slurm-wlm), compared with the local run.

What it shows: every non-local job goes through sbatch (SLURM's own job list agrees with
Snakemake's), a per-rule GPU request reaches sbatch (fake GPUs, gres File=/dev/null), and the
scores are identical to the local run's (tests/test_workflow_demo.py).

Setup (BRIEF section 6): no slurmdbd, so `sacct` fails and the plugin must poll with squeue
(`--slurm-status-command squeue`, MinJobAge 600 >= 3 x the 5 s first check); no account
(`--slurm-no-account`); the config must also be at /etc/slurm/slurm.conf because job steps
strip SLURM_* variables. Daemons run in the foreground under this process and are stopped by pid
in the fixture finalizer, whatever happens; the Snakemake run has a hard `timeout -s KILL`.

Skips (with the reason) when the SLURM binaries or the executor plugin are absent and this is
neither CI nor root; as root it installs slurm-wlm with apt; in CI (CI=true) it must run, so it
carries no `slow` marker (pytest deselects those by default). PREFIX_BENCH_SKIP_SLURM=1 skips it
outside CI.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from test_workflow_demo import (  # shared with the local demo run (same module, same cache)
    copy_workflow,
    demo_local_run,  # noqa: F401  (session fixture)
    failure_report,
    run_snakemake,
    score_metrics,
    workflow_env,
    write_smoke_config,
)

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
IS_ROOT = os.geteuid() == 0
BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
APT_PACKAGES = ("slurm-wlm", "slurmctld", "slurmd", "slurm-client")
ETC_CONF = Path("/etc/slurm/slurm.conf")
SNAKEMAKE_TIMEOUT_S = 600



def _which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin")


def _unavailable(reason: str):
    if CI:
        pytest.fail(f"{reason} (CI must run the SLURM test: .ci/run installs it)")
    pytest.skip(reason)


def ensure_slurm_binaries() -> None:
    missing = [b for b in BINARIES if _which(b) is None]
    if not missing:
        return
    if not IS_ROOT or _which("apt-get") is None:
        _unavailable(f"SLURM binaries absent ({', '.join(missing)}); install Debian's "
                     f"{' '.join(APT_PACKAGES)} as root, or run in CI")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", *APT_PACKAGES], check=True, env=env, timeout=600,
                   stdout=subprocess.DEVNULL)
    still = [b for b in BINARIES if _which(b) is None]
    assert not still, f"apt-get installed slurm-wlm but {still} are missing"


def slurm_conf(root: Path, cpus: int, mem_mb: int) -> str:
    return f"""\
# Single-node test cluster for tests/test_slurm.py (BRIEF section 6).
ClusterName=prefixbench
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
ReturnToService=2
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname={socket.gethostname()} CPUs={cpus} RealMemory={mem_mb} Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _left_by_this_test(path: Path) -> bool:
    """Whether `path` is a link this test made in an earlier run (to its own generated config)."""
    if not path.is_symlink():
        return False
    target = Path(os.readlink(path))
    try:
        return target.is_file() and target.read_text().startswith("# Single-node test cluster for tests/test_slurm.py")
    except OSError:
        return False


def _total_mem_mb() -> int:
    with open("/proc/meminfo") as f:
        kb = int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
    return kb // 1024


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running single-node SLURM; yields the environment for client commands."""
    if os.environ.get("PREFIX_BENCH_SKIP_SLURM") and not CI:
        pytest.skip("PREFIX_BENCH_SKIP_SLURM is set")
    ensure_slurm_binaries()
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        _unavailable("snakemake-executor-plugin-slurm is not installed (pip install snakemake-executor-plugin-slurm==2.8.0)")
    if not IS_ROOT:
        _unavailable("starting slurmctld/slurmd needs root")
    if ETC_CONF.exists() and not ETC_CONF.is_symlink() and not CI:
        pytest.skip(f"{ETC_CONF} exists: this machine has its own SLURM configuration; not touching it")

    root = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir()
    conf = root / "slurm.conf"
    conf.write_text(slurm_conf(root, os.cpu_count() or 1, int(_total_mem_mb() * 0.8)))
    # two fake GPUs for gpu requests (no device behind them; two so both decode jobs run at once)
    (root / "gres.conf").write_text("Name=gpu File=/dev/null\nName=gpu File=/dev/zero\n")

    ETC_CONF.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if _left_by_this_test(ETC_CONF):
        # a run killed before its teardown left its link: not the machine's own configuration, and
        # kept it would make every later `scontrol` (which the SLURM plugin runs whenever
        # Snakemake starts) wait ~9 s for a controller that no longer runs
        ETC_CONF.unlink()
    if ETC_CONF.exists() or ETC_CONF.is_symlink():
        backup = ETC_CONF.with_name("slurm.conf.prefix-bench-backup")
        ETC_CONF.rename(backup)
    ETC_CONF.symlink_to(conf)  # job steps strip SLURM_CONF, so the default path must work too

    env = dict(workflow_env(), SLURM_CONF=str(conf))
    env["PATH"] = env["PATH"] + os.pathsep + "/usr/sbin:/sbin"
    daemons: list[subprocess.Popen] = []
    try:
        for daemon in ("slurmctld", "slurmd"):  # absolute config path: a relative one breaks slurmctld
            daemons.append(subprocess.Popen([_which(daemon), "-D", "-f", str(conf)], env=env,
                                            stdout=open(root / "log" / f"{daemon}.out", "w"),
                                            stderr=subprocess.STDOUT))
            time.sleep(1)
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout.strip()
            if state == "idle":
                break
            if any(d.poll() is not None for d in daemons):
                break
            time.sleep(1)
        if state != "idle":
            logs = "\n".join(p.read_text()[-3000:] for p in (root / "log").iterdir())
            pytest.fail(f"SLURM node not idle within 60 s (state {state!r})\n{logs}")
        yield env
    finally:
        # cancel whatever is left (this private controller only knows this test's jobs), then stop
        # the daemons by pid and put /etc/slurm back as it was
        subprocess.run(["scancel", "--user", str(os.getuid())], env=env, capture_output=True, timeout=30)
        time.sleep(1)
        for proc in reversed(daemons):
            _stop(proc)
        if ETC_CONF.is_symlink() and Path(os.readlink(ETC_CONF)) == conf:
            ETC_CONF.unlink()
        if backup is not None:
            backup.rename(ETC_CONF)


def slurm_job(jobid: str, env: dict) -> dict[str, str]:
    """`scontrol show job` as a dict (JobState, Comment, TRES, TresPerJob, ...)."""
    out = subprocess.run(["scontrol", "-o", "show", "job", jobid], env=env, capture_output=True,
                         text=True, check=True).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def test_demo_dag_through_slurm_matches_local_run(slurm_cluster, demo_local_run, tmp_path):
    env = slurm_cluster
    workdir = copy_workflow(tmp_path / "demo-slurm")
    start = time.monotonic()
    result = run_snakemake(
        workdir,
        "--executor", "slurm", "--workflow-profile", "profiles/slurm",
        "--configfile", write_smoke_config(workdir),  # the local run's test size
        "--jobs", "4",
        # no accounting database here: poll squeue (MinJobAge 600) and submit without -A
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2",
        # poll often: the DAG is a chain of short jobs, and the default 10 s per round dominates
        "--seconds-between-status-checks", "2",
        "--slurm-no-account",
        # the laptop-sized node: 2 CPUs, so one thread per job lets two jobs run side by side;
        # generate_outputs asks for a fake GPU to prove per-rule GPU requests reach sbatch
        "--set-threads", "train_run=1", "generate_outputs=1",
        "--set-resources", "train_run:mem_mb=3000", "generate_outputs:mem_mb=3000", "generate_outputs:gpu=1",
        timeout=SNAKEMAKE_TIMEOUT_S, env=env,
    )
    elapsed = time.monotonic() - start
    log = result.stdout + result.stderr
    assert result.returncode == 0, failure_report(result)

    # every non-local job went through sbatch, and SLURM's own records agree (MinJobAge keeps
    # finished jobs in slurmctld for 10 minutes)
    remote = re.findall(r"^rule (\w+):", log, re.M)
    local = re.findall(r"^localrule (\w+):", log, re.M)
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert remote, failure_report(result)
    assert set(local) <= {"prepare_data", "prepare_dataset_variant", "expected_runs", "all"}, local
    assert len(submitted) == len(remote), f"{len(remote)} cluster jobs, {len(submitted)} sbatch submissions"
    jobs = {jobid: slurm_job(jobid, env) for jobid in submitted}
    for jobid, job in jobs.items():
        assert job["JobState"] == "COMPLETED", f"SLURM job {jobid}: {job}"
    rules = sorted(job["Comment"].split("_wildcards_")[0].removeprefix("rule_") for job in jobs.values())
    assert rules == sorted(remote), (rules, remote)
    # the per-rule GPU request reached sbatch (--gpus=1 on the fake GPU), and only there
    for job in jobs.values():
        asks_gpu = "gpu" in job.get("TresPerJob", "") or "gres/gpu" in job.get("TRES", "")
        assert asks_gpu == job["Comment"].startswith("rule_generate_outputs"), job

    # the same numbers as the local run
    assert score_metrics(workdir) == score_metrics(demo_local_run)
    assert score_metrics(workdir), "no scores written"
    print(f"SLURM demo DAG: {len(submitted)} sbatch jobs, {elapsed:.0f} s")
