"""`prefix-bench score` input errors: one line on stderr, exit 2, and no --json file left."""

import pytest

from prefix_bench.cli import main
from prefix_bench.errors import PrefixBenchError
from prefix_bench.score import score_task


@pytest.fixture
def refs(tmp_path):
    path = tmp_path / "refs.txt"
    path.write_text("ref one a\nref one b\n\nref two\n\nref three\n", encoding="utf-8")
    return path


def run_score(tmp_path, capsys, refs, hyps_bytes, task="e2e"):
    hyps = tmp_path / "hyps.txt"
    if hyps_bytes is not None:
        hyps.write_bytes(hyps_bytes)
    out = tmp_path / "out" / "score.json"
    rc = main(
        [
            "score",
            "--task",
            task,
            "--refs",
            str(refs),
            "--hyps",
            str(hyps),
            "--json",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())
    return err


def test_line_count_mismatch(tmp_path, capsys, refs):
    err = run_score(tmp_path, capsys, refs, b"one\ntwo\n")
    assert "2 hypotheses" in err and "3 reference units" in err
    assert "hyps.txt" in err and "refs.txt" in err


def test_empty_hypothesis_file(tmp_path, capsys, refs):
    assert "is empty" in run_score(tmp_path, capsys, refs, b"")
    assert "is empty" in run_score(tmp_path, capsys, refs, b"\n\n\n")


def test_non_utf8_hypothesis_file(tmp_path, capsys, refs):
    err = run_score(tmp_path, capsys, refs, b"ok\nbad \xff byte\nok\n")
    assert "not UTF-8" in err and "line 2" in err and "byte offset 7" in err


def test_missing_files(tmp_path, capsys, refs):
    assert "hypothesis file not found" in run_score(tmp_path, capsys, refs, None)
    assert "reference file not found" in run_score(
        tmp_path, capsys, tmp_path / "nope.csv", b"a\n"
    )


def test_unknown_task_is_rejected_by_argparse(tmp_path, refs):
    with pytest.raises(SystemExit) as exc:
        main(["score", "--task", "mt", "--refs", str(refs), "--hyps", str(refs)])
    assert exc.value.code == 2


def test_missing_java_is_one_line(tmp_path, capsys, refs, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH
    err = run_score(tmp_path, capsys, refs, b"a\nb\nc\n")
    assert err.endswith(
        "Java runtime not found: METEOR and the PTB tokenizer need it; install one, "
        "e.g. `apt-get install -y openjdk-17-jre-headless`"
    )


def test_empty_hypothesis_lines_are_allowed(tmp_path, refs):
    hyps = tmp_path / "h.txt"
    hyps.write_text("a\n\nref three\n", encoding="utf-8")
    refs_x = tmp_path / "x.txt"
    refs_x.write_text("a b\nc d\nref three\n", encoding="utf-8")
    result = score_task("xsum", refs_x, hyps)
    assert result["settings"]["n_empty_hypotheses"] == 1


def test_unknown_option_and_task():
    with pytest.raises(PrefixBenchError, match="unknown option"):
        score_task("e2e", "a", "b", beam=5)
    with pytest.raises(PrefixBenchError, match="unknown task"):
        score_task("mt", "a", "b")
