"""Built-in tiny models, built from a config with a tokenizer trained on the task's own text.

No GPT-2/BART weights are reachable offline, so the demo and the tests use `tiny-gpt2`: the GPT-2
architecture at a few hundred thousand parameters, with a byte-level BPE tokenizer trained in a
fraction of a second on the training text. It is randomly initialised (seeded), so it exercises
every code path of the method but its scores mean nothing.

Command: `prefix-bench build-model --name tiny-gpt2 --train-jsonl results/data/e2e/train.jsonl --out DIR`
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

EOS = "<|endoftext|>"

# Architecture of each built-in tiny model (transformers config kwargs).
TINY_CONFIGS: dict[str, dict] = {
    "tiny-gpt2": dict(n_layer=2, n_head=4, n_embd=96, n_positions=256, n_inner=None),
}


def train_byte_bpe(texts: Iterable[str], vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """Train a GPT-2-style byte-level BPE tokenizer with `<|endoftext|>` as its only special token."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # GPT-2 has no pad token; like the paper's code we pad with a known id and mask it out.
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS)


def build_tiny(name: str, texts: list[str], out_dir: Path, seed: int = 0) -> Path:
    """Build tiny model `name` (random init under `seed`), train its tokenizer, save to `out_dir`."""
    if name not in TINY_CONFIGS:
        raise KeyError(name)
    tokenizer = train_byte_bpe(texts)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
        **TINY_CONFIGS[name],
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
