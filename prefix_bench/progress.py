"""Progress in job logs: plain lines at a steady interval when stderr is not a terminal.

Under Snakemake or SLURM a job's stderr is a log file, where tqdm bars are switched off (they
would write a carriage-return line per update). There a long job would otherwise say nothing until
it ends; `ProgressLog` writes one line every 30 seconds instead (PREFIX_BENCH_PROGRESS_SECONDS):
done/total, rate, elapsed, ETA and whatever figures the caller adds (epoch, loss, learning rate,
tokens/s). On a terminal the tqdm bar shows the same and this stays quiet.
"""

from __future__ import annotations

import logging
import os
import sys
import time

log = logging.getLogger("prefix_bench.progress")


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


#: seconds between lines; logging cadence only, so an environment setting, not part of a run's config
INTERVAL_ENV = "PREFIX_BENCH_PROGRESS_SECONDS"


class ProgressLog:
    def __init__(self, what: str, total: int, unit: str, interval: float | None = None, start: int = 0,
                 enabled: bool | None = None) -> None:
        if interval is None:
            interval = float(os.environ.get(INTERVAL_ENV, "30"))
        self.what, self.total, self.unit, self.interval = what, total, unit, interval
        self.enabled = (not sys.stderr.isatty()) if enabled is None else enabled
        self.start_done, self.t0 = start, time.perf_counter()
        self.last = self.t0

    def update(self, done: int, **figures) -> None:
        """Log a line if `interval` seconds passed since the last one, or at the end."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last < self.interval and done < self.total:
            return
        self.last = now
        elapsed = now - self.t0
        rate = (done - self.start_done) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        extra = "".join(f" {k} {v}" for k, v in figures.items())
        log.info("%s: %d/%d %s (%.0f%%)%s, %.2f %s/s, elapsed %s, ETA %s", self.what, done, self.total,
                 self.unit, 100 * done / max(1, self.total), extra, rate, self.unit, _duration(elapsed),
                 "?" if eta != eta else _duration(eta))
