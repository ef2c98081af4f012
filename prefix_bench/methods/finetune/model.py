"""Full fine-tuning: every LM parameter trains (paper Table 2, "FT-full")."""

from __future__ import annotations

from torch import nn

from ..base import Method
from .config import FinetuneConfig


class Finetune(Method):
    name = "finetune"
    exports = ("hf",)  # the LM's own weights trained: a plain Hugging Face model

    def __init__(self, lm: nn.Module, config: FinetuneConfig) -> None:
        super().__init__(lm, config)
        self.objective = config.objective
        lm.requires_grad_(True)

    def format_source(self, source: str) -> str:
        return f"{self.config.cue} {source}" if self.config.cue else source
