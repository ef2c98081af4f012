"""A newcomer's toy task, written as CONTRIBUTING.md says ("Adding a dataset (a task)"): one module
holding an adapter, a scorer and `TASK`, registered in `TASKS`. Nothing else is edited, and the
task runs through `prefix-bench prepare` and `prefix-bench score` like the four real ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prefix_bench.cli import main
from prefix_bench.data.base import DatasetAdapter
from prefix_bench.data.download import SourceFile
from prefix_bench.data.schema import Entry
from prefix_bench.score.io import Units
from prefix_bench.tasks import TASKS, Task


class ToyAdapter(DatasetAdapter):
    """`<split>.tsv`: one `source<TAB>reference` line per unit."""

    name = "toy"
    VERSION = 1
    OPTIONS = {"upper": "no"}
    CHOICES = {"upper": ("no", "yes")}

    def files(self, split: str) -> list[SourceFile]:
        return [SourceFile(f"{split}.tsv", ("https://example.invalid/toy.tsv",))]

    def load(self, split: str, source_dir: Path, options: dict[str, Any]) -> list[Entry]:
        rows = [line.split("\t") for line in (source_dir / f"{split}.tsv").read_text().splitlines()]
        upper = options["upper"] == "yes"
        return [Entry(str(i), src.upper() if upper else src, [ref]) for i, (src, ref) in enumerate(rows)]


def score_toy(units: Units, hyps: list[str], *, paper_protocol: bool = False) -> tuple[dict, dict]:
    """Exact-match rate against any reference."""
    hits = sum(h in refs for h, refs in zip(hyps, units.refs))
    return {"EXACT": hits / len(hyps)}, {"exact": "string equality with any reference"}


TASK = Task(name="toy", adapter=ToyAdapter, score=score_toy, metrics=("EXACT",), paper_dataset="toy",
            needs_java=False, citation="a test fixture")


@pytest.fixture()
def toy_task(monkeypatch, tmp_path):
    monkeypatch.setitem(TASKS, "toy", TASK)  # CONTRIBUTING step 2: add it to TASKS
    source = tmp_path / "source"
    source.mkdir()
    for split in ("train", "dev", "test"):
        (source / f"{split}.tsv").write_text("name : a\tA is here.\nname : b\tB is there.\n")
    return source


def test_a_toy_task_runs_through_prepare_and_score(toy_task, tmp_path, capsys):
    out = tmp_path / "prepared"
    assert main(["prepare", "--dataset", "toy", "--source-dir", str(toy_task), "--out", str(out),
                 "--option", "upper=yes"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset"] == "toy" and manifest["options"] == {"upper": "yes"}
    assert json.loads((out / "test.eval.jsonl").read_text().splitlines()[0])["source"] == "NAME : A"
    hyps = tmp_path / "hyps.txt"
    hyps.write_text("A is here.\nnothing\n")
    assert main(["score", "--task", "toy", "--refs", str(out / "test.eval.jsonl"), "--hyps", str(hyps),
                 "--json", str(tmp_path / "s.json")]) == 0
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["EXACT"] == 0.5 and scores["higher_is_better"] == {"EXACT": True}
    assert main(["prepare", "--dataset", "toy", "--source-dir", str(toy_task), "--out", str(out),
                 "--option", "upper=maybe"]) == 2  # the adapter's own choices are enforced
    assert "upper" in capsys.readouterr().err
