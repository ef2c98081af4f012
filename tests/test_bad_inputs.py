"""Table-driven: each bad input gives a one-line error naming the problem, exit 2, no output.

Checksum mismatches and corrupt/truncated downloads are covered in test_data_download.py, NaN
loss in test_train_generate.py; this table drives the CLI the way a user does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prefix_bench.cli import main
from prefix_bench.data import prepare_dataset

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "prefix_bench" / "resources" / "demo" / "e2e"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bad") / "data"
    prepare_dataset("e2e", out, source_dir=DEMO, splits=["train", "test"])
    return out


def spec(**over) -> str:
    base = {"run_id": "b/r", "experiment": "b", "dataset": "e2e", "model": "tiny", "model_path": "gpt2",
            "method": "prefix"}
    base.update(over)
    return json.dumps(base)


def _train(tmp: Path, data: Path, spec_json: str) -> tuple[list[str], Path]:
    out = tmp / "run"
    return ["train", "--spec-json", spec_json, "--data-dir", str(data), "--out-dir", str(out)], out / "run.json"


def _score(tmp: Path, data: Path, hyps: bytes) -> tuple[list[str], Path]:
    (tmp / "hyps.txt").write_bytes(hyps)
    out = tmp / "scores.json"
    return ["score", "--task", "e2e", "--refs", str(data / "test.eval.jsonl"), "--hyps", str(tmp / "hyps.txt"),
            "--json", str(out)], out


def _corrupt_data(tmp: Path, data: Path) -> Path:
    bad = tmp / "data"
    shutil.copytree(data, bad)
    with (bad / "train.jsonl").open("a") as f:
        f.write('{"id": "x", "source": "truncated\n')
    return bad


def _generate_with_foreign_checkpoint(tmp: Path, data: Path) -> tuple[list[str], Path]:
    run = tmp / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"spec": json.loads(spec(model_path=str(tmp / "no-model")))}))
    (run / "trained.safetensors").write_bytes(b"\x00" * 16)
    out = tmp / "pred.txt"
    return ["generate", "--run-dir", str(run), "--eval-jsonl", str(data / "test.eval.jsonl"), "--out", str(out)], out


CASES = {
    "unknown config key": (lambda t, d: _train(t, d, spec(method_options={"prefix_len": 5})),
                           r"method_options: unknown key 'prefix_len'; valid keys are"),
    "bad config value": (lambda t, d: _train(t, d, spec(train={"batch_size": 0})),
                         r"train.batch_size: must be >= 1, got 0"),
    "wrong config type": (lambda t, d: _train(t, d, spec(method_options={"reparametrize": "no"})),
                          r"reparametrize: expected true/false, got 'no'"),
    "missing data file": (lambda t, d: _train(t, t / "nowhere", spec()),
                          r"train.jsonl: file not found; run `prefix-bench prepare` first"),
    "corrupt data file": (lambda t, d: _train(t, _corrupt_data(t, d), spec()),
                          r"train.jsonl:\d+: not valid JSON"),
    "count mismatch": (lambda t, d: _score(t, d, b"one line\n"), r"1 .*40|40 .*1"),
    "empty predictions": (lambda t, d: _score(t, d, b""), r"empty"),
    "non-UTF-8 predictions": (lambda t, d: _score(t, d, b"caf\xe9\n" * 40), r"UTF-8"),
    "unreadable checkpoint / other model": (_generate_with_foreign_checkpoint, r"no config.json|checkpoint"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_one_line_error_and_no_output(name, data_dir, tmp_path, capsys):
    make, pattern = CASES[name]
    argv, final_output = make(tmp_path, data_dir)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert __import__("re").search(pattern, err), err
    assert not final_output.exists()
