"""Full fine-tuning: every LM parameter trains (paper Table 2, "FT-full")."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..base import Method, save_hf_model
from .config import FinetuneConfig


class Finetune(Method):
    name = "finetune"
    exports = ("hf",)

    def export(self, out_dir: Path, to: str, base_model: str, tokenizer) -> None:
        if to not in self.exports:
            return super().export(out_dir, to, base_model, tokenizer)
        save_hf_model(self.lm, tokenizer, out_dir)

    def __init__(self, lm: nn.Module, config: FinetuneConfig) -> None:
        super().__init__(lm, config)
        self.objective = config.objective
        lm.requires_grad_(True)

    def format_source(self, source: str) -> str:
        return f"{self.config.cue} {source}" if self.config.cue else source
