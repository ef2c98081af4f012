"""Paper figures, regenerated as PNG (matplotlib, Agg): Figures 3-6 from the runs their specs name.

    prefix-bench report-figure --spec figure3_lowdata --runs-dir results/runs --data-dir results/data \
        --out-dir results/report/figures

Each panel plots, per series (method) and x value (training-set size, data fraction, prefix
length, initialisation word), the mean over the runs behind the point with a ±1 sd error bar.
x comes from the run's own files: the dataset manifest (`subset.size`, `subset.fraction`) or the
run spec (`method_options.length`), never from directory names. Where the experiment sweeps
max-steps only to pick the best (paper low-data protocol), each (dataset, seed, method) keeps the
run with the lowest dev loss. Paper numbers (table cells the paper also reports as numbers) are
drawn as hollow diamonds in their series' colour. Writes `<name>.png` (also `.svg` and `.pdf`), `<name>.csv` (the plotted points) and
`<name>.cells.json` (point -> runs).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..atomic import atomic_path, write_text
from .records import RunRecord, dig, load_paper_results
from .specs import FigureSpec, Panel
from .stats import mean_sd

COLORS = ["tab:orange", "tab:blue", "tab:green", "tab:red", "tab:purple", "tab:brown"]


def _x_value(run: RunRecord, panel: Panel):
    source = run.manifest if panel.x.source == "data" else run.spec
    value = dig(source, panel.x.key)
    if value is None or value == "":
        return panel.x.empty_label or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value * panel.x.scale
    return str(value)


def _select_best(runs: list[RunRecord], panel: Panel, notes: list[str]) -> list[RunRecord]:
    """Per group of runs that differ only in `select_over`, the one with the lowest training.<by>."""
    if not panel.select_over:
        return runs
    groups: dict[str, list[RunRecord]] = {}
    for run in runs:
        spec = json.loads(json.dumps(run.spec))
        spec.pop("run_id", None)
        block, _, key = panel.select_over.partition(".")
        (spec.get(block) or {}).pop(key, None)
        groups.setdefault(json.dumps(spec, sort_keys=True), []).append(run)
    kept = []
    for members in groups.values():
        scored = [r for r in members if r.record.get("training", {}).get(panel.select_by) is not None]
        if scored:
            kept.append(min(scored, key=lambda r: r.record["training"][panel.select_by]))
        else:
            kept.extend(members)
            notes.append(f"no training.{panel.select_by} recorded for {len(members)} run(s); kept all")
    return kept


def panel_points(panel: Panel, runs: list[RunRecord], notes: list[str]) -> list[dict]:
    """[{series, x, mean, sd, n, runs}] for one panel."""
    mine = [r for r in runs if r.experiment in panel.experiments and panel.metric in r.scores.get(panel.split, {})]
    mine = _select_best(mine, panel, notes)
    buckets: dict[tuple, list[RunRecord]] = {}
    for run in mine:
        x = _x_value(run, panel)
        if x is None:
            notes.append(f"{run.run_id}: no {panel.x.source} value {panel.x.key!r}; not plotted")
            continue
        buckets.setdefault((str(dig(run.spec, panel.series)), x), []).append(run)
    points = []
    for (series, x), members in buckets.items():
        values = [r.scores[panel.split][panel.metric] * panel.scale for r in members]
        mean, sd = mean_sd(values)
        points.append({"panel": panel.title, "series": series,
                       "label": panel.series_labels.get(series, series), "x": x, "mean": mean, "sd": sd,
                       "n": len(values), "runs": sorted(r.run_id for r in members)})
    return sorted(points, key=lambda p: (p["series"], str(p["x"]) if isinstance(p["x"], str) else p["x"]))


def paper_points(panel: Panel, paper: dict) -> list[dict]:
    out = []
    for pp in panel.paper_points:
        value = paper.get((pp.version, pp.table, pp.dataset, pp.model, pp.method, pp.split, panel.paper_metric or panel.metric))
        if value is not None:
            out.append({"panel": panel.title, "series": pp.series, "x": pp.x, "value": value,
                        "label": pp.label or f"paper ({pp.version.upper()} {pp.table}, {pp.method})"})
    return out


def draw(spec: FigureSpec, panels: list[tuple[Panel, list[dict], list[dict]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.4 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (panel, points, paper) in zip(axes.flat, panels):
        categorical = any(isinstance(p["x"], str) for p in points + paper)
        order = list(dict.fromkeys(str(p["x"]) for p in points + paper)) if categorical else []
        pos = (lambda x: order.index(str(x))) if categorical else (lambda x: x)
        # colours follow the spec's series order (prefix first: orange, as in the paper's plots);
        # a paper point takes its series' colour, hollow diamond vs our filled circles
        series = list(dict.fromkeys([*panel.series_labels, *(p["series"] for p in points + paper)]))
        color = {s: COLORS[k % len(COLORS)] for k, s in enumerate(series)}
        drawn = [s for s in series if any(p["series"] == s for p in points)]
        for k, s in enumerate(drawn):
            pts = sorted((p for p in points if p["series"] == s), key=lambda p: pos(p["x"]))
            offset = (k - (len(drawn) - 1) / 2) * 0.08 if categorical else 0
            ax.errorbar([pos(p["x"]) + offset for p in pts], [p["mean"] for p in pts],
                        yerr=[p["sd"] or 0 for p in pts], color=color[s],
                        marker="o", linestyle="none" if categorical else "-", capsize=3,
                        label=f"ours: {pts[0]['label']} (mean ± sd)")
        for label in dict.fromkeys(p["label"] for p in paper):
            pts = [p for p in paper if p["label"] == label]
            ax.scatter([pos(p["x"]) for p in pts], [p["value"] for p in pts], s=90, marker="D",
                       facecolors="none", edgecolors=color[pts[0]["series"]], linewidths=2, zorder=5,
                       label=label)
        if categorical:
            ax.set_xticks(range(len(order)), order, rotation=30, ha="right")
        else:
            if panel.x.log:
                ax.set_xscale("log")
            xs = sorted({p["x"] for p in points + paper})
            if xs:  # tick exactly the settings that were run (50, 100, 200, 500), as plain numbers
                ax.set_xticks(xs, [f"{x:g}" for x in xs])
                ax.minorticks_off()
        ax.set_xlabel(panel.x.label)
        ax.set_ylabel(panel.ylabel or panel.metric)
        ax.set_title(panel.title)
        ax.grid(alpha=0.3)
        if not points and not paper:
            ax.text(0.5, 0.5, "no scored runs yet", transform=ax.transAxes, ha="center", va="center",
                    color="gray")
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.legend(fontsize=8)
    fig.suptitle(spec.title)
    fig.tight_layout()
    for suffix in FORMATS:  # PNG to look at; SVG and PDF (vector) for papers and slides
        with atomic_path(path.with_suffix(f".{suffix}")) as tmp:
            fig.savefig(tmp, dpi=110, format=suffix)
    plt.close(fig)


#: the formats every figure is written in
FORMATS = ("png", "svg", "pdf")


def write_figure(spec: FigureSpec, runs: list[RunRecord], out_dir: Path, warnings: list[str]) -> list[dict]:
    paper = load_paper_results()
    notes: list[str] = []
    panels = []
    for panel in spec.panels:
        panels.append((panel, panel_points(panel, runs, notes), paper_points(panel, paper)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    draw(spec, panels, out_dir / f"{spec.name}.png")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["panel", "source", "series", "x", "mean", "sd", "n", "runs"])
    for panel, points, paper_pts in panels:
        for p in points:
            w.writerow([panel.title, "ours", p["label"], p["x"], p["mean"], "" if p["sd"] is None else p["sd"],
                        p["n"], " ".join(p["runs"])])
        for p in paper_pts:
            w.writerow([panel.title, p["label"], p["series"], p["x"], p["value"], "", "", ""])
    write_text(out_dir / f"{spec.name}.csv", buf.getvalue())
    all_points = [p for _, pts, _ in panels for p in pts]
    write_text(out_dir / f"{spec.name}.cells.json", json.dumps(
        {"spec": spec.name, "title": spec.title, "warnings": warnings, "notes": sorted(set(notes)),
         "points": all_points, "paper_points": [p for _, _, pp in panels for p in pp]},
        indent=1, sort_keys=True) + "\n")
    return all_points
