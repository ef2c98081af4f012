"""Training and generation through the Method interface on a tiny model (CPU, seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from prefix_bench.config import parse_run_spec
from prefix_bench.errors import PrefixBenchError
from prefix_bench.generate import generate_split, load_run
from prefix_bench.models import load_lm
from prefix_bench.models.tiny import build_tiny
from prefix_bench.train import sequence_loss, train_run



@pytest.fixture(scope="module")
def workspace(demo_workspace) -> Path:
    return demo_workspace


def make_spec(root: Path, method: str, options: dict | None = None, steps: int = 12, **train) -> object:
    return parse_run_spec({
        "run_id": f"t/{method}", "experiment": "t", "dataset": "e2e", "model": "tiny-gpt2",
        "model_path": str(root / "model"), "method": method, "method_options": options or {},
        "train": {"lr": 1e-3, "max_steps": steps, "batch_size": 4, "device": "cpu",
                  "checkpoint_every": 5, **train},
        "generate": {"num_beams": 3, "max_new_tokens": 8, "batch_size": 7},
    })


@pytest.mark.parametrize("method,options", [("prefix", {"length": 3, "mid_dim": 16}), ("finetune", {})])
def test_train_saves_only_trained_and_round_trips(workspace, method, options):
    spec = make_spec(workspace, method, options)
    out = workspace / "runs" / method
    record = train_run(spec, workspace / "data", out)
    saved = load_file(str(out / "trained.safetensors"))
    lm, _ = load_lm(str(workspace / "model"))
    n_lm = sum(p.numel() for p in lm.parameters())
    n_saved = sum(t.numel() for t in saved.values())
    assert n_saved == record["parameters"]["trainable"]
    if method == "prefix":
        assert all(k.startswith("prefix.") for k in saved) and n_saved < n_lm / 5  # never the frozen LM
    assert record["spec"]["method_options"] == spec.to_dict()["method_options"]
    assert record["training"]["steps"] == 12 and record["environment"]["versions"]["torch"]

    # save -> load round trip: identical logits and identical generations
    _, method_a, tok, _ = load_run(out)
    _, method_b, _, _ = load_run(out)
    ids = tok([" name : The Eagle | Type : pub <|endoftext|>"], return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(method_a(ids, torch.ones_like(ids)), method_b(ids, torch.ones_like(ids)))
    first = generate_split(out, workspace / "data" / "test.eval.jsonl", out / "pred_a.txt", spec.generate)
    generate_split(out, workspace / "data" / "test.eval.jsonl", out / "pred_b.txt", spec.generate)
    lines = (out / "pred_a.txt").read_text().splitlines()
    assert (out / "pred_a.txt").read_bytes() == (out / "pred_b.txt").read_bytes()
    assert len(lines) == first["units"] == 40 and all(line.strip() for line in lines)
    # what ran is recorded: the target-only head, our own beam search (the default)
    assert record["lm_head"] == "target positions" and first["beam_search_ran"] == "own"


def test_prefix_training_leaves_lm_bit_identical(workspace):
    spec = make_spec(workspace, "prefix", {"length": 2, "mid_dim": 8}, steps=4)
    out = workspace / "runs" / "frozen"
    train_run(spec, workspace / "data", out)
    before, _ = load_lm(str(workspace / "model"))
    _, method, _, _ = load_run(out)
    for (name, p0), (_, p1) in zip(before.named_parameters(), method.lm.named_parameters()):
        assert torch.equal(p0, p1), name


def test_sum_objective_is_per_sequence_sum():
    logits = torch.zeros(2, 4, 5)
    labels = torch.tensor([[-100, 1, 2, 3], [-100, -100, 1, 2]])
    per_token = torch.log(torch.tensor(5.0))
    assert torch.isclose(sequence_loss(logits, labels, "sum"), per_token * (3 + 2) / 2)
    assert torch.isclose(sequence_loss(logits, labels, "mean"), per_token)


def test_checkpoint_from_other_method_is_refused(workspace):
    out = workspace / "runs" / "mixed"
    train_run(make_spec(workspace, "prefix", {"length": 2, "mid_dim": 8}, steps=2), workspace / "data", out)
    record = json.loads((out / "run.json").read_text())
    record["spec"]["method_options"] = {"length": 4, "mid_dim": 8}
    (out / "run.json").write_text(json.dumps(record))
    with pytest.raises(PrefixBenchError, match="shape"):
        load_run(out)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(workspace, monkeypatch):
    import prefix_bench.train_step as step_module  # the loss every training step computes

    real_loss, calls = step_module.sequence_loss, {"n": 0}

    def loss_turning_nan(*args):
        calls["n"] += 1
        loss = real_loss(*args)
        return loss * float("nan") if calls["n"] == 8 else loss

    monkeypatch.setattr(step_module, "sequence_loss", loss_turning_nan)
    out = workspace / "runs" / "nan"
    with pytest.raises(PrefixBenchError, match=r"loss is nan at step 7 .* last good checkpoint kept"):
        train_run(make_spec(workspace, "prefix", {"length": 2, "mid_dim": 8}), workspace / "data", out)
    assert not (out / "trained.safetensors").exists() and not (out / "run.json").exists()
    meta = json.loads((out / "checkpoint" / "state.json").read_text())
    assert meta["step"] == 5  # checkpoint_every=5: the last one before the NaN


@pytest.fixture(scope="module")
def bart_dir(workspace) -> Path:
    rows = [json.loads(line) for line in (workspace / "data" / "train.jsonl").open()]
    return build_tiny("tiny-bart", [t for r in rows for t in (r["source"], r["target"])], workspace / "bart")


@pytest.mark.parametrize("method,options", [
    ("prefix_bart", {"init": "words", "init_words": "summarize", "mid_dim": 16, "init_steps": 5}),
    ("finetune", {})])
def test_encoder_decoder_runs_through_train_and_generate(workspace, bart_dir, method, options):
    """BART-style runs (paper Table 3) go through the same stages: seq2seq inputs, no label shift,
    right-padded sources, generate() with beam search; outputs one line per unit, reproducible."""
    spec = parse_run_spec({
        "run_id": f"t/bart-{method}", "experiment": "t", "dataset": "e2e", "model": "tiny-bart",
        "model_path": str(bart_dir), "method": method, "method_options": options,
        "train": {"lr": 1e-3, "max_steps": 6, "batch_size": 4, "device": "cpu", "checkpoint_every": 0},
        "generate": {"num_beams": 3, "max_new_tokens": 6, "min_new_tokens": 2, "no_repeat_ngram_size": 3,
                     "length_penalty": 0.8, "batch_size": 16},
    })
    out = workspace / "runs" / f"bart-{method}"
    record = train_run(spec, workspace / "data", out)
    losses = [h["loss"] for h in record["training"]["history"]]
    assert all(torch.isfinite(torch.tensor(losses))) and record["training"]["dev_loss"] > 0
    lm, _ = load_lm(str(bart_dir))
    if method == "prefix_bart":  # frozen BART, three prefixes trained
        _, loaded, _, _ = load_run(out)
        for (name, p0), (_, p1) in zip(lm.named_parameters(), loaded.lm.named_parameters()):
            assert torch.equal(p0, p1), name
    info = generate_split(out, workspace / "data" / "test.eval.jsonl", out / "a.txt", spec.generate)
    generate_split(out, workspace / "data" / "test.eval.jsonl", out / "b.txt", spec.generate)
    assert (out / "a.txt").read_bytes() == (out / "b.txt").read_bytes()
    assert info["units"] == len((out / "a.txt").read_text().splitlines()) == 40
    # BART decodes with generate() and trains on its whole head, whatever the defaults ask: recorded
    assert info["generate_options"]["beam_search"] == "own" and info["beam_search_ran"] == "hf"
    assert record["lm_head"] == "every position"


def test_method_refuses_the_wrong_model_family(bart_dir, tiny_lm):
    from prefix_bench.methods import build_method

    bart, _ = load_lm(str(bart_dir))
    with pytest.raises(PrefixBenchError, match=r"method 'prefix' cannot wrap .*seq2seq.*prefix_bart"):
        build_method("prefix", bart)
    with pytest.raises(PrefixBenchError, match=r"method 'prefix_bart' cannot wrap .*causal"):
        build_method("prefix_bart", tiny_lm[0])


def test_one_writer_per_run_directory_and_no_leftover_temp_dirs(workspace):
    from prefix_bench.atomic import exclusive

    spec = make_spec(workspace, "prefix", {"length": 2, "mid_dim": 8}, steps=3)
    out = workspace / "runs" / "locked"
    with exclusive(out, "test"):  # another train of this run directory is running
        with pytest.raises(PrefixBenchError, match=r"another `prefix-bench train` is writing here \(pid \d+\)"):
            train_run(spec, workspace / "data", out)
    assert not (out / "run.json").exists()
    interrupted = out / ".checkpoint.k1ll3d"  # what a kill in the middle of a checkpoint write leaves
    interrupted.mkdir()
    (interrupted / "state.json").write_text("{")
    train_run(spec, workspace / "data", out)
    assert (out / "run.json").is_file()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".checkpoint")]


def test_remote_code_is_announced(workspace, caplog):
    with caplog.at_level("WARNING"):
        load_lm(str(workspace / "model"), trust_remote_code=True)
    assert any("trust_remote_code is on" in r.message and "model" in r.getMessage() for r in caplog.records)


def test_mixed_run_directory_and_mismatched_predictions_fail_in_one_line(workspace, capsys):
    """A run directory holding another training's weights, and predictions scored against other
    evaluation units than they were decoded from, are refused (both used to pass silently)."""
    import shutil

    from prefix_bench.cli import main

    runs = {}
    for name, length in (("mix-a", 2), ("mix-b", 3)):
        runs[name] = workspace / "runs" / name
        train_run(make_spec(workspace, "prefix", {"length": length, "mid_dim": 8}, steps=2), workspace / "data",
                  runs[name])
    mixed = workspace / "runs" / "mixed-dirs"
    shutil.copytree(runs["mix-a"], mixed)
    shutil.copy(runs["mix-b"] / "trained.safetensors", mixed / "trained.safetensors")
    with pytest.raises(PrefixBenchError, match=r"files from different trainings"):
        generate_split(mixed, workspace / "data" / "test.eval.jsonl", mixed / "test.txt")
    assert not (mixed / "test.txt").exists()

    spec = make_spec(workspace, "prefix", {"length": 2, "mid_dim": 8}, steps=2)
    preds = runs["mix-a"] / "predictions" / "test.txt"
    preds.parent.mkdir(exist_ok=True)
    generate_split(runs["mix-a"], workspace / "data" / "test.eval.jsonl", preds, spec.generate)
    out = runs["mix-a"] / "scores.json"
    capsys.readouterr()  # drop what training and decoding printed
    assert main(["score", "--task", "e2e", "--refs", str(workspace / "data" / "dev.eval.jsonl"),
                 "--hyps", str(preds), "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "generated from other evaluation units" in err, err
    assert not out.exists()


def test_job_logs_get_plain_progress_lines(workspace, caplog, monkeypatch):
    """Under Snakemake stderr is a file: training and decoding say where they are, with an ETA."""
    monkeypatch.setenv("PREFIX_BENCH_PROGRESS_SECONDS", "0")
    spec = make_spec(workspace, "prefix", {"length": 2, "mid_dim": 8}, steps=4, log_every=2)
    out = workspace / "runs" / "progress"
    with caplog.at_level("INFO", logger="prefix_bench.progress"):
        train_run(spec, workspace / "data", out)
        generate_split(out, workspace / "data" / "test.eval.jsonl", out / "test.txt", spec.generate)
    lines = [r.getMessage() for r in caplog.records if r.name == "prefix_bench.progress"]
    train_lines = [line for line in lines if line.startswith("train ")]
    assert [line.split(":")[1].split()[0] for line in train_lines] == ["2/4", "4/4"]
    assert all(k in train_lines[-1] for k in ("epoch", "loss", "lr", "tokens_per_s", "ETA", "elapsed"))
    assert any(line.startswith("generate: 40/40 sources (100%)") for line in lines), lines


def test_a_run_without_a_prepared_dev_split_trains_and_says_so(workspace, tmp_path, caplog):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(workspace / "data", data)
    (data / "dev.jsonl").write_text("")  # what `splits: [train, test]` leaves
    spec = make_spec(workspace, "prefix", {"length": 2, "mid_dim": 8}, steps=2)
    with caplog.at_level("WARNING"):
        record = train_run(spec, data, tmp_path / "run")
    assert record["training"]["dev_loss"] is None and "dev_sha256" not in record["data"]
    assert any("no dev pairs" in r.getMessage() for r in caplog.records)


def test_a_record_with_decoding_keys_of_another_version_decodes_under_given_settings(workspace):
    """A run record whose `generate` holds a key this version does not know (older runs wrote
    `bf16`) still decodes when the settings are given (the workflow always gives them); without
    them the one-line error says how."""
    import json
    import shutil

    run = workspace / "runs" / "older-record"
    spec = make_spec(workspace, "prefix", {"length": 2, "mid_dim": 8}, steps=2)
    train_run(spec, workspace / "data", run)
    record = json.loads((run / "run.json").read_text())
    record["spec"]["generate"] = {"bf16": True, "num_beams": 2}
    (run / "run.json").write_text(json.dumps(record))
    with pytest.raises(PrefixBenchError, match=r"unknown key 'bf16'.*--generate-json"):
        generate_split(run, workspace / "data" / "test.eval.jsonl", run / "test.txt")
    info = generate_split(run, workspace / "data" / "test.eval.jsonl", run / "test.txt", spec.generate)
    assert info["units"] > 0 and info["generate_options"] == spec.to_dict()["generate"]
    shutil.rmtree(run)
