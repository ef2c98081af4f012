"""Shared schema reader, the task table and option validation."""

from pathlib import Path

import pytest
import yaml

from prefix_bench.data import get_adapter, prepare_dataset, read_jsonl
from prefix_bench.errors import PrefixBenchError
from prefix_bench.tasks import TASKS


def test_task_table_holds_adapter_scorer_and_paper_metadata():
    assert list(TASKS) == ["e2e", "webnlg", "dart", "xsum"]
    for name, task in TASKS.items():
        assert task.adapter.name == name and isinstance(task.adapter.VERSION, int)
        assert get_adapter(name).name == name and callable(task.score) and task.metrics and task.citation
        assert task.paper_dataset and all(metric in task.metrics for metric in task.paper_scale)
    with pytest.raises(PrefixBenchError, match=r"unknown task 'x' \(valid: e2e, webnlg"):
        get_adapter("x")
    schema = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml")
                            .read_text())
    dataset = schema["properties"]["datasets"]["additionalProperties"]["properties"]
    assert dataset["adapter"]["enum"] == list(TASKS)
    options = {k for task in TASKS.values() for k in task.adapter.OPTIONS}
    assert set(dataset["options"]["properties"]) == options  # one spelling: the adapters'


def test_options_have_one_spelling_from_config_to_command_line(tmp_path):
    """A dataset option is spelled as the task names it, in the config and on the command line."""
    from prefix_bench.cli import main

    assert get_adapter("webnlg").parse_options(["lexs=all"]) == {"lexs": "all"}
    assert get_adapter("xsum").parse_options(["max_source_words=400"]) == {"max_source_words": 400}
    with pytest.raises(PrefixBenchError, match=r"--option 'webnlg_lexs=all'.*valid: lexs"):
        get_adapter("webnlg").parse_options(["webnlg_lexs=all"])
    with pytest.raises(PrefixBenchError, match="must be an integer"):
        get_adapter("xsum").parse_options(["max_source_words=many"])
    assert main(["prepare", "--dataset", "e2e", "--source-dir", str(tmp_path), "--option", "topic_split=x"]) == 2


def test_unknown_option_and_split(tmp_path):
    with pytest.raises(PrefixBenchError, match="no option 'topic_split'"):
        prepare_dataset("e2e", tmp_path, source_dir=tmp_path, topic_split="within_news")
    with pytest.raises(PrefixBenchError, match="unknown split 'validation'"):
        prepare_dataset("e2e", tmp_path, source_dir=tmp_path, splits=["validation"])


@pytest.mark.parametrize("line,match", [
    ('{"id": "a"', r"x\.jsonl:2: not valid JSON"),
    ('{"id": "a", "source": "s", "references": [], "split": "dev", "meta": {}}',
     r"x\.jsonl:2: missing required field 'target'"),
    ('{"id": 1, "source": "s", "target": "t", "references": [], "split": "d", "meta": {}}',
     r"x\.jsonl:2: field 'id' must be str"),
])
def test_read_jsonl_errors(tmp_path, line, match):
    ok = '{"id": "a", "source": "s", "target": "t", "references": ["t"], "split": "d", "meta": {}}'
    (tmp_path / "x.jsonl").write_text(ok + "\n" + line + "\n")
    with pytest.raises(PrefixBenchError, match=match):
        read_jsonl(tmp_path / "x.jsonl")


def test_read_jsonl_eval_needs_no_target(tmp_path):
    (tmp_path / "dev.eval.jsonl").write_text(
        '{"id": "a", "source": "s", "references": ["r"], "split": "dev", "meta": {}}\n')
    assert read_jsonl(tmp_path / "dev.eval.jsonl")[0]["references"] == ["r"]
