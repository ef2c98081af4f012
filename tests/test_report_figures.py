"""Figures from hand-written runs: x from the dataset manifest or the run spec, best-of-sweep
selection by dev loss, paper points, and a PNG that matplotlib (Agg) actually wrote."""

from __future__ import annotations

import json

import pytest

from prefix_bench.report.figures import write_figure
from prefix_bench.report.records import load_runs
from prefix_bench.report.specs import load_spec
from test_report_tables import make_run, write_refs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_data_efficiency_points_use_manifest_fractions_and_paper_points(tmp_path):
    for frac in (0.4, 0.8):
        name = f"e2e_f{int(frac * 100)}"
        write_refs(tmp_path, name, {"dataset": "e2e", "subset": {"fraction": frac, "size": None}})
        for method, bleu in (("prefix", 0.5 + frac / 10), ("finetune", 0.4 + frac / 10)):
            make_run(tmp_path, "figure6_data_efficiency", f"tiny-{method}-{name}-s1", method=method,
                     paper_method=None, dataset=name, scores={"BLEU": bleu, "ROUGE_L": 0.6})
    spec = load_spec("figure6_data_efficiency")
    out = tmp_path / "fig"
    points = write_figure(spec, load_runs(tmp_path / "runs", tmp_path / "data"), out, [])
    bleu = {(p["series"], p["x"]): p["mean"] for p in points if p["panel"] == "E2E test: BLEU"}
    assert bleu == pytest.approx({("prefix", 40.0): 54.0, ("prefix", 80.0): 58.0,
                                  ("finetune", 40.0): 44.0, ("finetune", 80.0): 48.0})
    assert (out / "figure6_data_efficiency.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "figure6_data_efficiency.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in (out / "figure6_data_efficiency.svg").read_bytes()[:500]
    cells = json.loads((out / "figure6_data_efficiency.cells.json").read_text())
    assert {p["value"] for p in cells["paper_points"]} == {70.3, 68.8, 72.1, 71.1}  # Table 2 at 100%
    rows = (out / "figure6_data_efficiency.csv").read_text().splitlines()
    assert rows[0] == "panel,source,series,x,mean,sd,n,runs"
    assert any("paper Table 2, Prefix (100%)" in r for r in rows)


def test_lowdata_keeps_the_lowest_dev_loss_over_max_steps(tmp_path):
    for subset in (0, 1):
        name = f"e2e_n50_s{subset}"
        write_refs(tmp_path, name, {"dataset": "e2e", "subset": {"size": 50, "seed": subset}})
        for steps, loss, bleu in ((100, 3.0, 0.10), (400, 2.0, 0.30 + subset / 10), (600, 2.5, 0.90)):
            make_run(tmp_path, "figure3_lowdata_e2e", f"tiny-prefix-{name}-max_steps{steps}-s1",
                     paper_method="Prefix", dataset=name, dev_loss=loss,
                     spec_extra={"train": {"seed": 1, "max_steps": steps}},
                     scores={"BLEU": bleu, "ROUGE_L": 0.5})
    spec = load_spec("figure3_lowdata")
    out = tmp_path / "fig"
    points = write_figure(spec, load_runs(tmp_path / "runs", tmp_path / "data"), out, [])
    (point,) = [p for p in points if p["panel"].endswith("BLEU")]
    assert point["x"] == 50 and point["n"] == 2
    assert point["mean"] == pytest.approx(35.0)  # the max_steps=400 runs: 30 and 40 BLEU
    assert all("max_steps400" in r for r in point["runs"])
    # the XSum panels have no runs: drawn empty, not as zeros
    assert not [p for p in points if "XSum" in p["panel"]]
    assert (out / "figure3_lowdata.png").stat().st_size > 10_000


def test_init_words_are_categorical_with_random_for_empty(tmp_path):
    write_refs(tmp_path, "e2e_n50_s0", {"dataset": "e2e", "subset": {"size": 50, "seed": 0}})
    for label, words in (("random", ""), ("elephant", "elephant"), ("t2t", "table-to-text")):
        options = {"init": "words", "init_words": words} if words else {"length": 5}
        make_run(tmp_path, "figure5_init_e2e", f"tiny-{label}-e2e_n50_s0-max_steps100-s1", paper_method=None,
                 dataset="e2e_n50_s0", dev_loss=1.0, scores={"BLEU": 0.2, "ROUGE_L": 0.4},
                 spec_extra={"method_options": options})
    points = write_figure(load_spec("figure5_init"), load_runs(tmp_path / "runs", tmp_path / "data"),
                          tmp_path / "fig", [])
    assert {p["x"] for p in points} == {"random", "elephant", "table-to-text"}
