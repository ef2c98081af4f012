"""Parameter accounting on the paper's real model shapes, without weights (meta device).

The paper's size claims (Li & Liang 2021, sections 1 and 5.3, Table 2) are checked from the
configs alone: a model built under `torch.device("meta")` has every parameter's shape and no
storage, so GPT-2 medium / large and BART-large cost nothing to "build" offline.
  - prefix, L=5, GPT-2 medium: stored table 5 x 24 x 2 x 1024 = 245,760 ("0.1%")
  - FT-top2 on GPT-2 medium: 25.19M
  - BART-large, L=100, three sites: 7,372,800 stored = about 2% of the LM (paper: "2%" for XSum)
Command: `python -m prefix_bench.models.accounting` prints the table.
"""

from __future__ import annotations

import torch
from transformers import BartConfig, BartForConditionalGeneration, GPT2Config, GPT2LMHeadModel

#: shapes of the paper's models (the hub configs' values that matter for counting)
SHAPES: dict[str, dict] = {
    "gpt2-medium": dict(n_layer=24, n_embd=1024, n_head=16, vocab_size=50257, n_positions=1024),
    "gpt2-large": dict(n_layer=36, n_embd=1280, n_head=20, vocab_size=50257, n_positions=1024),
    "bart-large": dict(d_model=1024, encoder_layers=12, decoder_layers=12, encoder_attention_heads=16,
                       decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096,
                       vocab_size=50265, max_position_embeddings=1024),
}


def meta_lm(name: str):
    """The model `name` of SHAPES on the meta device (shapes only, no memory, no download)."""
    with torch.device("meta"):
        if name.startswith("bart"):
            return BartForConditionalGeneration(BartConfig.from_dict(SHAPES[name]))
        return GPT2LMHeadModel(GPT2Config.from_dict(SHAPES[name]))


def method_counts(method: str, model: str, options: dict | None = None) -> dict[str, float]:
    """parameter_counts() of `method` on `model`, plus stored / LM in percent."""
    from ..methods import build_method

    with torch.device("meta"):
        counts = build_method(method, meta_lm(model), options).parameter_counts()
    return {**counts, "stored_percent": 100.0 * counts["stored"] / counts["lm_total"]}


#: the rows of the paper's size claims: (method, model, options)
PAPER_ROWS = [
    ("prefix", "gpt2-medium", {"length": 5}),
    ("prefix", "gpt2-medium", {"length": 10}),
    ("prefix", "gpt2-large", {"length": 5}),
    ("finetune_top2", "gpt2-medium", {}),
    ("adapter", "gpt2-medium", {"bottleneck": 215}),
    ("adapter", "gpt2-medium", {"bottleneck": 6}),
    ("finetune", "gpt2-medium", {}),
    ("prefix_bart", "bart-large", {"length": 100, "mid_dim": 800}),
]


def main() -> None:
    for method, model, options in PAPER_ROWS:
        c = method_counts(method, model, options)
        print(f"{method:14s} {model:12s} {str(options):34s} trainable {c['trainable']:>12,} "
              f"stored {c['stored']:>12,} ({c['stored_percent']:.4f}% of {c['lm_total']:,})")


if __name__ == "__main__":
    main()
