"""Low-data and data-efficiency subsets: deterministic given the seed, saved to disk."""

import argparse

import pytest
from test_data_helpers import DEMO_E2E

from prefix_bench.data import make_subset, prepare_dataset, read_jsonl
from prefix_bench.data.cli import add_parser
from prefix_bench.errors import PrefixBenchError


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    prepare_dataset("e2e", out, source_dir=DEMO_E2E)
    return out


def test_low_data_sizes_and_determinism(full, tmp_path):
    a = make_subset(full, tmp_path / "a", size=50, seed=3)
    b = make_subset(full, tmp_path / "b", size=50, seed=3)
    c = make_subset(full, tmp_path / "c", size=50, seed=4)
    assert a["outputs"] == b["outputs"]
    assert a["outputs"]["train.jsonl"] != c["outputs"]["train.jsonl"]
    assert a["counts"]["train"]["pairs"] == 50 and a["counts"]["dev"]["pairs"] == 15
    assert a["subset"]["seed"] == 3 and a["subset"]["size"] == 50
    train = read_jsonl(tmp_path / "a" / "train.jsonl")
    all_ids = [r["id"] for r in read_jsonl(full / "train.jsonl")]
    assert [all_ids.index(r["id"]) for r in train] == sorted(all_ids.index(r["id"]) for r in train)
    # Test files are the full ones; dev.eval holds the units of the sampled dev pairs.
    assert (tmp_path / "a" / "test.eval.jsonl").read_bytes() == \
        (full / "test.eval.jsonl").read_bytes()
    dev_units = read_jsonl(tmp_path / "a" / "dev.eval.jsonl")
    assert len(dev_units) == a["counts"]["dev"]["units"]


def test_fraction_keeps_full_dev(full, tmp_path):
    m = make_subset(full, tmp_path, fraction=0.1, seed=0)
    assert m["counts"]["train"]["pairs"] == 25
    assert (tmp_path / "dev.jsonl").read_bytes() == (full / "dev.jsonl").read_bytes()


def test_subset_errors(full, tmp_path):
    with pytest.raises(PrefixBenchError, match="exactly one"):
        make_subset(full, tmp_path, size=50, fraction=0.1)
    with pytest.raises(PrefixBenchError, match="only 250 pairs"):
        make_subset(full, tmp_path, size=500)


def test_cli_subset_from_source(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["prepare", "--dataset", "e2e", "--source-dir", str(DEMO_E2E),
                              "--out", str(tmp_path / "n50"), "--subset-size", "50",
                              "--subset-seed", "3"])
    assert args.func(args) == 0
    assert len(read_jsonl(tmp_path / "n50" / "train.jsonl")) == 50
    assert [p.name for p in tmp_path.iterdir()] == ["n50"]  # no leftover temp folder


def test_fixed_test_subset_is_shared_by_every_seed(full, tmp_path):
    a = make_subset(full, tmp_path / "a", size=50, seed=0, test_size=10)
    b = make_subset(full, tmp_path / "b", size=50, seed=1, test_size=10)
    units_a = read_jsonl(tmp_path / "a" / "test.eval.jsonl")
    all_units = [u["id"] for u in read_jsonl(full / "test.eval.jsonl")]
    assert len(units_a) == 10 and a["counts"]["test"]["units"] == 10
    assert (tmp_path / "b" / "test.eval.jsonl").read_bytes() == (tmp_path / "a" / "test.eval.jsonl").read_bytes()
    assert a["outputs"]["train.jsonl"] != b["outputs"]["train.jsonl"]
    # official order kept, references and metadata untouched
    assert [all_units.index(u["id"]) for u in units_a] == sorted(all_units.index(u["id"]) for u in units_a)
    full_by_id = {u["id"]: u for u in read_jsonl(full / "test.eval.jsonl")}
    assert all(u == full_by_id[u["id"]] for u in units_a)
    pairs = read_jsonl(tmp_path / "a" / "test.jsonl")
    assert {p["id"].rsplit("#", 1)[0] for p in pairs} == {u["id"] for u in units_a}
    assert a["subset"]["test_size"] == 10
    with pytest.raises(PrefixBenchError, match="test-size"):
        make_subset(full, tmp_path / "c", size=50, seed=0, test_size=0)
