"""FT-top2: fine-tune only the top transformer blocks and the final norm (paper Table 2).

Everything below the top `top_blocks` blocks, the embeddings and the (tied) LM head stay frozen.
With tied input/output embeddings (GPT-2) the head is the frozen token embedding, as in the paper.
"""

from __future__ import annotations

from torch import nn

from ...errors import PrefixBenchError
from ..base import Method
from ..blocks import final_norm, transformer_blocks
from .config import FinetuneTopConfig


class FinetuneTop(Method):
    name = "finetune_top2"
    exports = ("hf",)  # the LM's own weights trained: a plain Hugging Face model

    def __init__(self, lm: nn.Module, config: FinetuneTopConfig) -> None:
        super().__init__(lm, config)
        self.objective = config.objective
        blocks = transformer_blocks(lm)
        if config.top_blocks > len(blocks):
            raise PrefixBenchError(
                f"method_options.top_blocks: {config.top_blocks} > the model's {len(blocks)} blocks"
            )
        lm.requires_grad_(False)
        for block in blocks[len(blocks) - config.top_blocks:]:
            block.requires_grad_(True)
        if config.final_norm:
            final_norm(lm).requires_grad_(True)

