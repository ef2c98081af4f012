"""E2E adapter: demo sample, real dev/test counts, the paper's linearization, clear errors."""

import argparse
import shutil

import pytest
from test_data_helpers import DEMO_E2E, shared

from prefix_bench.data import prepare_dataset, read_jsonl
from prefix_bench.data.cli import add_parser
from prefix_bench.data.demo_sample import build_e2e_demo
from prefix_bench.tasks.e2e import linearize_mr
from prefix_bench.errors import PrefixBenchError

GOLDEN = {
    "name[The Eagle], eatType[coffee shop], food[French], priceRange[moderate], "
    "customer rating[3 out of 5], area[riverside], familyFriendly[yes], near[Burger King]":
        "name : The Eagle | Type : coffee shop | food : French | price : moderate | "
        "customer rating : 3 out of 5 | area : riverside | family friendly : yes | "
        "near : Burger King",
    "name[Cocum], eatType[coffee shop], food[Chinese], priceRange[£20-25], "
    "customer rating[high], familyFriendly[no]":
        "name : Cocum | Type : coffee shop | food : Chinese | price : £ 20 - 25 | "
        "customer rating : high | family friendly : no",
    "name[Alimentum], area[city centre], familyFriendly[no]":
        "name : Alimentum | area : city centre | family friendly : no",
}


@pytest.mark.parametrize("mr", list(GOLDEN))
def test_golden_linearization(mr):
    assert linearize_mr(mr) == GOLDEN[mr]


def test_raw_values_option():
    assert linearize_mr("name[X], priceRange[less than £20]", "raw") == \
        "name : X | price : less than £20"


def test_malformed_mr_rejected():
    with pytest.raises(ValueError):
        linearize_mr("name[X] eatType coffee")


def test_demo_sample_prepares(tmp_path):
    manifest = prepare_dataset("e2e", tmp_path, source_dir=DEMO_E2E)
    assert manifest["counts"] == {
        "train": {"pairs": 250, "units": 250, "refs": 250},
        "dev": {"pairs": 89, "units": 30, "refs": 89},
        "test": {"pairs": 126, "units": 40, "refs": 126},
    }
    units = read_jsonl(tmp_path / "test.eval.jsonl")
    assert units[0]["source"] == "name : Blue Spice | Type : coffee shop | area : city centre"
    assert len(units[0]["references"]) == 2  # the MR has 2 refs in the official file
    assert set(manifest["outputs"]) == {"train.jsonl", "dev.jsonl", "test.jsonl",
                                        "dev.eval.jsonl", "test.eval.jsonl"}
    assert sum(p.stat().st_size for p in DEMO_E2E.glob("*.csv")) < 200_000


def test_demo_sample_rebuilds_byte_identical(tmp_path):
    build_e2e_demo(shared("e2e"), tmp_path)
    for name in ("trainset.csv", "devset.csv", "testset_w_refs.csv"):
        assert (tmp_path / name).read_bytes() == (DEMO_E2E / name).read_bytes()


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e")
    return out, prepare_dataset("e2e", out, source_dir=shared("e2e"), splits=["dev", "test"])


def test_real_counts(real):
    _, manifest = real
    assert manifest["counts"]["dev"] == {"pairs": 4672, "units": 547, "refs": 4672}
    assert manifest["counts"]["test"] == {"pairs": 4693, "units": 630, "refs": 4693}
    assert all(f["matches_pinned"] for f in manifest["source"]["files"].values())


@pytest.mark.parametrize("split,name", [("dev", "valid"), ("test", "test")])
def test_sources_equal_paper_files(real, split, name):
    """Every pair's source equals the paper's own src1_*.txt line (same order)."""
    out, _ = real
    paper = shared("e2e/prefixtuning-tokenized") / f"src1_{name}.txt"
    expected = [line.split("||")[0] for line in paper.read_text(encoding="utf-8").splitlines()]
    assert [p["source"] for p in read_jsonl(out / f"{split}.jsonl")] == expected


def test_missing_train_split_message(tmp_path):
    with pytest.raises(PrefixBenchError, match=r"trainset\.csv not found.*--splits dev,test"):
        prepare_dataset("e2e", tmp_path / "out", source_dir=shared("e2e"))
    assert not (tmp_path / "out").exists()


def test_cli_prints_counts(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["prepare", "--dataset", "e2e", "--source-dir", str(DEMO_E2E),
                              "--out", str(tmp_path), "--splits", "dev,test"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "dev" in out and "units=    30" in out


@pytest.mark.parametrize("text,match", [
    ("mr,ref\n\"name[X]\",a,b\n", r"devset\.csv:2: expected 2 columns"),
    ("foo,bar\n", r"devset\.csv: expected an E2E CSV with header"),
    ("mr,ref\n\"name[X], eatType\",a\n", r"devset\.csv: not an E2E meaning representation"),
    ("mr,ref\n", r"devset\.csv: no data rows"),
])
def test_malformed_csv_one_line_error(tmp_path, text, match):
    (tmp_path / "devset.csv").write_text(text, encoding="utf-8")
    with pytest.raises(PrefixBenchError, match=match) as err:  # past the checksum, the parser's own errors
        prepare_dataset("e2e", tmp_path / "out", source_dir=tmp_path, splits=["dev"], allow_unpinned=True)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out" / "dev.jsonl").exists()


def test_truncated_csv_error(tmp_path):
    raw = (DEMO_E2E / "devset.csv").read_bytes()
    (tmp_path / "devset.csv").write_bytes(raw[: len(raw) // 2] + b'"name[Broken')
    with pytest.raises(PrefixBenchError, match="devset.csv"):
        prepare_dataset("e2e", tmp_path / "out", source_dir=tmp_path, splits=["dev"])


def test_copy_that_is_not_the_pinned_file_is_refused_unless_allowed(tmp_path):
    """A local copy with the official name but other bytes (here the bundled dev sample with one
    reference dropped) is refused; allowed explicitly, it is used and the manifest says so."""
    lines = (DEMO_E2E / "devset.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "devset.csv").write_text("".join(lines[:-1]), encoding="utf-8")
    with pytest.raises(PrefixBenchError, match=r"devset.csv: sha256 .* is not the pinned .*allow_unpinned"):
        prepare_dataset("e2e", tmp_path / "out", source_dir=tmp_path, splits=["dev"])
    assert not (tmp_path / "out").exists()
    manifest = prepare_dataset("e2e", tmp_path / "out", source_dir=tmp_path, splits=["dev"], allow_unpinned=True)
    assert manifest["source"]["files"]["devset.csv"]["allowed_unpinned"] is True


def test_truncated_unpinned_csv_is_refused_by_the_strict_parser(tmp_path):
    """Cut inside a quoted reference: the lenient parser took the cut text as a reference."""
    raw = (DEMO_E2E / "trainset.csv").read_bytes()  # the training CSV has no pinned checksum
    cut = raw[: raw.rindex(b'","') + 10]  # inside the last quoted reference
    (tmp_path / "trainset.csv").write_bytes(cut)
    with pytest.raises(PrefixBenchError, match=r"trainset.csv: malformed CSV \(unexpected end of data\)"):
        prepare_dataset("e2e", tmp_path / "out", source_dir=tmp_path, splits=["train"])


def test_outputs_deterministic(tmp_path):
    shutil.copytree(DEMO_E2E, tmp_path / "src")
    a = prepare_dataset("e2e", tmp_path / "a", source_dir=tmp_path / "src")
    b = prepare_dataset("e2e", tmp_path / "b", source_dir=tmp_path / "src")
    assert a["outputs"] == b["outputs"]


def test_bundled_sample_checksums_match_its_files():
    import hashlib

    lines = (DEMO_E2E / "SHA256SUMS").read_text().split("\n")
    sums = dict(reversed(line.split()) for line in lines if line.strip())
    assert set(sums) == {"devset.csv", "testset_w_refs.csv", "trainset.csv"}
    for name, digest in sums.items():
        assert hashlib.sha256((DEMO_E2E / name).read_bytes()).hexdigest() == digest, name
