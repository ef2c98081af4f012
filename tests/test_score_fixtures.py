"""Scoring on tiny committed fixtures (always run): every task, every reference format, the CLI
JSON, and the HF `evaluate` modules returning the CLI's values.

Fixtures in tests/data/score/ are cut from the shared data (E2E dev, WebNLG 2017 test, DART
v1.1.1 test, the XSum sample); the expected numbers are regression anchors produced by this
scorer, whose full-size parity with the official scripts is in test_score_parity.py.
"""

import json
import shutil
from pathlib import Path

import pytest

from prefix_bench.cli import main
from prefix_bench.score import score_task

DATA = Path(__file__).parent / "data" / "score"
MODULES = (
    Path(__file__).resolve().parents[1] / "prefix_bench" / "score" / "evaluate_modules"
)
needs_java = pytest.mark.skipif(
    shutil.which("java") is None, reason="METEOR/PTB tokenizer need Java"
)

# (task, refs file, hyps file, options) -> expected metrics
CASES = {
    "e2e": (
        "e2e",
        "e2e_refs.csv",
        "e2e_hyps.txt",
        {},
        {
            "BLEU": 0.718634,
            "NIST": 5.443271,
            "METEOR": 0.486952,
            "ROUGE_L": 0.838449,
            "CIDEr": 1.826388,
        },
    ),
    "webnlg": (
        "webnlg",
        "webnlg_refs.xml",
        "webnlg_hyps.txt",
        {},
        {
            "BLEU_all": 62.884604,
            "METEOR_all": 0.469292,
            "TER_all": 0.281633,
            "BLEU_seen": 87.710637,
            "METEOR_seen": 0.977221,
            "TER_seen": 0.041379,
            "BLEU_unseen": 19.404547,
            "METEOR_unseen": 0.165696,
            "TER_unseen": 0.63,
        },
    ),
    "dart": (
        "dart",
        "dart_refs.xml",
        "dart_hyps.txt",
        {},
        {"BLEU": 25.51741, "METEOR": 0.5896, "TER": 0.280702},
    ),
    "xsum": (
        "xsum",
        "xsum.eval.jsonl",
        "xsum_hyps.txt",
        {},
        {"ROUGE_1": 20.984848, "ROUGE_2": 0.0, "ROUGE_L": 14.015152},
    ),
}


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    """Run `prefix-bench score --json` once per task; tests share the JSON."""
    if shutil.which("java") is None:
        pytest.skip("Java runtime not found: METEOR/PTB tokenizer tests need it")
    out = {}
    tmp = tmp_path_factory.mktemp("scores")
    for name, (task, refs, hyps, _opts, _exp) in CASES.items():
        path = tmp / f"{name}.json"
        rc = main(
            [
                "score",
                "--task",
                task,
                "--refs",
                str(DATA / refs),
                "--hyps",
                str(DATA / hyps),
                "--json",
                str(path),
            ]
        )
        assert rc == 0
        out[name] = json.loads(path.read_text())
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_fixture_values(cli_results, name):
    expected = CASES[name][4]
    result = cli_results[name]
    for metric, value in expected.items():
        assert result[metric] == pytest.approx(value, abs=1e-5), metric
    metrics = {k for k, v in result.items() if isinstance(v, float)}
    assert metrics == set(expected)
    assert set(result["higher_is_better"]) == metrics


def test_json_describes_itself(cli_results):
    webnlg = cli_results["webnlg"]
    assert webnlg["higher_is_better"]["TER_seen"] is False
    assert webnlg["higher_is_better"]["BLEU_all"] is True
    assert webnlg["settings"]["task"] == "webnlg"
    assert webnlg["settings"]["n_seen"] == 3 and webnlg["settings"]["n_unseen"] == 3
    assert set(webnlg["versions"]) == {
        "sacrebleu",
        "pycocoevalcap",
        "rouge-score",
        "java",
    }
    assert set(cli_results["xsum"]["versions"]) == {
        "sacrebleu",
        "pycocoevalcap",
        "rouge-score",
    }
    dart = cli_results["dart"]
    assert (
        dart["settings"]["not_computed"]["BERTScore"]
        == "not computed: model weights not available"
    )
    assert "BERTScore" not in dart


def test_cli_prints_table(cli_results, capsys):
    main(
        [
            "score",
            "--task",
            "xsum",
            "--refs",
            str(DATA / "xsum.eval.jsonl"),
            "--hyps",
            str(DATA / "xsum_hyps.txt"),
        ]
    )
    out = capsys.readouterr().out
    assert "ROUGE_1" in out and "20.9848" in out and "higher" in out


@needs_java
@pytest.mark.parametrize(
    "task,refs",
    [
        ("e2e", "e2e.eval.jsonl"),
        ("webnlg", "webnlg.eval.jsonl"),
        ("dart", "dart.eval.jsonl"),
        ("dart", "dart_refdir"),
    ],
)
def test_other_reference_formats_give_same_scores(cli_results, task, refs):
    """The pipeline's eval JSONL (and DART's official reference files) score like the official files."""
    result = score_task(task, DATA / refs, DATA / CASES[task][2])
    reference = cli_results[task]
    same = (
        ["BLEU", "METEOR"]
        if refs == "dart_refdir"
        else [k for k, v in reference.items() if isinstance(v, float)]
    )
    for metric in same:
        assert result[metric] == pytest.approx(reference[metric], abs=1e-9), metric


@needs_java
def test_dart_single_reference_mode():
    xml = score_task(
        "dart", DATA / "dart_refs.xml", DATA / "dart_hyps.txt", single_ref=True
    )
    official_files = score_task(
        "dart", DATA / "dart_refdir", DATA / "dart_hyps.txt", single_ref=True
    )
    assert (
        xml["TER"]
        == pytest.approx(official_files["TER"])
        == pytest.approx(0.308642, abs=1e-5)
    )
    assert xml["settings"]["single_ref"] is True


def test_xsum_bootstrap_option():
    result = score_task(
        "xsum",
        DATA / "xsum.eval.jsonl",
        DATA / "xsum_hyps.txt",
        aggregation="bootstrap",
        batch_size=2,
    )
    assert result["settings"]["aggregation"] == "bootstrap"
    assert result["ROUGE_1"] == pytest.approx(20.984848, abs=0.5)


@pytest.mark.parametrize("task", list(CASES))
def test_evaluate_module_matches_cli(cli_results, task):
    evaluate = pytest.importorskip("evaluate")
    _task, refs_file, hyps_file, _opts, _exp = CASES[task]
    # the same units as the CLI's files, passed in memory
    rows = [
        json.loads(line)
        for line in (DATA / f"{task}.eval.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
    ]
    predictions = (DATA / hyps_file).read_text(encoding="utf-8").splitlines()
    kwargs = {}
    if task == "webnlg":
        kwargs["categories"] = [r["meta"]["category"] for r in rows]
    metric = evaluate.load(str(MODULES / f"prefix_bench_{task}"))
    result = metric.compute(
        predictions=predictions, references=[r["references"] for r in rows], **kwargs
    )
    reference = cli_results[task]
    for name, value in reference.items():
        if isinstance(value, float):
            assert result[name] == pytest.approx(value, abs=1e-9), name


@needs_java
@pytest.mark.parametrize("task", ["e2e", "webnlg"])
def test_scoring_writes_progress_lines_in_a_job_log(task, monkeypatch, caplog):
    """Under Snakemake a score job's log gets METEOR's segments done / rate / ETA (here every
    segment: PREFIX_BENCH_PROGRESS_SECONDS=0), and the scores are unchanged."""
    import logging

    monkeypatch.setenv("PREFIX_BENCH_PROGRESS_SECONDS", "0")
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    _, refs, hyps, options, want = CASES[task]
    with caplog.at_level(logging.INFO, logger="prefix_bench.progress"):
        result = score_task(task, DATA / refs, DATA / hyps, **options)
    lines = [r.getMessage() for r in caplog.records if r.name == "prefix_bench.progress"]
    n = len((DATA / hyps).read_text().splitlines())
    assert lines and lines[-1].startswith(f"score: METEOR: {n}/{n} segments (100%)") and "ETA" in lines[-1]
    for metric, value in want.items():
        assert result[metric] == pytest.approx(value, abs=1e-6)
