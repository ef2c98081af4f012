"""Options of full fine-tuning (the paper's FT-full baseline, Table 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FinetuneConfig:
    #: token-mean loss, as the paper's fine-tuning runs used
    objective: Literal["sum", "mean"] = "mean"
    #: the LM's own dropout is active in training (standard fine-tuning)
    lm_dropout: bool = True
