"""Table-driven: each bad input gives a one-line error naming the problem, exit 2, no output
(40 cases with the system-error and interrupt tests below; none may end in a traceback).

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


def _generate_json(tmp: Path, data: Path, text: str) -> tuple[list[str], Path]:
    out = tmp / "pred.txt"
    return ["generate", "--generate-json", text, "--run-dir", str(tmp / "no-run"), "--eval-jsonl",
            str(data / "test.eval.jsonl"), "--out", str(out)], out


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
    "log_every 0": (lambda t, d: _train(t, d, spec(train={"log_every": 0})), r"train.log_every: must be >= 1"),
    "negative threads": (lambda t, d: _train(t, d, spec(train={"threads": -2})), r"train.threads: must be >= 0"),
    "Adam beta out of range": (lambda t, d: _train(t, d, spec(train={"adam_beta1": 1.5})),
                               r"train.adam_beta1: must be in \[0, 1\)"),
    "zero beams, caught before training": (lambda t, d: _train(t, d, spec(generate={"num_beams": 0})),
                                           r"generate.num_beams: must be >= 1, got 0"),
    "min above max new tokens": (lambda t, d: _train(t, d, spec(generate={"min_new_tokens": 9, "max_new_tokens": 5})),
                                 r"min_new_tokens \(9\) exceeds max_new_tokens \(5\)"),
    "unknown precision": (lambda t, d: _train(t, d, spec(train={"precision": "fp16"})), r"train.precision"),
    "decoding settings not JSON": (lambda t, d: _generate_json(t, d, "{num_beams: 3"),
                                   r"--generate-json: not valid JSON"),
    "unknown decoding key": (lambda t, d: _generate_json(t, d, '{"beams": 3}'), r"unknown key 'beams'"),
    "zero learning rate": (lambda t, d: _train(t, d, spec(train={"lr": 0})), r"train.lr: must be > 0"),
    "zero epochs": (lambda t, d: _train(t, d, spec(train={"epochs": 0})), r"train.epochs: must be >= 1"),
    "zero max_steps": (lambda t, d: _train(t, d, spec(train={"max_steps": 0})), r"train.max_steps: must be >= 1"),
    "negative warmup": (lambda t, d: _train(t, d, spec(train={"warmup_steps": -1})), r"train.warmup_steps"),
    "negative checkpoint interval": (lambda t, d: _train(t, d, spec(train={"checkpoint_every": -5})),
                                     r"train.checkpoint_every"),
    "negative clipping": (lambda t, d: _train(t, d, spec(train={"grad_clip": -1.0})), r"train.grad_clip"),
    "negative weight decay": (lambda t, d: _train(t, d, spec(train={"weight_decay": -0.1})), r"train.weight_decay"),
    "zero Adam epsilon": (lambda t, d: _train(t, d, spec(train={"adam_eps": 0})), r"train.adam_eps: must be > 0"),
    "Adam beta2 of one": (lambda t, d: _train(t, d, spec(train={"adam_beta2": 1.0})), r"train.adam_beta2"),
    "zero source tokens": (lambda t, d: _train(t, d, spec(train={"max_source_tokens": 0})),
                           r"train.max_source_tokens: must be >= 1"),
    "unknown train key": (lambda t, d: _train(t, d, spec(train={"learning_rate": 1e-4})),
                          r"unknown key 'learning_rate'"),
    "unknown method": (lambda t, d: _train(t, d, spec(method="prefix-tuning")), r"prefix-tuning"),
    "train option of the wrong type": (lambda t, d: _train(t, d, spec(train={"batch_size": "ten"})),
                                       r"batch_size"),
    "negative min new tokens": (lambda t, d: _train(t, d, spec(generate={"min_new_tokens": -1})),
                                r"generate.min_new_tokens: must be >= 0"),
    "zero decoding batch": (lambda t, d: _train(t, d, spec(generate={"batch_size": 0})),
                            r"generate.batch_size: must be >= 1"),
    "infinite length penalty": (lambda t, d: _train(t, d, spec(generate={"length_penalty": float("inf")})),
                                r"length_penalty"),
    "spec not JSON": (lambda t, d: _train(t, d, "{run_id: x"), r"not valid JSON"),
    "word init without words": (lambda t, d: _train(t, d, spec(method_options={"init": "words"})), r"init_words"),
    "tf32 not a boolean": (lambda t, d: _train(t, d, spec(train={"tf32": "yes"})), r"tf32: expected true/false"),
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


@pytest.mark.parametrize("code,text,hint", [(28, "No space left on device", "free disk space"),
                                            (30, "Read-only file system", "read-only"),
                                            (13, "Permission denied", "permissions")])
def test_system_errors_are_one_line_with_their_own_exit_code(code, text, hint, data_dir, tmp_path, capsys,
                                                              monkeypatch):
    """Disk full, read-only or forbidden output: one line naming the file and the fix, exit 3."""
    import prefix_bench.score.cli as score_cli

    def refuse(path, *args, **kwargs):
        raise OSError(code, text, str(path))

    monkeypatch.setattr(score_cli, "write_json", refuse)
    argv, out = _score(tmp_path, data_dir, b"a line\n" * 40)
    out.write_text('{"BLEU": 0.5}')  # a good result from an earlier run
    assert main(argv) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out) in err and text in err and hint in err, err
    assert out.read_text() == '{"BLEU": 0.5}'  # left as it was


def test_interrupt_is_one_line_exit_130(data_dir, tmp_path, capsys, monkeypatch):
    import prefix_bench.score.cli as score_cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(score_cli, "score_task", interrupted)
    argv, out = _score(tmp_path, data_dir, b"a line\n" * 40)
    assert main(argv) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "interrupted" in err and not out.exists()
