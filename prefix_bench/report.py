"""Report stage: one table of every finished run, with the paper's numbers beside ours.

Command: `prefix-bench report --runs-dir results/runs --out-dir results/report`

Each run directory holds `run.json` (what was run) and `scores/<split>.json` (what it scored);
the paper's numbers ship as `resources/paper_results.csv` (ACL camera-ready and arXiv v1). A run
matches a paper row through its spec's `paper` entry (table, method label, optionally the model
to compare with), never through directory names. Missing values show as missing, never as 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from importlib import resources
from pathlib import Path

from .atomic import write_text
from .errors import PrefixBenchError

PAPER_VERSIONS = ("acl", "arxiv-v1")
# Our dataset names -> the paper CSV's names.
PAPER_DATASET = {"e2e": "e2e", "webnlg": "webnlg2017", "dart": "dart", "xsum": "xsum"}
# The official E2E scorer prints fractions; the paper prints BLEU/METEOR/ROUGE-L as percentages.
PAPER_SCALE = {("e2e", "BLEU"): 100.0, ("e2e", "METEOR"): 100.0, ("e2e", "ROUGE_L"): 100.0}
COLUMNS = ["experiment", "run_id", "dataset", "model", "method", "seed", "split", "metric", "ours",
           "paper_acl", "paper_arxiv_v1", "diff_acl", "paper_model", "paper_method",
           "trainable_params", "stored_params", "wall_seconds", "config_hash", "git_commit"]


def load_paper_results() -> dict[tuple, float]:
    """(version, table, dataset, model, method, split, metric) -> value."""
    text = resources.files("prefix_bench").joinpath("resources/paper_results.csv").read_text(encoding="utf-8")
    table = {}
    for row in csv.DictReader(text.splitlines()):
        key = (row["paper_version"], row["table"], row["dataset"], row["model"], row["method"],
               row["split"], row["metric"])
        table[key] = float(row["value"])
    return table


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise PrefixBenchError(f"{path}: unreadable ({err}); rerun the stage that writes it") from None


def collect_rows(runs_dir: Path, paper: dict[tuple, float]) -> list[dict]:
    """One row per (run, split, metric) over every run directory that has scores."""
    rows = []
    for record_path in sorted(runs_dir.rglob("run.json")):
        run_dir = record_path.parent
        score_files = sorted((run_dir / "scores").glob("*.json"))
        if not score_files:
            continue  # not scored yet: shown as missing by its absence
        record = _read_json(record_path)
        spec = record["spec"]
        link = spec.get("paper") or {}
        dataset = PAPER_DATASET.get(spec["dataset"], spec["dataset"])
        paper_model = link.get("model", spec["model"])
        for score_path in score_files:
            split = score_path.stem
            scores = _read_json(score_path)
            for metric, value in scores.items():
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    continue  # settings, versions, "not computed" markers
                ours = float(value) * PAPER_SCALE.get((spec["dataset"], metric), 1.0)
                values = {
                    v: paper.get((v, link.get("table"), dataset, paper_model, link.get("method"), split, metric))
                    for v in PAPER_VERSIONS
                }
                if link.get("table") and values["arxiv-v1"] is None:
                    # arXiv v1 numbered its tables differently; match on everything but the table.
                    values["arxiv-v1"] = next(
                        (val for key, val in paper.items() if key[0] == "arxiv-v1"
                         and key[2:] == (dataset, paper_model, link.get("method"), split, metric)), None)
                rows.append({
                    "experiment": spec["experiment"], "run_id": spec["run_id"], "dataset": spec["dataset"],
                    "model": spec["model"], "method": spec["method"], "seed": spec["train"]["seed"],
                    "split": split, "metric": metric, "ours": ours,
                    "paper_acl": values["acl"], "paper_arxiv_v1": values["arxiv-v1"],
                    "diff_acl": None if values["acl"] is None else ours - values["acl"],
                    "paper_model": paper_model if link else None, "paper_method": link.get("method"),
                    "trainable_params": record["parameters"]["trainable"],
                    "stored_params": record["parameters"]["stored"],
                    "wall_seconds": record["cost"]["wall_seconds"],
                    "config_hash": record["config_hash"],
                    "git_commit": record["environment"]["git"]["commit"],
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


def make_report(runs_dir: Path, out_dir: Path) -> list[dict]:
    if not runs_dir.is_dir():
        raise PrefixBenchError(f"{runs_dir}: no runs directory; train and score some runs first")
    rows = collect_rows(runs_dir, load_paper_results())
    write_text(out_dir / "runs.csv", render_csv(rows))
    write_text(out_dir / "runs.md", render_markdown(rows))
    return rows


def run(args: argparse.Namespace) -> int:
    rows = make_report(Path(args.runs_dir), Path(args.out_dir))
    print(render_markdown(rows))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="tabulate scored runs beside the paper's numbers", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs-dir", default="results/runs", help="directory holding run directories")
    p.add_argument("--out-dir", default="results/report", help="where runs.md and runs.csv go")
    p.set_defaults(func=run)
