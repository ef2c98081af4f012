"""Read what the runs wrote: `run.json`, `scores/<split>.json`, predictions, dataset manifests.

Every setting the report uses comes from these files (STYLE.md 10), never from directory names.
`check_consistency` flags tables that mix runs of different package code or hold predictions
generated under a different config than the run's (`--strict`, config `report.strict`: refuse them).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..atomic import write_json
from ..errors import PrefixBenchError
from .specs import PAPER_VERSIONS

#: the paper's numbers, both versions (copied from the project's shared paper/results.csv)
PAPER_RESULTS = Path(__file__).resolve().parents[1] / "resources" / "paper_results.csv"


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise PrefixBenchError(f"{path}: unreadable ({err}); rerun the stage that writes it") from None


def load_paper_results() -> dict[tuple, float]:
    """(version, table, dataset, model, method, split, metric) -> value."""
    text = PAPER_RESULTS.read_text(encoding="utf-8")
    table = {}
    for row in csv.DictReader(text.splitlines()):
        key = (row["paper_version"], row["table"], row["dataset"], row["model"], row["method"],
               row["split"], row["metric"])
        table[key] = float(row["value"])
    return table


def metric_values(scores: dict) -> dict[str, float]:
    """Numeric metrics of a scores file (flat, or under "metrics"); settings are skipped."""
    source = scores.get("metrics") if isinstance(scores.get("metrics"), dict) else scores
    return {k: float(v) for k, v in source.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def dig(mapping: dict, dotted: str):
    """mapping["a"]["b"] for "a.b"; None when any level is missing."""
    value = mapping
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass
class RunRecord:
    """One trained run directory and what it wrote."""

    directory: Path
    record: dict
    data_root: Path
    scores: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def spec(self) -> dict:
        return self.record["spec"]

    @property
    def run_id(self) -> str:
        return self.spec["run_id"]

    @property
    def experiment(self) -> str:
        return self.spec["experiment"]

    @property
    def seed(self) -> int:
        return self.spec["train"]["seed"]

    @property
    def paper_model(self) -> str:
        return (self.spec.get("paper") or {}).get("model") or self.spec["model"]

    @property
    def paper_method(self) -> str | None:
        return (self.spec.get("paper") or {}).get("method")

    def reported_as(self, run_id: str, where: dict) -> "RunRecord":
        """This run's outputs as another run that is identical to it reports them (its own
        experiment, run id and paper row; the same directory, record and scores)."""
        spec = {**self.spec, "run_id": run_id, "experiment": where["experiment"], "paper": where.get("paper") or {}}
        return RunRecord(self.directory, {**self.record, "spec": spec}, self.data_root, dict(self.scores))

    def matches(self, experiments, model: str, method: str) -> bool:
        return (self.experiment in experiments and self.paper_model == model
                and self.paper_method == method)

    @cached_property
    def manifest(self) -> dict:
        path = self.data_root / self.spec["dataset"] / "manifest.json"
        return read_json(path) if path.is_file() else {}

    def predictions(self, split: str) -> list[str] | None:
        path = self.directory / "predictions" / f"{split}.txt"
        if not path.is_file():
            return None
        return path.read_text(encoding="utf-8").splitlines()

    def references(self, split: str) -> list[list[str]] | None:
        path = self.data_root / self.spec["dataset"] / f"{split}.eval.jsonl"
        if not path.is_file():
            return None
        with path.open(encoding="utf-8") as f:
            return [json.loads(line)["references"] for line in f if line.strip()]


@dataclass(frozen=True)
class ExpectedRuns:
    """The runs the config defines: the run directories (`runs`, "experiment/run") and the runs
    that read an earlier identical run's outputs (`reported_elsewhere`: run id -> {"trained_in",
    "experiment", "paper"}). `in` asks about run directories."""

    runs: frozenset[str]
    reported_elsewhere: dict = field(default_factory=dict)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self.runs


def write_expected_runs(path: Path, runs: list[str], reported_elsewhere: dict) -> str:
    """Write the file `read_expected_runs` reads (the workflow's expected_runs rule); return a
    one-line summary for its log."""
    write_json(Path(path), {"runs": sorted(runs), "reported_elsewhere": reported_elsewhere})
    return f"{len(runs)} run directories, {len(reported_elsewhere)} runs reading another's outputs"


def read_expected_runs(path: Path | None) -> ExpectedRuns | None:
    """The runs the config defines, from the file the workflow writes
    (`results/report/expected_runs.json`); None = no such list (every run on disk is read)."""
    if path is None:
        return None
    if not Path(path).is_file():
        raise PrefixBenchError(f"{path}: expected-runs file not found; run the workflow's expected_runs rule")
    data = read_json(Path(path))
    runs, elsewhere = data.get("runs"), data.get("reported_elsewhere", {})
    if (not isinstance(runs, list) or not all(isinstance(r, str) for r in runs)
            or not isinstance(elsewhere, dict)
            or not all(isinstance(v, dict) and v.get("trained_in") in runs for v in elsewhere.values())):
        raise PrefixBenchError(f"{path}: needs {{\"runs\": [\"experiment/run\", ...], \"reported_elsewhere\": "
                               "{...}} naming listed runs; rerun the workflow")
    return ExpectedRuns(frozenset(runs), elsewhere)


def run_id_of(run_dir: Path) -> str:
    return f"{run_dir.parent.name}/{run_dir.name}"


def stray_runs(runs_dir: Path, expected: set[str] | None, experiments=None) -> list[str]:
    """Run directories on disk that the config does not define (left from older configs): listed
    as ignored, never tabulated or averaged."""
    if expected is None or not Path(runs_dir).is_dir():
        return []
    found = (run_id_of(p.parent) for p in Path(runs_dir).rglob("run.json"))
    return sorted(r for r in found if r not in expected
                  and (experiments is None or r.split("/", 1)[0] in experiments))


def load_runs(runs_dir: Path, data_root: Path, experiments=None, scored_only: bool = True,
              expected: "ExpectedRuns | None" = None) -> list[RunRecord]:
    """Run records under `runs_dir` (optionally only these experiments, and only the runs in
    `expected`: the runs the config defines), with their scores. A run that reads an earlier
    identical run's outputs comes back as its own record over the same directory."""
    runs_dir = Path(runs_dir)
    out = []
    if not runs_dir.is_dir():
        return out
    elsewhere = getattr(expected, "reported_elsewhere", {})
    readers: dict[str, list[str]] = {}  # run directory -> the runs reading its outputs
    for run_id, where in elsewhere.items():
        readers.setdefault(where["trained_in"], []).append(run_id)
    for record_path in sorted(runs_dir.rglob("run.json")):
        run_dir = record_path.parent
        run_id = run_id_of(run_dir)
        if experiments is not None and run_dir.parent.name not in experiments and run_id not in readers:
            continue  # cheap pre-filter; the spec's experiment is checked below
        if expected is not None and run_id not in expected:
            continue  # a stray run directory: see stray_runs
        score_files = sorted((run_dir / "scores").glob("*.json"))
        if scored_only and not score_files:
            continue  # unscored runs show as missing
        rec = RunRecord(run_dir, read_json(record_path), Path(data_root))
        rec.scores = {p.stem: metric_values(read_json(p)) for p in score_files}
        shared = [rec.reported_as(reader, elsewhere[reader]) for reader in readers.get(run_id, [])]
        out += [r for r in (rec, *shared) if experiments is None or r.experiment in experiments]
    return out


def ignored_note(strays: list[str]) -> list[str]:
    """A warning line for the tables naming the stray run directories that were left out."""
    if not strays:
        return []
    shown = ", ".join(strays[:5]) + (f" and {len(strays) - 5} more" if len(strays) > 5 else "")
    return [f"ignored {len(strays)} run director{'y' if len(strays) == 1 else 'ies'} the config does not "
            f"define: {shown}"]


def _code_of(run: RunRecord) -> str:
    """The package code a run ran (its sha256), or its git state for records written before the
    package hash was recorded."""
    env = run.record["environment"]
    if env.get("package_code"):
        return env["package_code"][:12]
    git = env["git"]
    return f"git {git['commit'][:10] if git.get('commit') else 'unknown'}{' (dirty)' if git.get('dirty') else ''}"


def check_consistency(runs: list[RunRecord], strict: bool = False) -> list[str]:
    """Warnings for tables mixing package code versions or with stale predictions; with `strict`
    (config `report.strict: true`, `--strict`) the first one is an error instead."""
    problems = []
    codes: dict[str, list[str]] = {}
    for run in runs:
        codes.setdefault(_code_of(run), []).append(run.directory.name)
        for info_path in sorted((run.directory / "predictions").glob("*.json")):
            info = read_json(info_path)
            if info.get("config_hash") != run.record["config_hash"]:
                problems.append(f"{info_path} was generated with config {info.get('config_hash')}, "
                                f"but the run is now {run.record['config_hash']}: regenerate it")
    if len(codes) > 1:
        described = "; ".join(f"{code}: {', '.join(sorted(set(names))[:3])}" for code, names in sorted(codes.items()))
        problems.append(f"runs come from different package code ({described}); rerun them with one version "
                        "(set report.strict: true to refuse such tables)")
    if problems and strict:
        raise PrefixBenchError(problems[0])
    return problems


def paper_value(paper: dict, version: str, table: str | None, dataset: str, model: str, method: str,
                split: str, metric: str) -> float | None:
    if version not in PAPER_VERSIONS or not table:
        return None
    return paper.get((version, table, dataset, model, method, split, metric))
