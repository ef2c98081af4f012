"""Shared schema reader, dataset table and option validation."""

import pytest

from prefix_bench.data import DATASETS, get_adapter, prepare_dataset, read_jsonl
from prefix_bench.errors import PrefixBenchError


def test_dataset_table():
    assert list(DATASETS) == ["e2e", "webnlg", "dart", "xsum"]
    for name, cls in DATASETS.items():
        assert cls.name == name and isinstance(cls.VERSION, int)
    with pytest.raises(PrefixBenchError, match=r"unknown dataset 'x' \(valid: e2e, webnlg"):
        get_adapter("x")


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
