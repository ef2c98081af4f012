"""Built-in tiny models, built from a config with a tokenizer trained on the task's own text.

No GPT-2/BART weights are reachable offline, so the demo and the tests use `tiny-gpt2`: the GPT-2
architecture at a few hundred thousand parameters, with a byte-level BPE tokenizer trained in a
fraction of a second on the training text (`tiny-llama`: the same for a Llama-style model with
RoPE and grouped-query attention). It is randomly initialised (seeded), so it exercises
every code path of the method but its scores mean nothing.

Command: `prefix-bench build-model --name tiny-gpt2 --train-jsonl results/data/e2e/train.jsonl --out DIR`
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

EOS = "<|endoftext|>"

# Architecture of each built-in tiny causal LM (transformers config kwargs).
TINY_CONFIGS: dict[str, dict] = {
    "tiny-gpt2": dict(n_layer=2, n_head=4, n_embd=96, n_positions=256, n_inner=None),
    # Llama-style: RoPE, RMSNorm, SwiGLU, grouped-query attention (4 query heads share 2 K/V heads)
    "tiny-llama": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, hidden_size=64,
                       intermediate_size=128, max_position_embeddings=256, tie_word_embeddings=True),
}
_ARCHITECTURES = {"tiny-gpt2": (GPT2Config, GPT2LMHeadModel), "tiny-llama": (LlamaConfig, LlamaForCausalLM)}

# Tiny BART (encoder-decoder): the XSum-style seq2seq path (methods/prefix_bart, models.formatting).
TINY_BART: dict = dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                       decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
                       max_position_embeddings=256)


#: every name `build-model` (and a config's `models.<name>.builtin`) accepts
BUILTIN_MODELS = (*TINY_CONFIGS, "tiny-bart")


def tiny_model(name: str, vocab_size: int, eos_id: int, seed: int = 0):
    """Tiny model `name` ("tiny-gpt2", "tiny-llama" or "tiny-bart"), random init under `seed`."""
    special = dict(bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id)
    torch.manual_seed(seed)
    if name == "tiny-bart":
        config = BartConfig(vocab_size=vocab_size, decoder_start_token_id=eos_id, forced_eos_token_id=None,
                            **special, **TINY_BART)
        return BartForConditionalGeneration(config)
    config_class, model_class = _ARCHITECTURES[name]
    return model_class(config_class(vocab_size=vocab_size, **special, **TINY_CONFIGS[name]))


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
    if name not in BUILTIN_MODELS:
        raise KeyError(name)
    tokenizer = train_byte_bpe(texts)
    model = tiny_model(name, len(tokenizer), tokenizer.eos_token_id, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
