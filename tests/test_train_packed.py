"""Packed training (`prefix-bench train-pack`): K prefix-tuning runs in one job over one frozen LM
end where K separate `prefix-bench train` runs end, write the same files, and a killed pack
resumes every member exactly. Plus which runs a config packs together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from prefix_bench.config import GenerateOptions, parse_run_spec
from prefix_bench.errors import PrefixBenchError
from prefix_bench.generate import generate_split
from prefix_bench.generate_packed import generate_pack
from prefix_bench.options import from_dict
from prefix_bench.packing import Pack, pack_key, plan_decode_packs, plan_packs
from prefix_bench.train import train_run
from prefix_bench.train_packed import Member, check_packable, parse_members, train_pack

KILLER = Path(__file__).with_name("kill_after_step.py")
#: three runs of one pack: other seeds, learning rates, batch sizes, lengths of training
RUNS = [("a", 1, 1e-2, 4, 6), ("b", 2, 5e-3, 3, 9), ("c", 3, 2e-2, 5, 12)]


def spec(root: Path, name: str, seed: int, lr: float, batch: int, steps: int, **options) -> dict:
    return {"run_id": f"p/{name}", "experiment": "p", "dataset": "e2e", "model": "tiny-gpt2",
            "model_path": str(root / "model"), "method": "prefix",
            "method_options": {"length": 3, "mid_dim": 16, **options},
            "train": {"lr": lr, "seed": seed, "batch_size": batch, "max_steps": steps, "warmup_steps": 2,
                      "grad_clip": 0.5, "device": "cpu", "checkpoint_every": 3, "log_every": 2, "threads": 1}}


def members(root: Path, out: Path) -> list[Member]:
    return [Member(parse_run_spec(spec(root, *r)), root / "data", out / r[0]) for r in RUNS]


@pytest.fixture(scope="module")
def separate_and_packed(demo_workspace, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("packing")
    for m in members(demo_workspace, out / "separate"):
        train_run(m.spec, m.data_dir, m.out_dir)
    train_pack(members(demo_workspace, out / "packed"))
    return out / "separate", out / "packed"


def test_packed_runs_end_where_separate_runs_end(separate_and_packed, demo_workspace):
    separate, packed = separate_and_packed
    for name, *_, steps in RUNS:
        alone, together = load_file(separate / name / "trained.safetensors"), load_file(packed / name / "trained.safetensors")
        assert alone.keys() == together.keys()
        for key in alone:
            # rows padded to another width change float rounding only (Adam amplifies it a little)
            torch.testing.assert_close(together[key], alone[key], atol=2e-4, rtol=1e-3)
        record = json.loads((packed / name / "run.json").read_text())
        lone = json.loads((separate / name / "run.json").read_text())
        assert record["training"]["steps"] == lone["training"]["steps"] == steps
        assert record["config_hash"] == lone["config_hash"]  # the same run, trained another way
        assert record["packing"]["runs"] == ["p/a", "p/b", "p/c"] and "packing" not in lone
        assert [h["step"] for h in record["training"]["history"]] == [h["step"] for h in lone["training"]["history"]]
        assert [h["loss"] for h in record["training"]["history"]] == pytest.approx(
            [h["loss"] for h in lone["training"]["history"]], rel=1e-4)
        assert record["training"]["dev_loss"] == pytest.approx(lone["training"]["dev_loss"], rel=1e-4)
        assert not (packed / name / "checkpoint").exists()
    # and they decode the same text
    eval_jsonl = demo_workspace / "data" / "test.eval.jsonl"
    for name in ("a", "c"):
        generate_split(separate / name, eval_jsonl, separate / name / "test.txt")
        generate_split(packed / name, eval_jsonl, packed / name / "test.txt")
        assert (packed / name / "test.txt").read_text() == (separate / name / "test.txt").read_text()


@pytest.mark.parametrize("search", ["own", "hf"])
def test_runs_decoded_in_one_pack_write_what_each_writes_alone(separate_and_packed, demo_workspace, tmp_path, search):
    """`generate-pack`: the three runs' test sets in shared batches (each row under its own run's
    prefix) give each run the lines and record `prefix-bench generate` gives it alone."""
    _, packed = separate_and_packed
    eval_jsonl = demo_workspace / "data" / "test.eval.jsonl"
    # batch 2 per run: 6 rows a batch, rows of different runs and source lengths side by side
    opts = from_dict(GenerateOptions, {"beam_search": search, "batch_size": 2, "num_beams": 3, "max_new_tokens": 12},
                     "test")
    names = [r[0] for r in RUNS]
    records = generate_pack([packed / n for n in names], eval_jsonl, [tmp_path / n / "pack.txt" for n in names], opts)
    texts = set()
    for name, record in zip(names, records):
        lone = generate_split(packed / name, eval_jsonl, tmp_path / name / "alone.txt", opts)
        pooled_text = (tmp_path / name / "pack.txt").read_text()
        assert pooled_text == (tmp_path / name / "alone.txt").read_text()
        texts.add(pooled_text)
        assert record == json.loads((tmp_path / name / "pack.json").read_text())
        assert record["packing"]["runs"] == ["p/a", "p/b", "p/c"] and "packing" not in lone
        for key in ("units", "unique_sources", "empty_outputs", "decode_hash", "config_hash", "trained_sha256",
                    "beam_search_ran"):
            assert record[key] == lone[key], key
    assert len(texts) == 3  # three different prefixes really decoded: a pool of one run's prefix would fail


def test_a_pack_refuses_runs_that_cannot_decode_together(separate_and_packed, demo_workspace, tmp_path):
    _, packed = separate_and_packed
    eval_jsonl = demo_workspace / "data" / "test.eval.jsonl"
    other = tmp_path / "other"
    other.mkdir()
    record = json.loads((packed / "b" / "run.json").read_text())
    record["spec"]["generate"] = {"num_beams": 2}  # decodes under other settings than the defaults
    (other / "run.json").write_text(json.dumps(record))
    (other / "trained.safetensors").write_bytes((packed / "b" / "trained.safetensors").read_bytes())
    with pytest.raises(PrefixBenchError, match="decodes under other settings"):
        generate_pack([packed / "a", other], eval_jsonl, [tmp_path / "a.txt", tmp_path / "o.txt"])
    with pytest.raises(PrefixBenchError, match="one --out per --run-dir"):
        generate_pack([packed / "a", packed / "b"], eval_jsonl, [tmp_path / "a.txt"])
    assert not list(tmp_path.glob("*.txt"))  # nothing half-written


def pack_process(root: Path, out: Path, kill_after: int = 0) -> subprocess.CompletedProcess:
    items = [{"spec": spec(root, *r), "data_dir": str(root / "data"), "out_dir": str(out / r[0])} for r in RUNS]
    args = ["train-pack", "--members-json", json.dumps(items)]
    cmd = [sys.executable, str(KILLER), str(kill_after), *args] if kill_after else \
        [sys.executable, "-m", "prefix_bench.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_a_killed_pack_resumes_every_member_exactly(separate_and_packed, demo_workspace, tmp_path):
    """SIGKILL after pack step 4 (every run mid-way), then after step 7 (run a finished at 6 and
    wrote its outputs); before each rerun the outputs go, as Snakemake deletes a failed job's.
    The end is bit-identical to the uninterrupted pack, and no checkpoint is left."""
    _, reference = separate_and_packed
    out = tmp_path / "killed"
    for kill_after in (4, 7):
        result = pack_process(demo_workspace, out, kill_after)
        assert result.returncode == -9, result.stderr[-2000:]
        for name, *_ in RUNS:
            for output in ("trained.safetensors", "run.json"):
                (out / name / output).unlink(missing_ok=True)
    assert (out / "a" / "checkpoint").is_dir()  # run a's final state, kept for this rerun
    result = pack_process(demo_workspace, out)
    assert result.returncode == 0, result.stderr[-2000:]
    for name, *_ in RUNS:
        assert (out / name / "trained.safetensors").read_bytes() == (reference / name / "trained.safetensors").read_bytes()
        assert not (out / name / "checkpoint").exists()
        assert not list((out / name).glob(".checkpoint.*"))
    assert json.loads((out / "a" / "run.json").read_text())["training"]["resumed_from_step"] == 6


def test_runs_that_cannot_share_a_pack_are_refused_before_loading(demo_workspace, tmp_path):
    root = demo_workspace
    dropout = Member(parse_run_spec(spec(root, "d", 1, 1e-2, 4, 6, dropout=0.1)), root / "data", tmp_path / "d")
    longer = Member(parse_run_spec(spec(root, "l", 1, 1e-2, 4, 6, length=4)), root / "data", tmp_path / "l")
    ok = members(root, tmp_path)
    with pytest.raises(PrefixBenchError, match="p/d cannot be packed"):
        check_packable([ok[0], dropout])
    with pytest.raises(PrefixBenchError, match="p/l and p/a cannot share a pack"):
        check_packable([ok[0], longer])
    with pytest.raises(PrefixBenchError, match="same --out-dir"):
        check_packable([ok[0], Member(ok[1].spec, ok[1].data_dir, ok[0].out_dir)])
    with pytest.raises(PrefixBenchError, match=r"--members-json\[0\]: missing out_dir"):
        parse_members(json.dumps([{"spec": spec(root, *RUNS[0]), "data_dir": "x"}]))


def test_plan_packs_groups_only_compatible_runs_into_balanced_packs(tmp_path):
    def one(i: int, **changes) -> tuple[str, object]:
        s = spec(tmp_path, f"r{i:02d}", i, 1e-3, 4, 10)
        for key, value in changes.items():
            s[key] = {**s[key], **value}
        s["run_id"] = f"p/r{i:02d}"
        return s["run_id"], parse_run_spec(s)

    specs = dict(one(i) for i in range(17))  # one key: 17 runs
    specs.update(dict([one(20, method_options={"length": 10})]))  # alone in its key: not packed
    specs.update(dict([one(21, method_options={"dropout": 0.2})]))  # never packed
    specs.update(dict([one(22, train={"precision": "fp32"}), one(23, train={"precision": "fp32"})]))
    packs = plan_packs(specs, max_runs=8)
    assert sorted(len(p.runs) for p in packs) == [2, 5, 6, 6]
    packed = {r for p in packs for r in p.runs}
    assert "p/r20" not in packed and "p/r21" not in packed and {"p/r22", "p/r23"} <= packed
    assert pack_key(specs["p/r21"]) is None
    assert plan_packs(specs, max_runs=1) == []
    assert Pack(("p/r00", "p/r01")).id == Pack(("p/r00", "p/r01")).id != Pack(("p/r00", "p/r02")).id


def test_pack_members_decode_together_when_they_decode_the_same_file_the_same_way(tmp_path):
    def one(name: str, **changes) -> tuple[str, object]:
        s = {**spec(tmp_path, name, 1, 1e-3, 4, 10), **changes}
        return s["run_id"], parse_run_spec(s)

    specs = dict([one("a"), one("b"), one("c"), one("d", generate={"num_beams": 2}), one("e", dataset="webnlg"),
                  one("f", dataset="webnlg")])
    splits = {rid: ("dev", "test") for rid in specs}
    splits["p/c"] = ("test",)
    pack = Pack(tuple(sorted(specs)))
    decode = plan_decode_packs([pack], specs, splits)
    # a, b, c share dataset and settings: test together, dev only where all score it (c does not);
    # d decodes other settings and stays alone; e, f decode webnlg together
    assert sorted((p.runs, p.split) for p in decode) == [
        (("p/a", "p/b", "p/c"), "test"), (("p/e", "p/f"), "dev"), (("p/e", "p/f"), "test")]
    assert len({p.id for p in decode}) == 3 and all(p.id.startswith(pack.id[:5]) for p in decode)


def test_pack_members_file_and_cli_errors(demo_workspace, tmp_path):
    bad = subprocess.run([sys.executable, "-m", "prefix_bench.cli", "train-pack", "--members", str(tmp_path / "no.json")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "members file not found" in bad.stderr
