"""The all-runs table: one line per (run, split) with every metric, beside the paper's ACL value.

    prefix-bench report --runs-dir results/runs --out-dir results/report

Covers every scored run, including user variants no paper table declares. A run matches a paper
row through its spec's `paper` entry (table, method label, optionally the model it stands for).
"""

from __future__ import annotations

import math
from pathlib import Path

from ..atomic import write_text
from ..errors import PrefixBenchError
from ..tasks import TASKS
from .records import ExpectedRuns, check_consistency, load_paper_results, load_runs, stray_runs

COLUMNS = ["experiment", "run_id", "dataset", "model", "method", "seed", "split", "metric", "ours",
           "paper_acl", "paper_arxiv_v1", "diff_acl", "paper_model", "paper_method",
           "trainable_params", "stored_params", "wall_seconds", "config_hash", "git_commit", "warnings"]


def _paper_dataset(run) -> tuple[str, dict[str, float]]:
    """The paper's dataset name and score scale of a run's task; a derived dataset (subset)
    reports as its adapter's task (the manifest names it)."""
    name = run.spec["dataset"]
    task = TASKS.get(name) or TASKS.get(run.manifest.get("dataset", name))
    return (task.paper_dataset, task.paper_scale) if task else (name, {})


def collect_rows(runs_dir: Path, data_dir: Path, paper: dict, strict: bool = False,
                 expected: ExpectedRuns | None = None) -> list[dict]:
    """One row per (run, split, metric) over every scored run directory (only those in `expected`,
    the runs the config defines, when given)."""
    runs = load_runs(runs_dir, data_dir, expected=expected)
    warnings = check_consistency(runs, strict)
    rows = []
    for run in runs:
        spec, link = run.spec, run.spec.get("paper") or {}
        dataset, scale = _paper_dataset(run)
        for split, scores in run.scores.items():
            for metric, value in scores.items():
                ours = value * scale.get(metric, 1.0)
                key = (dataset, run.paper_model, link.get("method"), split, metric)
                acl = paper.get(("acl", link.get("table"), *key))
                arxiv = next((v for k, v in paper.items() if k[0] == "arxiv-v1" and k[2:] == key), None)
                rows.append({
                    "experiment": run.experiment, "run_id": run.run_id, "dataset": spec["dataset"],
                    "model": spec["model"], "method": spec["method"], "seed": run.seed,
                    "split": split, "metric": metric, "ours": ours,
                    "paper_acl": acl, "paper_arxiv_v1": arxiv,
                    "diff_acl": None if acl is None else ours - acl,
                    "paper_model": run.paper_model if link else None, "paper_method": link.get("method"),
                    "trainable_params": run.record["parameters"]["trainable"],
                    "stored_params": run.record["parameters"]["stored"],
                    "wall_seconds": run.record["cost"]["wall_seconds"],
                    "config_hash": run.record["config_hash"],
                    "git_commit": run.record["environment"]["git"]["commit"],
                    "warnings": "; ".join(warnings) if warnings else None,
                })
    return rows


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_markdown(rows: list[dict]) -> str:
    """Per experiment: one line per run and split; each metric as `ours (paper ACL)`."""
    if not rows:
        return "# Results\n\nNo scored runs yet.\n"
    out = ["# Results", "",
           "Each cell: ours (paper, ACL version; — where the paper has no such cell). "
           "Paper columns compare against the model named in the run's `paper.model`.", ""]
    for experiment in sorted({r["experiment"] for r in rows}):
        exp_rows = [r for r in rows if r["experiment"] == experiment]
        metrics = list(dict.fromkeys(r["metric"] for r in exp_rows))
        out += [f"## {experiment}", "",
                "| run | model | method | paper row | split | params (trained / stored) | "
                + " | ".join(metrics) + " |",
                "|---" * (6 + len(metrics)) + "|"]
        keys = list(dict.fromkeys((r["run_id"], r["split"]) for r in exp_rows))
        for run_id, split in keys:
            cells = {r["metric"]: r for r in exp_rows if r["run_id"] == run_id and r["split"] == split}
            first = next(iter(cells.values()))
            paper_row = f"{first['paper_model']} {first['paper_method']}" if first["paper_method"] else "—"
            values = [f"{_fmt(cells[m]['ours'])} ({_fmt(cells[m]['paper_acl'])})" if m in cells else "—"
                      for m in metrics]
            out.append(f"| {run_id} | {first['model']} | {first['method']} | {paper_row} | {split} | "
                       f"{first['trainable_params']:,} / {first['stored_params']:,} | " + " | ".join(values) + " |")
        out.append("")
    return "\n".join(out)


def render_csv(rows: list[dict]) -> str:
    lines = [",".join(COLUMNS)]
    for r in rows:
        lines.append(",".join(_csv_cell(r.get(c)) for c in COLUMNS))
    return "\n".join(lines) + "\n"


def _csv_cell(value) -> str:
    if value is None:
        return ""
    text = repr(value) if isinstance(value, float) else str(value)
    return f'"{text}"' if "," in text else text


def make_report(runs_dir: Path, out_dir: Path, strict: bool = False,
                data_dir: Path = Path("results/data"), expected: ExpectedRuns | None = None) -> list[dict]:
    if not Path(runs_dir).is_dir():
        raise PrefixBenchError(f"{runs_dir}: no runs directory; train and score some runs first")
    rows = collect_rows(Path(runs_dir), Path(data_dir), load_paper_results(), strict, expected)
    write_text(Path(out_dir) / "runs.csv", render_csv(rows))
    markdown = render_markdown(rows)
    if expected is not None:
        scored = {r["run_id"] for r in rows}
        defined = set(getattr(expected, "runs", expected)) | set(getattr(expected, "reported_elsewhere", {}))
        missing = sorted(defined - scored)
        strays = stray_runs(Path(runs_dir), expected)
        if missing:
            markdown += f"\nDefined by the config but not scored yet ({len(missing)}): {', '.join(missing)}\n"
        if strays:
            markdown += (f"\nIgnored: {len(strays)} run director{'y' if len(strays) == 1 else 'ies'} the config "
                         f"does not define ({', '.join(strays)}); never tabulated or averaged.\n")
    write_text(Path(out_dir) / "runs.md", markdown)
    return rows
