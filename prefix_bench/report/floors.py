"""`prefix-bench check-scores`: assert that finished runs reach the quality floors a config states.

A config may list `floors:` — a run, a split, a metric and the lowest acceptable value. The demo
config states the floor its real-model prefix-tuning run must reach; CI runs the demo and then
this check, so a change that breaks the method (a prefix reaching only some layers, a wrong
position offset, a model left in training mode) fails CI on a real number, not only on a toy.

    prefix-bench check-scores --configfile config/demo.yaml [--results results]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..config_schema import read_config_file
from ..errors import PrefixBenchError


def read_floors(config_path: Path) -> list[dict]:
    """The `floors:` list of a config file (each {run, split, metric, min}, checked against the
    workflow schema; the rest of the file is the workflow's business)."""
    floors = read_config_file(config_path, only="floors").get("floors") or []
    if not floors:
        raise PrefixBenchError(f"{config_path}: states no floors: (nothing to check)")
    return floors


def check_floors(floors: list[dict], results: Path) -> list[tuple[dict, float, bool]]:
    """(floor, measured value, passed) per floor; a missing table or scores file is an error."""
    table = results / "report" / "runs.md"
    if not table.is_file():
        raise PrefixBenchError(f"{table}: the results table is missing; run the workflow first")
    out = []
    for floor in floors:
        path = results / "runs" / floor["run"] / "scores" / f"{floor['split']}.json"
        if not path.is_file():
            raise PrefixBenchError(f"{path}: no scores for run {floor['run']}; run the workflow first")
        scores = json.loads(path.read_text(encoding="utf-8"))
        if floor["metric"] not in scores:
            raise PrefixBenchError(f"{path}: no metric {floor['metric']!r}; "
                                   f"metrics: {', '.join(k for k, v in scores.items() if isinstance(v, float))}")
        value = float(scores[floor["metric"]])
        out.append((floor, value, value >= float(floor["min"])))
    return out


def run(args: argparse.Namespace) -> int:
    results = check_floors(read_floors(Path(args.configfile)), Path(args.results))
    for floor, value, passed in results:
        verdict = "ok" if passed else "BELOW FLOOR"
        print(f"{verdict}: {floor['run']} {floor['split']} {floor['metric']} = {value:.4f} "
              f"(floor {float(floor['min']):.4f})")
    failed = [f for f, _, passed in results if not passed]
    if failed:
        raise PrefixBenchError(f"{len(failed)} of {len(results)} runs are below their floor; "
                               "the method or the setup has regressed")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("check-scores", help="fail when finished runs are below the config's floors",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configfile", required=True, help="config with a floors: list (e.g. config/demo.yaml)")
    p.add_argument("--results", default="results", help="results directory (default: results)")
    p.set_defaults(func=run)
