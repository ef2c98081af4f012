"""DART v1.1.1 adapter: official counts and order, the paper's linearization, JSON == XML."""

import pytest
from test_data_helpers import SAMPLES, shared

from prefix_bench.data import prepare_dataset, read_jsonl
from prefix_bench.tasks.dart import linearize_tripleset


def test_golden_committed_sample(tmp_path):
    manifest = prepare_dataset("dart", tmp_path, source_dir=SAMPLES / "dart", splits=["dev"], allow_unpinned=True)
    assert manifest["counts"]["dev"]["units"] == 3
    units = read_jsonl(tmp_path / "dev.eval.jsonl")
    assert units[0]["source"] == ("Mars Hill College : joined : 1973 | "
                                  "Mars Hill College : location : Mars Hill, North Carolina")
    assert units[0]["references"] == ["A school from Mars Hill, North Carolina, joined in 1973."]


def test_golden_relation_lowercased():
    assert linearize_tripleset([("[TABLECONTEXT]", "[TITLE]", "Jeff Daniels"),
                                ("Hawaii Five-O", "NOTES", "Episode: X")]) == \
        "[TABLECONTEXT] : [title] : Jeff Daniels | Hawaii Five-O : notes : Episode: X"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("dart")
    return out, prepare_dataset("dart", out, source_dir=shared("dart"), splits=["dev", "test"])


def test_counts_one_unit_per_entry(prepared):
    out, manifest = prepared
    assert manifest["counts"]["dev"]["units"] == 2768
    assert manifest["counts"]["test"]["units"] == 5097
    units = read_jsonl(out / "test.eval.jsonl")
    assert [u["meta"]["entry"] for u in units] == list(range(1, 5098))
    assert units[0]["source"] == ("Hawaii Five-O : notes : Episode: The Flight of the Jewels | "
                                  "[TABLECONTEXT] : [title] : Jeff Daniels | "
                                  "[TABLECONTEXT] : title : Hawaii Five-O")


def test_dev_json_equals_dev_xml(prepared, tmp_path):
    """The XML route (used for test) reads exactly what the JSON route reads."""
    out, _ = prepared
    (tmp_path / "dart-v1.1.1-full-dev.xml").symlink_to(shared("dart/dart-v1.1.1-full-dev.xml"))
    prepare_dataset("dart", tmp_path / "x", source_dir=tmp_path, splits=["dev"])
    strip = lambda rows: [(r["source"], r["references"]) for r in rows]  # noqa: E731
    assert strip(read_jsonl(tmp_path / "x" / "dev.eval.jsonl")) == \
        strip(read_jsonl(out / "dev.eval.jsonl"))
