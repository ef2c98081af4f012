"""Report stage: the paper's tables and figures, regenerated from the runs, plus cost summaries.

    prefix-bench report          --runs-dir results/runs --out-dir results/report   (all runs, one table)
    prefix-bench report-table    --spec table2_e2e    --out-dir results/report/tables
    prefix-bench report-figure   --spec figure3_lowdata --out-dir results/report/figures
    prefix-bench report-summary  --experiment table2_e2e --out-dir results/report/summary
    prefix-bench report-specs    [--experiments a,b]   (declared tables/figures, JSON)

Tables and figures are declared in `prefix_bench/resources/tables/*.yaml` (specs.py). Modules, in
the order the stage runs: specs (what to show) -> records (what the runs wrote) -> stats (seed
statistics, paired bootstrap) -> tables / figures / summary (rendering) -> runs (all-runs table).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .records import check_consistency, ignored_note, load_runs, read_expected_runs, stray_runs
from .specs import FigureSpec, active_specs, load_spec


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs-dir", default="results/runs", help="directory holding run directories")
    p.add_argument("--data-dir", default="results/data", help="prepared datasets (manifests, references)")
    p.add_argument("--strict", action="store_true",
                   help="refuse runs from different package code or with stale predictions (default: "
                   "tabulate them with a warning); the config's report.strict")
    p.add_argument("--expected-runs", help="JSON {\"runs\": [\"experiment/run\", ...]}: read only these runs "
                   "(the workflow passes the runs its config defines); others are listed as ignored")


def run_all_runs(args: argparse.Namespace) -> int:
    from .runs import make_report, render_markdown

    rows = make_report(Path(args.runs_dir), Path(args.out_dir), args.strict, Path(args.data_dir),
                       read_expected_runs(args.expected_runs))
    print(render_markdown(rows))
    return 0


def run_table_or_figure(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    expected = read_expected_runs(args.expected_runs)
    runs = load_runs(Path(args.runs_dir), Path(args.data_dir), set(spec.experiments), expected=expected)
    warnings = check_consistency(runs, args.strict)
    warnings += ignored_note(stray_runs(Path(args.runs_dir), expected, set(spec.experiments)))
    if isinstance(spec, FigureSpec):
        from .figures import write_figure

        points = write_figure(spec, runs, Path(args.out_dir), warnings)
        print(f"{spec.name}: {len(points)} point(s) from {len(runs)} run(s) -> {args.out_dir}")
    else:
        from .tables import write_table

        cells = write_table(spec, runs, Path(args.out_dir), warnings, args.bootstrap_resamples)
        filled = sum(1 for c in cells if c.values)
        print(f"{spec.name}: {filled}/{len(cells)} cell(s) filled from {len(runs)} run(s) -> {args.out_dir}")
    return 0


def run_summary(args: argparse.Namespace) -> int:
    from .summary import write_summary

    runs = load_runs(Path(args.runs_dir), Path(args.data_dir), {args.experiment}, scored_only=False,
                     expected=read_expected_runs(args.expected_runs))
    write_summary(args.experiment, runs, Path(args.out_dir))
    return 0


def run_specs(args: argparse.Namespace) -> int:
    chosen = [e for e in (args.experiments or "").split(",") if e]
    specs = active_specs(chosen) if chosen else active_specs({e for s in _all() for e in s.experiments})
    print(json.dumps({name: {"kind": s.kind, "target": s.target, "experiments": list(s.experiments)}
                      for name, s in specs.items()}, indent=1))
    return 0


def _all():
    from .specs import load_specs

    return load_specs().values()


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="tabulate every scored run beside the paper's numbers",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--out-dir", default="results/report", help="where runs.md and runs.csv go")
    p.set_defaults(func=run_all_runs)

    for name, what in (("report-table", "one declared paper table (md, tex, csv, cells.json)"),
                       ("report-figure", "one declared paper figure (png, csv, cells.json)")):
        p = sub.add_parser(name, help=what, description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        _common(p)
        p.add_argument("--spec", required=True, help="spec name (resources/tables/<name>.yaml)")
        p.add_argument("--out-dir", required=True)
        p.add_argument("--bootstrap-resamples", type=int, default=1000)
        p.set_defaults(func=run_table_or_figure)

    p = sub.add_parser("report-summary", help="cost summary of one experiment's runs",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--experiment", required=True)
    p.add_argument("--out-dir", default="results/report/summary")
    p.set_defaults(func=run_summary)

    p = sub.add_parser("report-specs", help="list declared tables and figures (JSON)")
    p.add_argument("--experiments", help="comma-separated: only specs showing these experiments")
    p.set_defaults(func=run_specs)
