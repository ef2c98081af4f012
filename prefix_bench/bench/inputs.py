"""The bench's inputs: E2E pairs, a tokenizer trained on them, the random-weight models."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import torch

from ..atomic import write_json
from ..errors import PrefixBenchError
from .settings import BenchSettings, Shape

DEMO_DATA = Path(__file__).resolve().parents[1] / "resources" / "demo" / "e2e"
DEMO_NOTE = ("DEMO DATA: the bundled sample (prefix_bench/resources/demo/e2e), not the official E2E files "
             "(--demo-data); pass --data-dir with devset.csv and testset_w_refs.csv for real figures")


def read_e2e(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [(r["mr"], r["ref"]) for r in csv.DictReader(f)]


def data_files(data_dir: Path | None, demo: bool = False) -> tuple[Path, str]:
    """The E2E files the bench reads and how the figures name them. Figures on the demo sample
    are not the benchmark's, so they need `demo` asked for explicitly and say so."""
    if data_dir is not None and demo:
        raise PrefixBenchError("pass either --data-dir or --demo-data, not both")
    if demo:
        return DEMO_DATA, DEMO_NOTE
    if data_dir is None:
        raise PrefixBenchError("needs the official E2E files: pass --data-dir DIR (devset.csv, testset_w_refs.csv), "
                               "or --demo-data to time the bundled sample")
    if (data_dir / "testset_w_refs.csv").is_file() and (data_dir / "devset.csv").is_file():
        return data_dir, f"E2E data in {data_dir} (devset pairs for training batches, testset for decoding/scoring)"
    raise PrefixBenchError(f"--data-dir {data_dir}: needs devset.csv and testset_w_refs.csv (official E2E files)")


def prepare_inputs(s: BenchSettings, work: Path, root: Path) -> None:
    """Tokenizer, training examples and decoding prompts, written once into `work` for every worker."""
    from ..models.formatting import encode_pair, encode_prompt
    from ..models.tiny import train_byte_bpe

    train_pairs = read_e2e(root / "devset.csv")
    test_pairs = read_e2e(root / "testset_w_refs.csv")
    tok = train_byte_bpe([t for p in train_pairs + test_pairs for t in p], vocab_size=min(4096, s.vocab))
    tok.save_pretrained(work / "tokenizer")
    random.Random(0).shuffle(train_pairs)
    n = s.batch_size * s.train_batches
    if len(train_pairs) < n:
        raise PrefixBenchError(f"{root / 'devset.csv'}: {len(train_pairs)} pairs, the bench needs {n}")
    encoded = [encode_pair(tok, m, r, s.max_source_tokens, s.max_target_tokens) for m, r in train_pairs[:n]]
    sources = list(dict.fromkeys(m for m, _ in test_pairs))  # deduplicated, as `generate` does
    if len(sources) < s.decode_sources:
        raise PrefixBenchError(f"{root / 'testset_w_refs.csv'}: {len(sources)} distinct sources, the bench decodes "
                               f"{s.decode_sources}")
    prompts = [encode_prompt(tok, m, s.max_source_tokens) for m in sources[: s.decode_sources]]
    write_json(work / "inputs.json", {"examples": [[e.input_ids, e.labels] for e in encoded], "prompts": prompts})


def load_batches(s: BenchSettings, shape: Shape, work: Path, device: torch.device, pad_id: int) -> list[dict]:
    """The shape's distinct training batches (its warm-up steps; the timed steps cycle over them)."""
    from ..models.formatting import Encoded
    from ..train import collate

    examples = [Encoded(i, l) for i, l in json.loads((work / "inputs.json").read_text())["examples"]]
    return [collate(examples[i * s.batch_size : (i + 1) * s.batch_size], pad_id, device)
            for i in range(shape.warmup_steps)]


def load_prompts(work: Path) -> list[list[int]]:
    return json.loads((work / "inputs.json").read_text())["prompts"]


def build_lm(s: BenchSettings, shape: Shape, device: torch.device, eos: int):
    """GPT-2 of `shape` with random weights (timing needs no trained weights), the same for
    every contender (seeded)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=s.vocab, n_positions=1024, bos_token_id=eos, eos_token_id=eos,
                        pad_token_id=eos, **shape.dims)
    return GPT2LMHeadModel(config).to(device)
