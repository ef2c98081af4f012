"""Options of LoRA (Hu et al. 2022), an extra modern baseline not in Li & Liang 2021.

Built with PEFT's LoRA layers injected in place (`peft.inject_adapter_in_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import PrefixBenchError


@dataclass(frozen=True)
class LoraConfig:
    #: rank r of the update B @ A
    r: int = 8
    #: scaling alpha (the update is multiplied by alpha / r)
    alpha: float = 16.0
    #: dropout on the LoRA input while training
    dropout: float = 0.0
    #: module names to adapt; empty = PEFT's default for the model type (GPT-2: c_attn;
    #: Llama: q_proj, v_proj)
    target_modules: tuple[str, ...] = ()
    #: token-mean loss, like fine-tuning
    objective: Literal["sum", "mean"] = "mean"
    #: the frozen LM's dropout stays active in training
    lm_dropout: bool = True

    def validate(self, where: str) -> None:
        if self.r < 1:
            raise PrefixBenchError(f"{where}.r: must be >= 1, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise PrefixBenchError(f"{where}.dropout: must be in [0, 1), got {self.dropout}")
