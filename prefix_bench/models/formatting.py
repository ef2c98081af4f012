"""How (source, target) pairs become model inputs, exactly as the paper's code did.

Decoder-only (GPT-2, Llama): ` {source} <|endoftext|> {target} <|endoftext|>` (the paper's code, XiangLi1999/PrefixTuning).
EOS is both the separator and the terminator; the loss covers the target tokens and the final EOS
only; prompts are left-padded for decoding.
Encoder-decoder (BART, paper section 4.2): the source is the encoder input and the target (with
its EOS) the labels; the decoder input is the labels shifted right behind the decoder start
token; sources are right-padded (BART's positions count from the left edge).
`text_format(lm)` picks the right one, so the trainer and generator never branch on the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

IGNORE = -100


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE on the source and separator


def encode_prompt(tokenizer, source: str, max_source_tokens: int) -> list[int]:
    """` {source} <|endoftext|>` as ids; the source is truncated on the right if too long."""
    ids = tokenizer(f" {source} ", add_special_tokens=False).input_ids[:max_source_tokens]
    return ids + [tokenizer.eos_token_id]


def encode_pair(tokenizer, source: str, target: str, max_source_tokens: int, max_target_tokens: int) -> Encoded:
    prompt = encode_prompt(tokenizer, source, max_source_tokens)
    target_ids = tokenizer(f" {target} ", add_special_tokens=False).input_ids[:max_target_tokens]
    target_ids = target_ids + [tokenizer.eos_token_id]
    return Encoded(prompt + target_ids, [IGNORE] * len(prompt) + target_ids)


def decode_output(tokenizer, ids: list[int], placeholder: str) -> str:
    """Cut at the first EOS, decode, put on one line; `placeholder` if nothing is left."""
    eos = tokenizer.eos_token_id
    if eos in ids:
        ids = ids[: ids.index(eos)]
    text = " ".join(tokenizer.decode(ids, skip_special_tokens=True).split())
    return text if text else placeholder


def newline_token_ids(tokenizer) -> list[list[int]]:
    """Token ids whose text contains a newline (banned in decoding, as in the paper's code)."""
    banned = []
    for token, idx in tokenizer.get_vocab().items():
        if "\n" in tokenizer.convert_tokens_to_string([token]):
            banned.append([idx])
    return sorted(banned)


def target_positions(labels: torch.Tensor) -> torch.Tensor:
    """Flat indices into [B * T] of the positions that predict a target token (position t predicts
    token t + 1), row-major. `collate` computes them on the host as "target_index", so a training
    step on a GPU never waits for the device to learn how many targets a batch has."""
    predicts_target = torch.zeros_like(labels, dtype=torch.bool)
    predicts_target[:, :-1] = labels[:, 1:] != IGNORE
    return predicts_target.flatten().nonzero()[:, 0]


def collate(examples: list[Encoded], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Decoder-only batch: right-pad to the longest sequence in the batch (dynamic padding).
    "target_index": the flat positions [B * T] that predict a target token, computed here on the
    host (the target-only LM head gathers them without a device-to-host read)."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full_like(ids, IGNORE)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device),
            "target_index": target_positions(labels).to(device)}


# --- encoder-decoder -----------------------------------------------------------------------------
def _with_eos(ids: list[int], eos: int, limit: int) -> list[int]:
    """Token ids truncated to `limit`, always ending in EOS (as BART's tokenizer produces)."""
    if ids and ids[-1] == eos:
        ids = ids[:-1]
    return ids[: max(0, limit - 1)] + [eos]


def encode_source(tokenizer, source: str, max_source_tokens: int) -> list[int]:
    """Encoder input ids for `source` (BART: `<s> ... </s>`), truncated to `max_source_tokens`."""
    return _with_eos(tokenizer(source).input_ids, tokenizer.eos_token_id, max_source_tokens)


def encode_seq2seq_pair(tokenizer, source: str, target: str, max_source_tokens: int,
                        max_target_tokens: int) -> Encoded:
    target_ids = _with_eos(tokenizer(target).input_ids, tokenizer.eos_token_id, max_target_tokens)
    return Encoded(encode_source(tokenizer, source, max_source_tokens), target_ids)


def collate_seq2seq(examples: list[Encoded], pad_id: int, device: torch.device,
                    decoder_start_id: int) -> dict[str, torch.Tensor]:
    """Right-padded sources; labels padded with IGNORE; decoder inputs = labels shifted right."""
    batch = len(examples)
    src_width = max(len(e.input_ids) for e in examples)
    tgt_width = max(len(e.labels) for e in examples)
    ids = torch.full((batch, src_width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full((batch, tgt_width), IGNORE, dtype=torch.long)
    dec_ids = torch.full((batch, tgt_width), pad_id, dtype=torch.long)
    dec_mask = torch.zeros_like(dec_ids)
    for i, e in enumerate(examples):
        n, m = len(e.input_ids), len(e.labels)
        ids[i, :n] = torch.tensor(e.input_ids)
        mask[i, :n] = 1
        labels[i, :m] = torch.tensor(e.labels)
        dec_ids[i, :m] = torch.tensor([decoder_start_id] + e.labels[:-1])
        dec_mask[i, :m] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device),
            "decoder_input_ids": dec_ids.to(device), "decoder_attention_mask": dec_mask.to(device)}


@dataclass(frozen=True)
class TextFormat:
    """The input conventions of one model family (see module docstring)."""

    name: str
    encode_pair: Callable[..., Encoded]
    encode_prompt: Callable[..., list[int]]
    collate: Callable[..., dict]
    #: logits at position t predict labels[t + 1] (decoder-only) rather than labels[t]
    shift_labels: bool
    #: prompts are left-padded for decoding (decoder-only) or right-padded (encoder-decoder)
    left_pad_prompts: bool
    #: generated ids start with the decoder start token, which is not part of the output
    strip_first_generated: bool

    def forward(self, method, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        extra = {k: batch[k] for k in ("decoder_input_ids", "decoder_attention_mask") if k in batch}
        return method(batch["input_ids"], batch["attention_mask"], **extra)


def text_format(lm) -> TextFormat:
    """Decoder-only or encoder-decoder conventions, from the model's own config."""
    if getattr(lm.config, "is_encoder_decoder", False):
        start = lm.config.decoder_start_token_id

        def collate_fn(examples, pad_id, device):
            return collate_seq2seq(examples, pad_id, device, start)

        return TextFormat("seq2seq", encode_seq2seq_pair, encode_source, collate_fn,
                          shift_labels=False, left_pad_prompts=False, strip_first_generated=True)
    return TextFormat("causal", encode_pair, encode_prompt, collate,
                      shift_labels=True, left_pad_prompts=True, strip_first_generated=False)
