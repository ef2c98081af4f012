"""How a (source, target) pair becomes a GPT-2 token sequence, exactly as the paper's code did.

Sequence: ` {source} <|endoftext|> {target} <|endoftext|>` (BRIEF section 1). EOS is both the
separator and the terminator; the loss covers the target tokens and the final EOS only.
"""

from __future__ import annotations

from dataclasses import dataclass

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
