"""Seconds of training a job on one device: a measured gpu-check row when there is one, else an
assumed MFU of the device's datasheet peak.

- `--bench`: the measured tokens/s of the row of the run's family and precision (`bench.py`) at
  the largest measured batch not above the run's (a smaller batch keeps the measured step time:
  small steps are launch-bound), scaled by the FLOP model. A precision the check did not measure
  (fp32) takes the slower of the measured bf16 row and the assumed MFU against that peak.
- otherwise `--mfu` (default 35%) of the datasheet peak for the run's precision, scaled down
  linearly below `SATURATION_TOKENS` tokens a step (the H200 check measured 1.3% of the datasheet
  at 10 E2E-sized rows and 13% at 64).
Every figure comes with a label naming its source, which the plan prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import PrefixBenchError
from .bench import Bench
from .jobs import Job

#: dense datasheet peaks in TFLOP/s: bf16 tensor cores, fp32 without tensor cores, tf32 tensor
#: cores (bf16 as bench/gpu_setup.DATASHEET_BF16)
DEVICES: dict[str, dict[str, float]] = {
    "h200": {"bf16": 989, "fp32": 67, "tf32": 494},
    "h100": {"bf16": 989, "fp32": 67, "tf32": 494},
    "a100": {"bf16": 312, "fp32": 19.5, "tf32": 156},
    "l40s": {"bf16": 362, "fp32": 91.6, "tf32": 183},
    "a10": {"bf16": 125, "fp32": 31.2, "tf32": 62.5},
}
DEFAULT_MFU = 0.35
#: below this many tokens a step, the assumed MFU shrinks in proportion (launch-bound steps)
SATURATION_TOKENS = 4096

Timed = tuple[float, str]  # (seconds, where the figure comes from)


@dataclass(frozen=True)
class Clock:
    """Seconds of training on one device: measured rates when a bench is given, else the assumed
    MFU of the datasheet peak."""

    device: str
    peaks: dict[str, float]  # TFLOP/s by precision
    mfu: float
    bench: Bench | None

    def assumed(self, flops: float, step_tokens: float, precision: str) -> Timed:
        """`flops` at the assumed MFU of the `precision` peak, for steps of `step_tokens` tokens."""
        peak = self.peaks[precision]
        rate = peak * 1e12 * self.mfu * min(1.0, step_tokens / SATURATION_TOKENS)
        return flops / rate, f"assumed MFU {self.mfu:.0%} of the {precision} peak {peak:g} TFLOP/s " \
                             f"(scaled down below {SATURATION_TOKENS:,} tokens a step)"

    def measured(self, job: Job, precision: str) -> Timed | None:
        """The job's time from the bench row measured at `precision`, if the check has one."""
        found = self.bench.row(job, precision) if self.bench else None
        if found is None:
            return None
        name, batch, row = found
        ratio = job.flops_per_example / self.bench.reference_flops(job, name)
        rate = row["tokens_per_s"] * min(1.0, job.batch / batch)
        seconds = job.examples * Bench.counted_tokens(job) / rate * ratio
        return seconds, f"measured: {self.bench.name} {name} batch {batch}"

    def job_seconds(self, job: Job) -> Timed:
        """A job's training time and the source of the figure."""
        found = self.measured(job, job.precision)
        if found is not None:
            return found
        assumed = self.assumed(job.flops, job.step_tokens, job.precision)
        floor = self.measured(job, "bf16") if job.precision != "bf16" else None
        return assumed if floor is None else slower(assumed, floor)


def slower(assumed: Timed, bf16: Timed) -> Timed:
    """A precision the check did not measure: never faster than the measured bf16 figure."""
    return max(assumed[0], bf16[0]), f"slower of {assumed[1]} and the bf16 {bf16[1]}"


def make_clock(device: str, bench_path: str | None, mfu: float, peak_tflops: float | None) -> Clock:
    """The device's peaks (or `--peak-tflops` for every precision) and the bench, checked."""
    if not 0 < mfu <= 1:
        raise PrefixBenchError(f"--mfu must be in (0, 1], got {mfu}")
    name = device.lower()
    if peak_tflops is not None:
        if peak_tflops <= 0:
            raise PrefixBenchError(f"--peak-tflops must be > 0, got {peak_tflops}")
        peaks = {p: float(peak_tflops) for p in ("bf16", "fp32", "tf32")}
    elif name in DEVICES:
        peaks = DEVICES[name]
    elif name == "cpu":
        raise PrefixBenchError("--device cpu has no datasheet peak; give the machine's --peak-tflops "
                               "(e.g. from `prefix-bench bench`)")
    else:
        raise PrefixBenchError(f"unknown device {device!r}; known: {', '.join(DEVICES)} "
                               "(or give --peak-tflops for another one)")
    bench = Bench.read(Path(bench_path)) if bench_path else None
    if bench is not None and not re.search(rf"\b{re.escape(name)}\b", bench.device, re.IGNORECASE):
        raise PrefixBenchError(f"{bench_path} was measured on {bench.device}, not {device}; pass that "
                               "device's gpu-check JSON, or no --bench")
    return Clock(name, peaks, mfu, bench)
