"""The FLOP model: training and decoding FLOPs of one pair, per model shape and method.

N = the weights a token passes through, embeddings excluded, the LM head's matmul included
(at target positions only with `train.target_only_head`). Forward 2N per token; attention adds
4 x d x layers per (query, key) pair, the prefix's keys included; its backward costs twice its
forward for every method. Backward + weight gradients, by how the method trains (`METHOD_KINDS`):
- "frozen": activation backward 2N, no LM weight gradients (~4N in all), plus 6 per trained
  weight a token passes (adapters, LoRA), plus the prefix MLP once a step (INFIX-k runs source
  + k through the LM once more; EMB-k runs its k tokens through the LM once a step);
- "full": 6N;
- "top" (FT-top2): backward and weight gradients only through the LM head and the top blocks.
BART: the encoder (and the decoder's cross-attention K/V) over the source, the decoder and the
head over the target. Not counted: padding, the optimizer, data loading, the real-word
initialisation fit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from ..config import GenerateOptions, RunSpec
from ..errors import PrefixBenchError
from ..methods.prefix.config import DEFAULT_LENGTH
from ..methods.prefix_bart.config import DEFAULT_BART_LENGTH
from .shapes import Shape, Source, trainable_weights

#: how each method trains: "full" (every weight), "frozen" (the LM frozen), "top" (top blocks)
METHOD_KINDS = {"finetune": "full", "finetune_top2": "top", "prefix": "frozen", "prefix_bart": "frozen",
                "prefix_emb": "frozen", "infix": "frozen", "adapter": "frozen", "lora": "frozen"}


@dataclass(frozen=True)
class Cost:
    """What a method adds to or saves from the LM's work (see the module docstring)."""

    kind: str  # METHOD_KINDS
    prefix: int = 0  # virtual key positions every token attends to
    infix: int = 0  # INFIX-k: source + k more tokens through the LM
    extra: int = 0  # trained weights every token passes (adapters, LoRA)
    trained: int = 0  # FT-top: trained LM weights (top blocks, final norm)
    top: int = 0  # FT-top: trained blocks
    step_params: int = 0  # reparametrization MLP weights, run over the prefix once a step
    step_tokens: int = 0  # EMB-k: virtual tokens through the LM once a step
    cue: int = 0  # fine-tuning's cue words in front of every source


def method_cost(spec: RunSpec, shape: Shape, source: Source) -> Cost:
    """The run's method as the FLOP model sees it."""
    method, cfg = spec.method, spec.method_config()
    if method not in METHOD_KINDS:
        raise PrefixBenchError(f"method {method!r}: no FLOP model (known: {', '.join(METHOD_KINDS)})")
    kind = METHOD_KINDS[method]
    if method in ("adapter", "lora", "finetune_top2"):
        trained = trainable_weights(source, method, json.dumps(spec.to_dict()["method_options"], sort_keys=True))
        if method == "finetune_top2":
            return Cost(kind, trained=trained, top=cfg.top_blocks)
        return Cost(kind, extra=trained)
    if method == "finetune":
        return Cost(kind, cue=word_tokens(cfg.cue) if cfg.cue else 0)
    default = DEFAULT_BART_LENGTH if method == "prefix_bart" else DEFAULT_LENGTH
    length = cfg.length or (word_tokens(cfg.words) if cfg.init == "words" else default)
    if method == "prefix_emb":
        mlp = shape.d * cfg.mid_dim * 2 if cfg.parametrize == "mlp" else 0
        return Cost(kind, prefix=length, step_params=mlp, step_tokens=length)
    mlp = prefix_mlp(shape, cfg.mid_dim) if cfg.reparametrize else 0
    return Cost(kind, prefix=length, step_params=mlp, infix=length if method == "infix" else 0)


def word_tokens(words: str) -> int:
    """A BPE-free estimate of the token count of init/cue words: words and punctuation marks
    ("table-to-text:" -> 6, as on GPT-2; "summarize" -> 1)."""
    return max(1, len(re.findall(r"\w+|[^\w\s]", words)))


def prefix_mlp(shape: Shape, mid: int) -> int:
    """Weights of the reparametrization MLP(s) (d -> mid -> 2 x layers x d per attention site;
    BART: encoder self-attention, decoder self-attention and cross-attention)."""
    if shape.seq2seq:
        return mid * ((shape.d + 2 * shape.enc_layers * shape.d) + 2 * (shape.d + 2 * shape.layers * shape.d))
    return mid * (shape.d + 2 * shape.layers * shape.d)


def example_tokens(shape: Shape, src: float, tgt: float) -> float:
    """Tokens of one training pair: GPT-2 ` {x} <eos> {y} <eos>`; BART <s> x </s> and <s> y </s>."""
    return src + tgt + (4 if shape.seq2seq else 2)


def _head_tokens(shape: Shape, src: float, tgt: float, target_only_head: bool) -> float:
    """Positions the LM head runs at: the target's (BART `<s> y </s>`, GPT-2 `y <eos>`), or every
    GPT-2 position without `train.target_only_head`. `src` includes any cue."""
    if shape.seq2seq:
        return tgt + 2
    return tgt + 1 if target_only_head else example_tokens(shape, src, tgt)


def forward_flops(shape: Shape, cost: Cost, src: float, tgt: float, target_only_head: bool) -> tuple[float, float]:
    """(dense matmul FLOPs, attention FLOPs) of one pair's forward pass."""
    src = src + cost.cue
    if shape.seq2seq:
        s, t = src + 2, tgt + 2
        dense = 2 * (shape.enc * s + shape.cross_kv * s + shape.body * t
                     + shape.head * _head_tokens(shape, src, tgt, target_only_head))
        keys = shape.enc_layers * s * (s + cost.prefix) \
            + shape.layers * (t * t / 2 + t * cost.prefix + t * (s + cost.prefix))
        return dense, 4 * shape.d * keys
    n = example_tokens(shape, src, tgt)
    dense = 2 * (shape.body * n + shape.head * _head_tokens(shape, src, tgt, target_only_head))
    keys = n * n / 2 + n * cost.prefix
    if cost.infix:  # pass 1: the source and the k infix embeddings
        first = src + cost.infix
        dense += 2 * shape.body * first
        keys += first * first / 2
    return dense, 4 * shape.d * shape.layers * keys


def train_flops(shape: Shape, cost: Cost, src: float, tgt: float, batch: int, target_only_head: bool) -> float:
    """Training FLOPs per pair (forward, backward, weight gradients), the method's once-a-step work
    shared over the batch."""
    dense, attn = forward_flops(shape, cost, src, tgt, target_only_head)
    tokens = example_tokens(shape, src + cost.cue, tgt)
    if cost.kind == "full":
        work = 3 * dense + 3 * attn
    elif cost.kind == "top":
        head_tokens = _head_tokens(shape, src + cost.cue, tgt, target_only_head)
        top_tokens = tgt + 2 if shape.seq2seq else tokens
        work = dense + attn + 2 * shape.head * head_tokens + 4 * cost.trained * top_tokens \
            + 2 * attn * cost.top / max(1, shape.layers + shape.enc_layers)
    else:
        work = 2 * dense + 3 * attn + 6 * cost.extra * tokens
    step = 6 * cost.step_params * cost.prefix + 4 * shape.body * cost.step_tokens
    return work + step / batch


def dense_weights(shape: Shape, cost: Cost, src: float, tgt: float, target_only_head: bool) -> float:
    """N: dense forward FLOPs per token / 2 (for the "x N" figures; INFIX-k's second pass left out)."""
    dense, _ = forward_flops(shape, replace(cost, infix=0), src, tgt, target_only_head)
    return dense / 2 / example_tokens(shape, src + cost.cue, tgt)


def decode_flops(shape: Shape, cost: Cost, src: float, tgt: float, generate: GenerateOptions) -> float:
    """Rough FLOPs of decoding one eval unit with beam search: the prompt (once per beam with
    `generate`), then beams x new tokens through the LM and its head."""
    beams = generate.num_beams
    new = min(generate.max_new_tokens, max(generate.min_new_tokens, tgt + 1))
    src = src + cost.cue
    if shape.seq2seq:
        s = src + 2
        encode = 2 * shape.enc * s + 4 * shape.d * shape.enc_layers * s * (s + cost.prefix)
        step = 2 * (shape.body + shape.head) + 4 * shape.d * shape.layers * (new / 2 + s + 2 * cost.prefix)
        return encode + beams * (2 * shape.cross_kv * s + new * step)
    prompt = src + 1 + cost.infix
    copies = beams if generate.beam_search == "hf" else 1
    encode = copies * (2 * shape.body * prompt + 2 * shape.d * shape.layers * prompt * prompt)
    step = 2 * (shape.body + shape.head) + 4 * shape.d * shape.layers * (prompt + cost.prefix + new / 2)
    return encode + beams * new * step
