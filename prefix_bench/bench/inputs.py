"""The bench's inputs: E2E pairs, a tokenizer trained on them, the model shape per device."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import torch

from ..atomic import write_json
from ..errors import PrefixBenchError

DEMO_DATA = Path(__file__).resolve().parents[1] / "resources" / "demo" / "e2e"
SHAPES = {"cpu": dict(n_layer=12, n_embd=768, n_head=12),  # GPT-2 small
          "cuda": dict(n_layer=24, n_embd=1024, n_head=16)}  # GPT-2 medium
GPT2_VOCAB = 50257  # the real head width: the LM head is the largest matmul of a step


def read_e2e(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [(r["mr"], r["ref"]) for r in csv.DictReader(f)]


def data_files(data_dir: Path | None) -> tuple[Path, str]:
    """The E2E files the bench reads and how the figures name them: the official files in
    `data_dir`, or (none given) the bundled demo sample, said so in the figures' data note."""
    if data_dir is None:
        return DEMO_DATA, ("demo sample (prefix_bench/resources/demo/e2e), not the official E2E files: "
                           "pass --data-dir with devset.csv and testset_w_refs.csv")
    if (data_dir / "testset_w_refs.csv").is_file() and (data_dir / "devset.csv").is_file():
        return data_dir, f"E2E data in {data_dir} (devset pairs for training batches, testset for decoding/scoring)"
    raise PrefixBenchError(f"{data_dir}: needs devset.csv and testset_w_refs.csv (official E2E files)")


def prepare_inputs(s, work: Path, data_dir: Path | None) -> dict:
    """Tokenizer + encoded batches + decoding prompts, written once for every worker."""
    from ..models.formatting import encode_pair, encode_prompt
    from ..models.tiny import train_byte_bpe

    root, note = data_files(data_dir)
    train_pairs = read_e2e(root / ("devset.csv" if (root / "devset.csv").is_file() else "trainset.csv"))
    test_pairs = read_e2e(root / "testset_w_refs.csv")
    tok = train_byte_bpe([t for p in train_pairs + test_pairs for t in p], vocab_size=4096)
    tok.save_pretrained(work / "tokenizer")
    random.Random(0).shuffle(train_pairs)
    n = s.batch_size * (s.warmup_steps + s.train_steps)
    encoded = [encode_pair(tok, m, r, s.max_source_tokens, s.max_target_tokens) for m, r in train_pairs[:n]]
    sources = list(dict.fromkeys(m for m, _ in test_pairs))  # deduplicated, as `generate` does
    prompts = [encode_prompt(tok, m, s.max_source_tokens) for m in sources[: s.decode_sources]]
    inputs = {"examples": [[e.input_ids, e.labels] for e in encoded], "prompts": prompts,
              "data": note, "data_dir": str(root)}
    write_json(work / "inputs.json", inputs)
    return inputs


def load_batches(s, work: Path, device: torch.device, pad_id: int) -> list[dict]:
    from ..models.formatting import Encoded
    from ..train import collate

    inputs = json.loads((work / "inputs.json").read_text())
    examples = [Encoded(i, l) for i, l in inputs["examples"]]
    return [collate(examples[i : i + s.batch_size], pad_id, device) for i in range(0, len(examples), s.batch_size)]


def build_lm(s, device: torch.device, eos: int):
    """GPT-2 of the device's shape with random weights (timing needs no trained weights)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=GPT2_VOCAB, n_positions=1024, bos_token_id=eos, eos_token_id=eos,
                        pad_token_id=eos, **SHAPES[s.device])
    return GPT2LMHeadModel(config).to(device)
