"""GPU slots for parallel local jobs: each job gets its own `CUDA_VISIBLE_DEVICES`.

Command (used by the train_run and generate_outputs rules):
    prefix-bench with-device --device {auto|cpu|cuda} -- prefix-bench train ...

Snakemake's `--resources gpu=N` only counts GPUs; it never says which GPU a job may use, so N
parallel jobs would all land on GPU 0. This helper hands out one device per job:

- one lock file per device in a node-local directory (`<tmp>/prefix-bench-devices-<uid>/`,
  or `$PREFIX_BENCH_LOCK_DIR`); a job takes the first free one with `fcntl.flock`;
- the lock's file descriptor stays open across `exec` of the job's command, so the slot is held
  exactly as long as the job process lives and the kernel releases it when the job dies, even by
  SIGKILL (no stale lock files to clean up after a crash);
- device pool: `--devices` or `$PREFIX_BENCH_DEVICES` (e.g. "0,1,3"), else the caller's
  `CUDA_VISIBLE_DEVICES`, else the GPUs `nvidia-smi -L` lists;
- under a batch scheduler that already picked the GPU (`SLURM_JOB_ID` set) the helper leaves
  `CUDA_VISIBLE_DEVICES` alone and takes no lock.

CPU is a config switch, never an accident: `train.device: cpu` runs the command at once with
`CUDA_VISIBLE_DEVICES=""` (GPUs hidden); `cuda` with no GPU is an error; `auto` with no GPU runs
on CPU and says so in the log.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .errors import PrefixBenchError

log = logging.getLogger(__name__)

DEVICES_ENV = "PREFIX_BENCH_DEVICES"
LOCK_DIR_ENV = "PREFIX_BENCH_LOCK_DIR"
SLOT_ENV = "PREFIX_BENCH_DEVICE_SLOT"
SLOTS_ENV = "PREFIX_BENCH_SLOTS_PER_GPU"


def default_lock_dir() -> Path:
    """Node-local and shared by every job of this user on this machine."""
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f"prefix-bench-devices-{os.getuid()}")


def secure_lock_dir(lock_dir: Path) -> None:
    """Create the lock directory 0700, or accept an existing one only if it is a real directory
    owned by this user that no one else can write to: a predictable name under /tmp must not let
    another user plant symlinks or files in it."""
    try:
        lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(lock_dir)
    except OSError as err:
        raise PrefixBenchError(f"{lock_dir}: cannot create the device lock directory ({err.strerror}); "
                               f"set {LOCK_DIR_ENV} to a directory of yours") from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise PrefixBenchError(f"{lock_dir}: not a directory owned by you (a symlink or another user's); "
                               f"remove it or set {LOCK_DIR_ENV} to a directory of yours")
    if st.st_mode & 0o022:  # others could plant files or links in it
        raise PrefixBenchError(f"{lock_dir}: writable by other users (mode {stat.S_IMODE(st.st_mode):o}); "
                               f"`chmod 700 {lock_dir}` or set {LOCK_DIR_ENV}")


def _split(ids: str) -> list[str]:
    return [d.strip() for d in ids.split(",") if d.strip()]


def detect_devices(explicit: str | None = None, environ: dict | None = None) -> list[str]:
    """The GPU ids jobs may be given, as strings suitable for CUDA_VISIBLE_DEVICES."""
    env = os.environ if environ is None else environ
    for source in (explicit, env.get(DEVICES_ENV), env.get("CUDA_VISIBLE_DEVICES")):
        if source is not None:
            return _split(source)
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


#: most jobs one GPU takes under `--slots-per-device auto` (launch-bound small jobs gain little beyond)
MAX_AUTO_SLOTS = 8


def slots_per_device(explicit: str | int | None = None, job_mem_mb: int | None = None,
                     devices: list[str] | None = None) -> int:
    """How many jobs share one GPU: --slots-per-device, else $PREFIX_BENCH_SLOTS_PER_GPU, else
    "auto": as many jobs of this size as fit in 90% of the smallest GPU's memory (`job_mem_mb`,
    the rule's estimate; 0 = unknown), at most MAX_AUTO_SLOTS; 1 when either size is unknown."""
    value = explicit if explicit not in (None, 0, "0") else os.environ.get(SLOTS_ENV, "auto")
    if str(value) == "auto":
        total = gpu_memory_mb(devices or [])
        if not job_mem_mb or not total:
            return 1
        return max(1, min(MAX_AUTO_SLOTS, int(0.9 * total / job_mem_mb)))
    try:
        slots = int(value)
    except ValueError:
        slots = 0
    if slots < 1:
        raise PrefixBenchError(f"slots per GPU must be 'auto' or a whole number >= 1, got {value!r} "
                               f"(--slots-per-device, ${SLOTS_ENV} or devices.slots_per_gpu)")
    return slots


def gpu_memory_mb(devices: list[str]) -> int | None:
    """The smallest total memory (MB) of these GPUs, from nvidia-smi; None when it cannot tell."""
    if not devices or shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    sizes = {}
    for line in out.splitlines():
        index, _, total = line.partition(",")
        if total.strip().isdigit():
            sizes[index.strip()] = int(total)
    wanted = [sizes[d] for d in devices if d in sizes]
    return min(wanted) if wanted else None


def slot_lock_name(device: str, slot: int) -> str:
    return f"gpu{device}.lock" if slot == 0 else f"gpu{device}.slot{slot}.lock"


def acquire_slot(devices: list[str], lock_dir: Path, timeout: float | None = None,
                 poll: float = 0.5, slots: int = 1) -> tuple[str, int]:
    """Lock the first free slot (`slots` per device, filled across devices first); returns
    (device id, open lock fd). Waits while all are busy.

    The fd is inheritable so that the lock survives `exec` and lives as long as the job.
    """
    if not devices:
        raise PrefixBenchError("no devices to hand out")
    secure_lock_dir(lock_dir)
    start = time.monotonic()
    next_notice = start
    while True:
        for dev, slot in ((d, k) for k in range(slots) for d in devices):
            path = lock_dir / slot_lock_name(dev, slot)
            try:  # never through a planted symlink; never another user's file
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            except OSError as err:
                raise PrefixBenchError(f"{path}: cannot open the device lock ({err.strerror}); a symlink or "
                                       f"foreign file sits there: remove it, or set {LOCK_DIR_ENV}") from None
            if os.fstat(fd).st_uid != os.getuid():
                os.close(fd)
                raise PrefixBenchError(f"{path}: lock file owned by another user; remove it or set {LOCK_DIR_ENV}")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())  # for humans; the lock itself is the flock
            os.set_inheritable(fd, True)
            return dev, fd
        now = time.monotonic()
        if timeout is not None and now - start >= timeout:
            raise PrefixBenchError(
                f"all devices {','.join(devices)} stayed busy for {timeout:.0f} s "
                f"(locks in {lock_dir}); run fewer jobs at once (--resources gpu=N)"
            )
        if now >= next_notice:
            log.info("all devices %s busy; waiting for a free slot", ",".join(devices))
            next_notice = now + 60
        time.sleep(poll)


def device_environment(device: str, devices_arg: str | None, lock_dir: Path, timeout: float | None = None,
                       slots: str | int | None = 1, job_mem_mb: int | None = None
                       ) -> tuple[dict[str, str], int | None]:
    """The environment changes for one job and the lock fd to keep open (None: no lock)."""
    if device == "cpu":
        log.info("train.device is cpu: GPUs hidden (CUDA_VISIBLE_DEVICES='')")
        return {"CUDA_VISIBLE_DEVICES": ""}, None
    if os.environ.get("SLURM_JOB_ID") and devices_arg is None and DEVICES_ENV not in os.environ:
        log.info("inside SLURM job %s: using the scheduler's CUDA_VISIBLE_DEVICES=%r",
                 os.environ["SLURM_JOB_ID"], os.environ.get("CUDA_VISIBLE_DEVICES"))
        return {}, None
    devices = detect_devices(devices_arg)
    if not devices:
        if device == "cuda":
            raise PrefixBenchError(
                "train.device is 'cuda' but no GPU was found (nvidia-smi, CUDA_VISIBLE_DEVICES, "
                f"${DEVICES_ENV}); set train.device: cpu to run on the CPU"
            )
        log.warning("train.device is auto and no GPU was found: running on the CPU "
                    "(set train.device: cpu to make this explicit)")
        return {"CUDA_VISIBLE_DEVICES": ""}, None
    slots = slots_per_device(slots, job_mem_mb, devices)
    dev, fd = acquire_slot(devices, lock_dir, timeout, slots=slots)
    log.info("device slot: GPU %s (%d job(s) per GPU%s; locks in %s)", dev, slots,
             f", this job ~{job_mem_mb} MB" if job_mem_mb else "", lock_dir)
    return {"CUDA_VISIBLE_DEVICES": dev, SLOT_ENV: dev}, fd


def run_with_device(args: argparse.Namespace) -> int:
    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise PrefixBenchError("with-device: no command given (usage: with-device --device auto -- CMD ...)")
    lock_dir = Path(args.lock_dir) if args.lock_dir else default_lock_dir()
    changes, _fd = device_environment(args.device, args.devices, lock_dir, args.timeout, args.slots_per_device,
                                      args.job_mem_mb)
    os.environ.update(changes)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        # exec keeps the inheritable lock fd open in the job itself: the slot is freed by the
        # kernel when the job's process ends, however it ends.
        os.execvp(command[0], command)
    except OSError as err:
        raise PrefixBenchError(f"with-device: cannot run {command[0]!r}: {err}") from None
    return 127  # not reached


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "with-device",
        help="run a command on its own GPU slot (CUDA_VISIBLE_DEVICES) or explicitly on the CPU",
        description="Give the command its own GPU (one flock'ed slot per device, released when the "
        "command's process ends) or, with --device cpu, hide the GPUs. Replaces itself with CMD.",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="the run's train.device: cpu hides GPUs; auto/cuda take a free GPU slot")
    p.add_argument("--devices", default=None,
                   help=f"GPU ids to hand out, e.g. 0,1 (default: ${DEVICES_ENV}, CUDA_VISIBLE_DEVICES, nvidia-smi)")
    p.add_argument("--lock-dir", default=None, help=f"slot lock directory (default: ${LOCK_DIR_ENV} or a tmp dir)")
    p.add_argument("--timeout", type=float, default=None, help="give up after waiting this many seconds (default: wait)")
    p.add_argument("--slots-per-device", default=None,
                   help=f"jobs that may share one GPU, or 'auto' (default: ${SLOTS_ENV}, else auto: as many "
                   "jobs of --job-mem-mb as fit in 90%% of the GPU's memory, at most 8); 0 = the default")
    p.add_argument("--job-mem-mb", type=int, default=None,
                   help="the job's estimated GPU memory (MB), for --slots-per-device auto")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    p.set_defaults(func=run_with_device)


def main(argv: list[str] | None = None) -> int:
    """`python -m prefix_bench.devices ...`: the same command without loading the other stages."""
    parser = argparse.ArgumentParser(prog="python -m prefix_bench.devices")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except PrefixBenchError as err:
        print(f"prefix-bench with-device: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
