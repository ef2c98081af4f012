"""Declared tables and figures (STYLE.md 11): what each paper table/figure shows and from which runs.

Specs live in `prefix_bench/resources/tables/<name>.yaml`, one per output, each with a header that
cites the paper table or figure and the expected numbers. They are loaded strictly (an unknown
key fails naming it). A spec never holds numbers itself: the paper's values come from
`resources/paper_results.csv`, addressed by (version, table, dataset, model, method, split,
metric); ours come from the runs whose `run.json` matches a row (experiment, paper model, paper
method label; see `RunRecord.matches`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from ..errors import PrefixBenchError
from ..options import from_dict

PAPER_VERSIONS = ("acl", "arxiv-v1")


@dataclass(frozen=True)
class Column:
    #: key in scores/<split>.json
    metric: str
    #: multiply our value by this to get the paper's unit (E2E scorer prints fractions)
    scale: float = 1.0
    #: the paper CSV's metric name when it differs from ours
    paper_metric: str | None = None
    digits: int = 2

    @property
    def paper_name(self) -> str:
        return self.paper_metric or self.metric


@dataclass(frozen=True)
class Row:
    id: str
    label: str
    #: the paper's model this row stands for (a run's `paper.model`, else its own model key)
    model: str
    #: the paper's method label (a run's `paper.method`), e.g. "Prefix-0.1%", "FT-full"
    method: str
    #: restrict to these experiments (default: the group's)
    experiments: tuple[str, ...] = ()


@dataclass(frozen=True)
class PaperRef:
    #: dataset name in paper_results.csv (e.g. webnlg2017, xsum-news-to-sports)
    dataset: str
    split: str = "test"
    #: table number per paper version, e.g. {acl: T2, arxiv-v1: T1}; absent version: no column
    tables: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Comparison:
    """A paired bootstrap test: `row` against `baseline` on per-example sentence BLEU."""

    row: str
    baseline: str


@dataclass(frozen=True)
class Group:
    title: str
    experiments: tuple[str, ...]
    #: our split: scores/<split>.json and predictions/<split>.txt
    split: str
    paper: PaperRef
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    bootstrap: tuple[Comparison, ...] = ()

    def validate(self, where: str) -> None:
        ids = [r.id for r in self.rows]
        if len(set(ids)) != len(ids):
            raise PrefixBenchError(f"{where}.rows: duplicate row id")
        for c in self.bootstrap:
            for rid in (c.row, c.baseline):
                if rid not in ids:
                    raise PrefixBenchError(f"{where}.bootstrap: unknown row {rid!r}; rows: {', '.join(ids)}")
        for version in self.paper.tables:
            if version not in PAPER_VERSIONS:
                raise PrefixBenchError(f"{where}.paper.tables: unknown version {version!r}")


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    #: the Snakemake target rule that builds it (table2, table3, ...)
    target: str
    groups: tuple[Group, ...]
    kind: Literal["table"] = "table"
    note: str = ""

    @property
    def experiments(self) -> tuple[str, ...]:
        names = [e for g in self.groups for e in g.experiments]
        names += [e for g in self.groups for r in g.rows for e in r.experiments]
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class XAxis:
    #: "data": a key of the dataset manifest (e.g. subset.size); "spec": a key of the run spec
    #: (e.g. method_options.length, method_options.init_words)
    source: Literal["data", "spec"]
    key: str
    label: str
    scale: float = 1.0
    log: bool = False
    #: for categorical x: the label of a missing/empty value (e.g. init_words "" -> "random")
    empty_label: str = ""


@dataclass(frozen=True)
class PaperPoint:
    """A value the paper reports as a number (usually a table cell) placed on a figure."""

    x: float | str
    series: str
    table: str
    dataset: str
    model: str
    method: str
    split: str = "test"
    version: Literal["acl", "arxiv-v1"] = "acl"
    label: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    experiments: tuple[str, ...]
    split: str
    metric: str
    x: XAxis
    scale: float = 1.0
    #: the paper CSV's metric name when it differs from ours (paper points)
    paper_metric: str = ""
    ylabel: str = ""
    #: run-spec key that names a series (method, paper.method, ...)
    series: str = "method"
    #: legend label per series value
    series_labels: dict = field(default_factory=dict)
    #: when an experiment sweeps a setting only to pick the best (the low-data max-steps grid):
    #: keep, per point, the run with the lowest `training.<by>` over values of spec key `over`
    select_over: str = ""
    select_by: str = "dev_loss"
    paper_points: tuple[PaperPoint, ...] = ()


@dataclass(frozen=True)
class FigureSpec:
    name: str
    title: str
    target: str
    panels: tuple[Panel, ...]
    kind: Literal["figure"] = "figure"
    note: str = ""

    @property
    def experiments(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e for p in self.panels for e in p.experiments))


#: the declared specs ship inside the package (located from this file, not the working directory)
SPEC_DIR = Path(__file__).resolve().parents[1] / "resources" / "tables"


def _spec_files() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(SPEC_DIR.glob("*.yaml"))}


def parse_spec(text: str, where: str) -> TableSpec | FigureSpec:
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or data.get("kind") not in ("table", "figure"):
        raise PrefixBenchError(f"{where}: a spec needs `kind: table` or `kind: figure`")
    cls = TableSpec if data["kind"] == "table" else FigureSpec
    return from_dict(cls, data, where)


def load_specs() -> dict[str, TableSpec | FigureSpec]:
    """Every shipped spec by name (the file name must equal the spec's `name`)."""
    specs = {}
    for stem, text in sorted(_spec_files().items()):
        spec = parse_spec(text, f"resources/tables/{stem}.yaml")
        if spec.name != stem:
            raise PrefixBenchError(f"resources/tables/{stem}.yaml: name {spec.name!r} must equal the file name")
        specs[stem] = spec
    return specs


def load_spec(name: str) -> TableSpec | FigureSpec:
    specs = load_specs()
    if name not in specs:
        raise PrefixBenchError(f"unknown table/figure spec {name!r}; declared: {', '.join(specs)}")
    return specs[name]


def active_specs(experiments: list[str] | set[str]) -> dict[str, TableSpec | FigureSpec]:
    """Specs that show at least one of these experiments (what a config can fill)."""
    chosen = set(experiments)
    return {name: s for name, s in load_specs().items() if chosen & set(s.experiments)}
