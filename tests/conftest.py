"""Shared fixtures: tiny models built from configs, tokenizers trained on the fly, no network."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

TEXTS = [
    "name : The Eagle | Type : coffee shop | food : French | price : moderate",
    "The Eagle is a moderately priced coffee shop serving French food.",
    "name : Alimentum | area : city centre | family friendly : no",
    "Alimentum is not family-friendly and is in the city centre.",
    "name : The Mill | Type : pub | food : Italian | near : Cafe Rouge",
    "The Mill is a pub near Cafe Rouge that serves Italian food.",
] * 20


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """A saved tiny-gpt2 (random weights, seed 0) with its BPE tokenizer."""
    from prefix_bench.models.tiny import build_tiny

    return build_tiny("tiny-gpt2", TEXTS, tmp_path_factory.mktemp("tiny-gpt2"), seed=0)


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory) -> Path:
    """The demo E2E sample prepared into `data/` and a tiny-gpt2 built on it into `model/`.

    Shared by the training tests; each writes its runs under its own sub-directory."""
    import json

    from prefix_bench.data import prepare_dataset
    from prefix_bench.models.tiny import build_tiny

    root = tmp_path_factory.mktemp("demo-workspace")
    prepare_dataset("e2e", root / "data", source_dir=REPO / "prefix_bench" / "resources" / "demo" / "e2e")
    rows = [json.loads(line) for line in (root / "data" / "train.jsonl").open()]
    build_tiny("tiny-gpt2", [t for r in rows for t in (r["source"], r["target"])], root / "model")
    return root


@pytest.fixture()
def tiny_lm(tiny_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_dir).eval(), AutoTokenizer.from_pretrained(tiny_dir)


@pytest.fixture(scope="session", autouse=True)
def no_host_slurm():
    """Snakemake subprocesses see no SLURM controller unless a test starts its own.

    Snakemake's SLURM executor plugin runs `scontrol show config` whenever Snakemake starts; with
    SLURM installed but no controller reachable that call stalls ~9 s (its own timeout is 10 s)
    before failing, on every local `snakemake` call. An empty SLURM_CONF makes it fail at once,
    as it would without SLURM. tests/test_slurm.py passes its own cluster's SLURM_CONF."""
    if "SLURM_CONF" in os.environ:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", os.devnull)
        yield
