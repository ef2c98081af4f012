"""Real-word initialisation of a prefix (Li & Liang 2021, section 7.4 and Figure 5).

The paper initialises the prefix with the activations of real words: the words are tokenized with
a leading space (" table-to-text:" is 6 GPT-2 tokens, " summarize" is 1), the prefix length becomes
that token count, the frozen LM is run on those tokens at positions 0..L-1, and the reparametrization
MLP is fitted to the resulting per-layer K/V with an MSE loss (paper code: 500 Adam steps, lr 1e-4)
before ordinary training starts. A flat (non-reparametrized) table is simply set to the K/V.
"""

from __future__ import annotations

import torch
from torch import nn

from ...errors import PrefixBenchError
from ..activations import layer_kv


def word_ids(tokenizer, words: str) -> list[int]:
    """Token ids of `words` with a leading space, no special tokens."""
    ids = tokenizer(" " + words.strip(), add_special_tokens=False).input_ids
    if not ids:
        raise PrefixBenchError(f"init_words {words!r} tokenizes to nothing")
    return list(ids)


def init_word_ids(tokenizer, config) -> list[int]:
    """The init words' ids of a prefix config; its `length`, if given, must be their count."""
    ids = word_ids(tokenizer, config.words)
    if config.length is not None and config.length != len(ids):
        raise PrefixBenchError(
            f"method_options.length is {config.length} but init_words {config.words!r} is {len(ids)} "
            "tokens; the prefix length must equal the token count (drop `length` or change the words)")
    return ids


@torch.no_grad()
def lm_kv(lm: nn.Module, ids: list[int]) -> torch.Tensor:
    """The frozen LM's K/V for `ids` at positions 0..L-1 -> [n_layer, 2, kv_heads, L, head_dim].

    These are the keys as stored in the cache, i.e. after RoPE for Llama-style models, so they are
    exactly what a prefix at positions 0..L-1 must hold (real tokens are then offset by L).
    """
    device = next(lm.parameters()).device
    x = torch.tensor([ids], device=device)
    was_training = lm.training
    lm.eval()
    kv = layer_kv(lm, torch.ones_like(x), input_ids=x)  # [n_layer, 2, 1, h, L, d]
    lm.train(was_training)
    return kv[:, :, 0]


def fit_prefix(encoder: nn.Module, target: torch.Tensor, steps: int, lr: float,
               fit_embedding: bool = False) -> float:
    """Fit `encoder()` ([n_layer, 2, h, L, d]) to `target` by MSE with Adam; return the final MSE.
    Only the MLP moves (the paper's code), unless `fit_embedding` (then its input embedding too)."""
    target = target.detach()
    if getattr(encoder, "table", None) is not None:  # a free table: set it exactly
        with torch.no_grad():
            encoder.table.copy_(target.permute(3, 0, 1, 2, 4).reshape(encoder.table.shape))
        return 0.0
    mlp = getattr(encoder, "mlp", None)
    fitted = encoder if fit_embedding or mlp is None else mlp
    params = [p for p in fitted.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = torch.nn.functional.mse_loss(encoder(), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return float(torch.nn.functional.mse_loss(encoder(), target))
