"""Paper tables, regenerated: ours (mean ± sd over seeds) beside the paper's ACL and arXiv v1 values.

    prefix-bench report-table --spec table2_e2e --runs-dir results/runs --data-dir results/data \
        --out-dir results/report/tables

Writes `<name>.md`, `<name>.tex`, `<name>.csv` and `<name>.cells.json` (every cell -> the run ids,
run directories and config hashes behind it). The paper's layout (rows = methods, columns = the
metrics, "ours (paper)") opens the Markdown and is the LaTeX (booktabs); the Markdown then lists
every cell on its own line with its spread, both paper versions and the difference. Scores are on
the paper's scale (each spec column's `scale`: the E2E scorer's fractions become percentages). A cell no run fills shows "—", never 0. The arXiv v1
column shows a value only where it differs from the ACL one ("=" where equal).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import write_text
from .records import RunRecord, load_paper_results, paper_value
from .specs import Group, TableSpec
from .stats import average_over_seeds, mean_sd, paired_bootstrap, sentence_bleu_scores

SIGNIFICANCE = 0.05
DASH = "—"


@dataclass
class Cell:
    group: str
    row: str
    label: str
    metric: str
    values: list[float]
    runs: list[RunRecord]
    paper_acl: float | None
    paper_arxiv: float | None
    digits: int = 2
    bootstrap: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def mean(self):
        return mean_sd(self.values)[0]

    @property
    def sd(self):
        return mean_sd(self.values)[1]

    @property
    def diff(self):
        return None if self.mean is None or self.paper_acl is None else self.mean - self.paper_acl

    def to_json(self) -> dict:
        return {
            "group": self.group, "row": self.row, "label": self.label, "metric": self.metric,
            "mean": self.mean, "sd": self.sd, "n": len(self.values), "values": self.values,
            "paper_acl": self.paper_acl, "paper_arxiv_v1": self.paper_arxiv, "diff_acl": self.diff,
            "runs": [r.run_id for r in self.runs],
            "run_dirs": [str(r.directory) for r in self.runs],
            "config_hashes": sorted({r.record["config_hash"] for r in self.runs}),
            "bootstrap": self.bootstrap,
        }


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:.{digits}f}"


def _ours(cell: Cell) -> str:
    if not cell.values:
        return DASH
    text = _fmt(cell.mean, cell.digits)
    if cell.sd is not None:
        text += f" ± {_fmt(cell.sd, cell.digits)}"
    return text


def _arxiv(cell: Cell) -> str:
    if cell.paper_arxiv is None:
        return DASH
    if cell.paper_acl is not None and math.isclose(cell.paper_arxiv, cell.paper_acl):
        return "="
    return _fmt(cell.paper_arxiv, cell.digits)


def _signed(value, digits: int) -> str:
    return DASH if value is None else f"{value:+.{digits}f}"


def _bootstrap_text(cell: Cell) -> str:
    b = cell.bootstrap
    if not b:
        return ""
    if b.get("error"):
        return f"n/a ({b['error']})"
    mark = "†" if b["p_value"] < SIGNIFICANCE else ""
    # p = 0 means no resample went the other way: bounded by the resolution 1/B, not zero
    p = f"p<{1 / b['resamples']:.2g}" if b["p_value"] == 0 else f"p={b['p_value']:.3f}"
    return f"Δ {b['delta']:+.2f}, {p}{mark} vs {b['baseline_label']}"


def _bootstrap(group: Group, row_runs: dict[str, list[RunRecord]], labels: dict[str, str],
               resamples: int) -> dict[str, dict]:
    """Per compared row: the paired bootstrap result (or why it could not run)."""
    out = {}
    for comp in group.bootstrap:
        a_runs, b_runs = row_runs[comp.row], row_runs[comp.baseline]
        result = {"baseline": comp.baseline, "baseline_label": labels[comp.baseline],
                  "runs": [r.run_id for r in a_runs], "baseline_runs": [r.run_id for r in b_runs]}
        if not a_runs or not b_runs:
            continue  # nothing to compare yet: the cell stays without a mark
        try:
            scores = []
            for runs in (a_runs, b_runs):
                per_seed = []
                for run in runs:
                    hyps, refs = run.predictions(group.split), run.references(group.split)
                    if hyps is None or refs is None:
                        raise ValueError(f"{run.run_id}: predictions or references missing")
                    per_seed.append(sentence_bleu_scores(hyps, refs))
                scores.append(average_over_seeds(per_seed))
            result.update(paired_bootstrap(scores[0], scores[1], resamples).to_dict())
        except ValueError as err:
            result["error"] = str(err)
        out[comp.row] = result
    return out


def build_cells(spec: TableSpec, runs: list[RunRecord], paper: dict | None = None,
                resamples: int = 1000) -> list[Cell]:
    paper = load_paper_results() if paper is None else paper
    cells = []
    for group in spec.groups:
        labels = {r.id: r.label for r in group.rows}
        row_runs = {
            row.id: [r for r in runs if r.matches(row.experiments or group.experiments, row.model, row.method)
                     and group.split in r.scores]
            for row in group.rows
        }
        tests = _bootstrap(group, row_runs, labels, resamples)
        for row in group.rows:
            for i, col in enumerate(group.columns):
                used = [r for r in row_runs[row.id] if col.metric in r.scores[group.split]]
                values = [r.scores[group.split][col.metric] * col.scale for r in used]
                key = (group.paper.dataset, row.model, row.method, group.paper.split, col.paper_name)
                cells.append(Cell(
                    group=group.title, row=row.id, label=row.label, metric=col.metric,
                    values=values, runs=used, digits=col.digits,
                    paper_acl=paper_value(paper, "acl", group.paper.tables.get("acl"), *key),
                    paper_arxiv=paper_value(paper, "arxiv-v1", group.paper.tables.get("arxiv-v1"), *key),
                    bootstrap=tests.get(row.id) if i == 0 else None,
                ))
    return cells


HEADER = ["Row", "Metric", "Ours (mean ± sd)", "n", "Paper ACL", "Paper arXiv v1", "Δ vs ACL",
          "Paired bootstrap (sentence BLEU)"]


def _lines(cells: list[Cell]) -> list[tuple[str, list[str]]]:
    out = []
    for c in cells:
        out.append((c.group, [c.label, c.metric, _ours(c), str(len(c.values)) if c.values else DASH,
                              _fmt(c.paper_acl, c.digits), _arxiv(c), _signed(c.diff, c.digits),
                              _bootstrap_text(c)]))
    return out


def _paper_cell(cell: Cell) -> str:
    """One cell of the paper layout: our mean (the paper's ACL value), † when significant."""
    ours = _fmt(cell.mean, cell.digits) if cell.values else DASH
    mark = "†" if cell.bootstrap and not cell.bootstrap.get("error") and cell.bootstrap["p_value"] < SIGNIFICANCE else ""
    return f"{ours}{mark} ({_fmt(cell.paper_acl, cell.digits)})"


def paper_layout(cells: list[Cell]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The paper's shape: per group, rows = methods, columns = metrics, each cell "ours (paper)"."""
    groups: dict[str, dict] = {}
    for c in cells:
        g = groups.setdefault(c.group, {"metrics": [], "rows": {}})
        if c.metric not in g["metrics"]:
            g["metrics"].append(c.metric)
        g["rows"].setdefault(c.label, {})[c.metric] = _paper_cell(c)
    return [(title, g["metrics"], [[label, *(by.get(m, DASH) for m in g["metrics"])] for label, by in g["rows"].items()])
            for title, g in groups.items()]


def render_markdown(spec: TableSpec, cells: list[Cell], warnings: list[str]) -> str:
    out = [f"# {spec.title}", ""]
    if spec.note:
        out += [spec.note.strip(), ""]
    out += ["Ours: mean ± sample sd over the runs (seeds, subsets) behind the cell; n = runs. "
            "— = no run or no paper value. arXiv v1: shown where it differs from ACL (= where equal). "
            f"† = paired bootstrap p < {SIGNIFICANCE} (per-example sentence BLEU; see stats.py). "
            f"Cell -> runs: `{spec.name}.cells.json`.", ""]
    for w in warnings:
        out += [f"> warning: {w}", ""]
    out += ["## In the paper's layout: ours (paper, ACL)", ""]
    for title, metrics, rows in paper_layout(cells):
        out += [f"**{title}**", "", "| Method | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        out += ["| " + " | ".join(row) + " |" for row in rows] + [""]
    out += ["## Every cell: spread, both paper versions, the difference", ""]
    group = label = None
    for g, line in _lines(cells):
        if g != group:
            out += ([""] if group is not None else []) + [f"## {g}", "", "| " + " | ".join(HEADER) + " |",
                                                           "|" + "---|" * len(HEADER)]
            group = label = None
        shown = list(line)
        if line[0] == label:
            shown[0] = ""  # a row's label once, on its first metric line
        group, label = g, line[0]
        out.append("| " + " | ".join(shown) + " |")
    return "\n".join(out) + "\n"


def _tex(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("—", "--"), ("Δ", r"$\Delta$"), ("†", r"$^\dagger$")):
        text = text.replace(a, b)
    return text


def render_latex(spec: TableSpec, cells: list[Cell]) -> str:
    """The paper's layout as booktabs tables (one per group): rows = methods, columns = metrics,
    each cell "ours (paper)"; the spread and the other paper version are in the .md and .csv."""
    out = [r"% " + spec.title, r"% generated by prefix-bench report-table; each cell: ours (paper, ACL); "
           r"cells -> runs: " + spec.name + ".cells.json", r"% needs \usepackage{booktabs}"]
    out += [r"% " + line for line in spec.note.strip().splitlines()]
    for title, metrics, rows in paper_layout(cells):
        out += [r"\begin{tabular}{l" + "c" * len(metrics) + "}", r"\toprule",
                rf"\multicolumn{{{len(metrics) + 1}}}{{l}}{{\textit{{{_tex(title)}}}}} \\",
                rf"\cmidrule(lr){{2-{len(metrics) + 1}}}",
                " & ".join(["Method", *(_tex(m) for m in metrics)]) + r" \\", r"\midrule"]
        out += [" & ".join(_tex(x) for x in row) + r" \\" for row in rows]
        out += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(out)


CSV_COLUMNS = ["group", "row", "label", "metric", "mean", "sd", "n", "paper_acl", "paper_arxiv_v1",
               "diff_acl", "bootstrap_delta", "bootstrap_p", "bootstrap_baseline", "runs"]


def render_csv(cells: list[Cell]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for c in cells:
        b = c.bootstrap or {}
        w.writerow([c.group, c.row, c.label, c.metric,
                    "" if c.mean is None else repr(c.mean), "" if c.sd is None else repr(c.sd),
                    len(c.values), "" if c.paper_acl is None else c.paper_acl,
                    "" if c.paper_arxiv is None else c.paper_arxiv, "" if c.diff is None else repr(c.diff),
                    b.get("delta", ""), b.get("p_value", ""), b.get("baseline", ""),
                    " ".join(r.run_id for r in c.runs)])
    return buf.getvalue()


def write_table(spec: TableSpec, runs: list[RunRecord], out_dir: Path, warnings: list[str],
                resamples: int = 1000) -> list[Cell]:
    cells = build_cells(spec, runs, resamples=resamples)
    out_dir = Path(out_dir)
    write_text(out_dir / f"{spec.name}.md", render_markdown(spec, cells, warnings))
    write_text(out_dir / f"{spec.name}.tex", render_latex(spec, cells))
    write_text(out_dir / f"{spec.name}.csv", render_csv(cells))
    write_text(out_dir / f"{spec.name}.cells.json", json.dumps(
        {"spec": spec.name, "title": spec.title, "warnings": warnings,
         "cells": [c.to_json() for c in cells]}, indent=1, sort_keys=True) + "\n")
    return cells
