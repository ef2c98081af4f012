"""Report stage on hand-written run directories: declared tables, seed statistics, the paired
bootstrap, provenance refusal, cell -> run tracing and run summaries. No training, no scorer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefix_bench.errors import PrefixBenchError
from prefix_bench.report.records import (
    check_consistency,
    ignored_note,
    load_paper_results,
    load_runs,
    read_expected_runs,
    stray_runs,
)
from prefix_bench.report.specs import load_spec, load_specs, parse_spec
from prefix_bench.report.stats import mean_sd, paired_bootstrap, sentence_bleu_scores
from prefix_bench.report.summary import write_summary
from prefix_bench.report.tables import build_cells, write_table

REFS = [[f"The Eagle {i} is a coffee shop near the river.", f"Eagle {i} is a coffee shop."] for i in range(30)]
GOOD = [f"The Eagle {i} is a coffee shop near the river." for i in range(30)]
BAD = ["banana banana" for _ in range(30)]


def make_run(root: Path, experiment: str, name: str, *, method: str = "prefix", paper_method: str,
             seed: int = 1, scores: dict | None = None, dataset: str = "e2e", predictions=None,
             commit: str = "abc123", paper_model: str = "gpt2-medium", spec_extra: dict | None = None,
             dev_loss: float | None = None) -> Path:
    """A finished run directory as train/generate/score write it (only the fields the report reads)."""
    run_dir = root / "runs" / experiment / name
    (run_dir / "scores").mkdir(parents=True)
    (run_dir / "predictions").mkdir()
    spec = {"run_id": f"{experiment}/{name}", "experiment": experiment, "dataset": dataset,
            "model": "tiny-gpt2", "method": method, "method_options": {"length": 5},
            "train": {"seed": seed, "max_steps": 5}, "generate": {},
            "paper": {"table": "T2", "method": paper_method, "model": paper_model}}
    for key, value in (spec_extra or {}).items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    record = {"spec": spec, "config_hash": f"h-{name}",
              "parameters": {"trainable": 1000, "stored": 500, "total": 5000},
              "training": {"steps": 5, "tokens_per_s": 1234.5, "dev_loss": dev_loss},
              "cost": {"wall_seconds": 12.5, "peak_memory_mb": 321.0},
              "environment": {"git": {"commit": commit, "dirty": False},
                              "hardware": {"gpu": None, "cpu": "x86_64"}},
              "device": "cpu"}
    (run_dir / "run.json").write_text(json.dumps(record))
    (run_dir / "predictions" / "test.json").write_text(json.dumps({"config_hash": f"h-{name}"}))
    (run_dir / "predictions" / "test.txt").write_text("\n".join(predictions or GOOD) + "\n")
    if scores is not None:
        (run_dir / "scores" / "test.json").write_text(json.dumps(
            {**scores, "higher_is_better": {k: True for k in scores}, "settings": {"bleu": "x"}}))
    return run_dir


def write_refs(root: Path, dataset: str = "e2e", manifest: dict | None = None) -> None:
    data = root / "data" / dataset
    data.mkdir(parents=True, exist_ok=True)
    with (data / "test.eval.jsonl").open("w") as f:
        for i, refs in enumerate(REFS):
            f.write(json.dumps({"id": str(i), "source": "x", "references": refs, "split": "test", "meta": {}}) + "\n")
    (data / "manifest.json").write_text(json.dumps(manifest or {"dataset": "e2e"}))


@pytest.fixture()
def table2_runs(tmp_path: Path) -> Path:
    write_refs(tmp_path)
    e2e = {"NIST": 8.0, "METEOR": 0.45, "ROUGE_L": 0.7, "CIDEr": 2.4}
    make_run(tmp_path, "table2_e2e", "tiny-gpt2-prefix-s1", paper_method="Prefix-0.1%", seed=1,
             scores={"BLEU": 0.70, **e2e}, predictions=GOOD)
    make_run(tmp_path, "table2_e2e", "tiny-gpt2-prefix-s2", paper_method="Prefix-0.1%", seed=2,
             scores={"BLEU": 0.72, **e2e}, predictions=GOOD)
    make_run(tmp_path, "table2_e2e", "tiny-gpt2-finetune-s1", method="finetune", paper_method="FT-full",
             scores={"BLEU": 0.60, **e2e}, predictions=BAD)
    return tmp_path


def cell(cells, row, metric):
    return next(c for c in cells if c.row == row and c.metric == metric)


def test_table_cells_mean_sd_paper_values_and_missing(table2_runs):
    spec = load_spec("table2_e2e")
    runs = load_runs(table2_runs / "runs", table2_runs / "data")
    cells = build_cells(spec, runs, resamples=200)
    prefix = cell(cells, "m_prefix", "BLEU")
    assert prefix.values == pytest.approx([70.0, 72.0])  # scaled to the paper's percent
    assert prefix.mean == pytest.approx(71.0) and prefix.sd == pytest.approx(2 ** 0.5)
    assert prefix.paper_acl == 70.3 and prefix.paper_arxiv == 69.7
    assert prefix.diff == pytest.approx(0.7)
    assert [r.run_id for r in prefix.runs] == ["table2_e2e/tiny-gpt2-prefix-s1", "table2_e2e/tiny-gpt2-prefix-s2"]
    ft = cell(cells, "m_ft", "BLEU")
    assert ft.mean == pytest.approx(60.0) and ft.sd is None  # one run: no sd, not 0
    missing = cell(cells, "l_prefix", "BLEU")  # no GPT-2 large runs
    assert missing.values == [] and missing.mean is None and missing.paper_acl == 70.3
    # the bootstrap sits on the compared row's first metric; prefix copies the references
    boot = prefix.bootstrap
    assert boot["baseline"] == "m_ft" and boot["delta"] > 50 and boot["p_value"] < 0.05
    assert cell(cells, "l_prefix", "BLEU").bootstrap is None


def test_written_table_files_show_dashes_and_trace_cells(table2_runs):
    spec = load_spec("table2_e2e")
    out = table2_runs / "report"
    write_table(spec, load_runs(table2_runs / "runs", table2_runs / "data"), out, [], resamples=200)
    md = (out / "table2_e2e.md").read_text()
    assert "| GPT-2 medium Prefix 0.1% | BLEU | 71.0 ± 1.4 | 2 | 70.3 | 69.7 | +0.7 | Δ " in md
    assert "†" in md  # significant against FT-full
    large = next(line for line in md.splitlines() if line.startswith("| GPT-2 large Prefix | BLEU"))
    assert "| — | — | 70.3 |" in large and " 0.0 " not in large
    assert "|  | NIST | 8.00 ± 0.00 | 2 | 8.82 | 8.81 | -0.82 |" in md  # label shown once per row
    # the paper's layout: rows = methods, columns = metrics, "ours (paper)"; in LaTeX with booktabs
    assert "| Method | BLEU | NIST | METEOR | ROUGE_L | CIDEr |" in md
    assert "| GPT-2 medium Prefix 0.1% | 71.0† (70.3) | 8.00 (8.82) |" in md
    tex = (out / "table2_e2e.tex").read_text()
    assert r"\toprule" in tex and r"GPT-2 medium Prefix 0.1\% & 71.0$^\dagger$ (70.3) & 8.00 (8.82)" in tex
    assert tex.count(r" \\") == 2 + 7  # group title, header, one line per method
    csv_text = (out / "table2_e2e.csv").read_text()
    assert csv_text.splitlines()[0].startswith("group,row,label,metric,mean,sd,n,paper_acl")
    cells = json.loads((out / "table2_e2e.cells.json").read_text())["cells"]
    traced = next(c for c in cells if c["row"] == "m_prefix" and c["metric"] == "BLEU")
    assert traced["runs"] == ["table2_e2e/tiny-gpt2-prefix-s1", "table2_e2e/tiny-gpt2-prefix-s2"]
    assert traced["config_hashes"] == ["h-tiny-gpt2-prefix-s1", "h-tiny-gpt2-prefix-s2"]
    assert all(c["mean"] is None for c in cells if c["row"].startswith("l_"))


def test_mixed_package_code_warns_by_default_and_is_refused_when_strict(table2_runs):
    """The check compares the package's own code, not the repository commit: a run made at another
    commit with the same package code is no mix."""
    make_run(table2_runs, "table2_e2e", "tiny-gpt2-adapter-s1", method="adapter", paper_method="Adapter-3%",
             scores={"BLEU": 0.5}, commit="def456")
    runs = load_runs(table2_runs / "runs", table2_runs / "data")
    for run in runs:
        run.record["environment"]["package_code"] = "a" * 64
    assert check_consistency(runs) == []  # two commits, one package code
    runs[-1].record["environment"]["package_code"] = "b" * 64
    warning = check_consistency(runs)[0]
    assert "different package code" in warning and "report.strict" in warning
    with pytest.raises(PrefixBenchError, match="different package code"):
        check_consistency(runs, strict=True)


def test_stale_predictions_are_flagged_and_refused_when_strict(table2_runs):
    info = table2_runs / "runs" / "table2_e2e" / "tiny-gpt2-finetune-s1" / "predictions" / "test.json"
    info.write_text(json.dumps({"config_hash": "old"}))
    runs = load_runs(table2_runs / "runs", table2_runs / "data")
    assert "regenerate it" in check_consistency(runs)[0]
    with pytest.raises(PrefixBenchError, match="regenerate it"):
        check_consistency(runs, strict=True)


def test_the_package_code_hash_follows_the_package_source(tmp_path, monkeypatch):
    from prefix_bench import provenance

    first = provenance.package_code()
    assert first == provenance.package_code() and len(first) == 64
    assert provenance.environment()["package_code"] == first == provenance.code_version()["package_code"]


def test_unscored_runs_are_absent_not_zero(tmp_path):
    write_refs(tmp_path)
    make_run(tmp_path, "table2_e2e", "tiny-gpt2-prefix-s1", paper_method="Prefix-0.1%")  # no scores
    assert load_runs(tmp_path / "runs", tmp_path / "data") == []
    cells = build_cells(load_spec("table2_e2e"), [], resamples=100)
    assert all(c.mean is None for c in cells)


def test_stats_helpers():
    assert mean_sd([]) == (None, None)
    assert mean_sd([2.0]) == (2.0, None)
    assert mean_sd([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5))
    good = sentence_bleu_scores(GOOD, REFS)
    bad = sentence_bleu_scores(BAD, REFS)
    assert min(good) == pytest.approx(100.0) and max(bad) < 10
    result = paired_bootstrap(good, bad, resamples=200)
    assert result.p_value < 0.05 and result.win_rate == 1.0
    same = paired_bootstrap(good, good, resamples=200)
    assert same.p_value == 1.0 and same.delta == 0.0


def test_every_declared_spec_loads_and_points_at_shipped_paper_numbers():
    paper = load_paper_results()
    specs = load_specs()
    assert {"table2_e2e", "table2_webnlg", "table2_dart", "table3_xsum", "table4_extrapolation",
            "table5_ablations", "figure3_lowdata", "figure4_prefix_length", "figure5_init",
            "figure6_data_efficiency"} <= set(specs)
    for name, spec in specs.items():
        if spec.kind != "table":
            for panel in spec.panels:
                for pp in panel.paper_points:
                    key = (pp.version, pp.table, pp.dataset, pp.model, pp.method, pp.split, panel.paper_metric or panel.metric)
                    assert key in paper, f"{name}: paper point {key} not in paper_results.csv"
            continue
        for group in spec.groups:
            acl = group.paper.tables["acl"]
            for row in group.rows:
                for col in group.columns:
                    key = ("acl", acl, group.paper.dataset, row.model, row.method, group.paper.split, col.paper_name)
                    assert key in paper, f"{name}: {key} not in paper_results.csv"


def test_spec_typos_fail_naming_the_key():
    with pytest.raises(PrefixBenchError, match="unknown key 'colums'"):
        parse_spec("kind: table\nname: x\ntitle: t\ntarget: t\ngroups: []\ncolums: []\n", "x.yaml")
    bad = ("kind: table\nname: x\ntitle: t\ntarget: t\ngroups:\n- title: g\n  experiments: [e]\n  split: test\n"
           "  paper: {dataset: e2e}\n  columns: [{metric: BLEU}]\n  rows: [{id: a, label: A, model: m, method: M}]\n"
           "  bootstrap: [{row: a, baseline: b}]\n")
    with pytest.raises(PrefixBenchError, match="unknown row 'b'"):
        parse_spec(bad, "x.yaml")


def test_run_summary_lists_cost_fields(table2_runs):
    runs = load_runs(table2_runs / "runs", table2_runs / "data", {"table2_e2e"}, scored_only=False)
    write_summary("table2_e2e", runs, table2_runs / "summary")
    md = (table2_runs / "summary" / "table2_e2e.md").read_text()
    assert "| trainable params | stored params |" in md.replace("run | method | model | dataset | seed ", "")
    assert "| table2_e2e/tiny-gpt2-prefix-s1 | prefix | tiny-gpt2 | e2e | 1 | 1,000 | 500 |" in md
    assert "1,234.5" in md and "321.0" in md and "12.5" in md
    header = (table2_runs / "summary" / "table2_e2e.csv").read_text().splitlines()[0]
    assert header.split(",")[-5:] == ["peak memory MB", "tokens/s", "device", "GPU", "CPU"]


def test_a_leftover_seed_never_enters_a_cell(table2_runs):
    """A seed left from an older config (wild score) would turn 71.0 +- 1.4 into garbage: the
    table reads only the runs the config defines and names the stray one as ignored."""
    make_run(table2_runs, "table2_e2e", "tiny-gpt2-prefix-s3", paper_method="Prefix-0.1%", seed=3,
             scores={"BLEU": 0.01, "NIST": 1.0, "METEOR": 0.1, "ROUGE_L": 0.1, "CIDEr": 0.1})
    expected_file = table2_runs / "expected_runs.json"
    expected_file.write_text(json.dumps({"runs": ["table2_e2e/tiny-gpt2-prefix-s1", "table2_e2e/tiny-gpt2-prefix-s2",
                                                  "table2_e2e/tiny-gpt2-finetune-s1"]}))
    expected = read_expected_runs(expected_file)
    spec = load_spec("table2_e2e")
    runs = load_runs(table2_runs / "runs", table2_runs / "data", set(spec.experiments), expected=expected)
    prefix = cell(build_cells(spec, runs, resamples=50), "m_prefix", "BLEU")
    assert prefix.values == pytest.approx([70.0, 72.0])
    strays = stray_runs(table2_runs / "runs", expected, set(spec.experiments))
    assert strays == ["table2_e2e/tiny-gpt2-prefix-s3"]
    assert "ignored 1 run directory the config does not define: table2_e2e/tiny-gpt2-prefix-s3" in ignored_note(strays)
    everything = load_runs(table2_runs / "runs", table2_runs / "data", set(spec.experiments))
    assert len(cell(build_cells(spec, everything, resamples=50), "m_prefix", "BLEU").values) == 3  # without the list


def test_expected_runs_file_must_be_a_list_of_run_ids(tmp_path):
    bad = tmp_path / "expected_runs.json"
    bad.write_text(json.dumps({"runs": "table2_e2e/x"}))
    with pytest.raises(PrefixBenchError, match="experiment/run"):
        read_expected_runs(bad)
    with pytest.raises(PrefixBenchError, match="not found"):
        read_expected_runs(tmp_path / "missing.json")


def test_a_run_shared_with_an_earlier_identical_run_enters_its_own_table(table2_runs):
    """A run identical to one of another experiment (Figure 4's DART L=10 is Table 2's prefix run)
    trains once; the later table reads the same outputs under its own experiment and paper row."""
    make_run(table2_runs, "figure_x", "tiny-gpt2-prefix-s3", paper_method="Prefix", seed=3,
             scores={"BLEU": 0.74, "NIST": 8.0, "METEOR": 0.45, "ROUGE_L": 0.7, "CIDEr": 2.4})
    expected_file = table2_runs / "expected_runs.json"
    expected_file.write_text(json.dumps({
        "runs": ["table2_e2e/tiny-gpt2-prefix-s1", "table2_e2e/tiny-gpt2-prefix-s2",
                 "table2_e2e/tiny-gpt2-finetune-s1", "figure_x/tiny-gpt2-prefix-s3"],
        "reported_elsewhere": {"table2_e2e/tiny-gpt2-prefix-s3": {
            "trained_in": "figure_x/tiny-gpt2-prefix-s3", "experiment": "table2_e2e",
            "paper": {"table": "T2", "method": "Prefix-0.1%", "model": "gpt2-medium"}}}}))
    expected = read_expected_runs(expected_file)
    spec = load_spec("table2_e2e")
    runs = load_runs(table2_runs / "runs", table2_runs / "data", set(spec.experiments), expected=expected)
    shared = next(r for r in runs if r.run_id == "table2_e2e/tiny-gpt2-prefix-s3")
    assert shared.directory.name == "tiny-gpt2-prefix-s3" and shared.directory.parent.name == "figure_x"
    assert sorted(cell(build_cells(spec, runs, resamples=50), "m_prefix", "BLEU").values) == pytest.approx(
        [70.0, 72.0, 74.0])
    # and the earlier run still reports as itself in its own experiment
    own = load_runs(table2_runs / "runs", table2_runs / "data", {"figure_x"}, expected=expected)
    assert [r.run_id for r in own] == ["figure_x/tiny-gpt2-prefix-s3"]
    assert stray_runs(table2_runs / "runs", expected) == []
    dangling = table2_runs / "dangling.json"
    dangling.write_text(json.dumps({"runs": [], "reported_elsewhere": {"a/b": {"trained_in": "c/d"}}}))
    with pytest.raises(PrefixBenchError, match="naming listed runs"):
        read_expected_runs(dangling)


def test_dart_table_says_which_learned_metrics_are_not_computed(tmp_path):
    """DART's learned metrics are never computed: the table says so in words (md and tex), and
    their cells hold the paper's number only, never an estimate of ours."""
    write_refs(tmp_path, "dart")
    make_run(tmp_path, "table2_dart", "tiny-gpt2-prefix-s1", paper_method="Prefix-0.1%", dataset="dart",
             scores={"BLEU": 46.0, "METEOR": 0.39, "TER": 0.46})
    spec = load_spec("table2_dart")
    out = tmp_path / "report"
    write_table(spec, load_runs(tmp_path / "runs", tmp_path / "data"), out, [], resamples=50)
    md = (out / "table2_dart.md").read_text()
    assert "Not computed: MoverScore, BERTScore and BLEURT" in md
    assert "% Not computed: MoverScore, BERTScore and BLEURT" in (out / "table2_dart.tex").read_text()
    cells = json.loads((out / "table2_dart.cells.json").read_text())["cells"]
    learned = [c for c in cells if c["metric"] in ("MoverScore", "BERTScore", "BLEURT")]
    assert learned and all(c["mean"] is None for c in learned)
    assert any(c["paper_acl"] is not None for c in learned)
