"""Cost summary of one experiment's runs: parameters, wall time, peak memory, hardware, speed.

    prefix-bench report-summary --experiment table2_e2e --runs-dir results/runs \
        --out-dir results/report/summary

Everything is read from each run's `run.json` (`parameters`, `cost`, `training.tokens_per_s`,
`environment.hardware`). Runs not trained yet are simply absent; a missing field shows "—".
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..atomic import write_text
from .records import RunRecord

FIELDS = [
    ("run", lambda r: r.run_id),
    ("method", lambda r: r.spec["method"]),
    ("model", lambda r: r.spec["model"]),
    ("dataset", lambda r: r.spec["dataset"]),
    ("seed", lambda r: r.seed),
    ("trainable params", lambda r: r.record.get("parameters", {}).get("trainable")),
    ("stored params", lambda r: r.record.get("parameters", {}).get("stored")),
    ("steps", lambda r: r.record.get("training", {}).get("steps")),
    ("dev loss", lambda r: r.record.get("training", {}).get("dev_loss")),
    ("wall s", lambda r: r.record.get("cost", {}).get("wall_seconds")),
    ("peak memory MB", lambda r: r.record.get("cost", {}).get("peak_memory_mb")),
    ("tokens/s", lambda r: r.record.get("training", {}).get("tokens_per_s")),
    ("device", lambda r: r.record.get("device")),
    ("GPU", lambda r: (r.record.get("environment", {}).get("hardware") or {}).get("gpu")),
    ("CPU", lambda r: (r.record.get("environment", {}).get("hardware") or {}).get("cpu")),
]


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def write_summary(experiment: str, runs: list[RunRecord], out_dir: Path) -> None:
    runs = sorted((r for r in runs if r.experiment == experiment), key=lambda r: r.run_id)
    names = [name for name, _ in FIELDS]
    md = [f"# Run summary: {experiment}", "",
          f"{len(runs)} trained run(s). Parameters, cost and speed as recorded in each run.json.", "",
          "| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names)
    for r in runs:
        values = [get(r) for _, get in FIELDS]
        md.append("| " + " | ".join(_fmt(v) for v in values) + " |")
        w.writerow(["" if v is None else v for v in values])
    out_dir = Path(out_dir)
    write_text(out_dir / f"{experiment}.md", "\n".join(md) + "\n")
    write_text(out_dir / f"{experiment}.csv", buf.getvalue())
