"""Options of prefix-tuning (Li & Liang 2021, section 4). Defaults = the paper's code for GPT-2.

Each field is recorded in the run's `run.json`; every deviation from the paper is one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import PrefixBenchError


@dataclass(frozen=True)
class PrefixConfig:
    #: number of virtual tokens L (paper Table 6: E2E 5, WebNLG 5, DART 10, XSum 100)
    length: int = 5
    #: hidden width of the reparametrization MLP (paper: 512 table-to-text, 800 XSum)
    mid_dim: int = 512
    #: True: Embedding(L, d) -> Linear -> Tanh -> Linear (paper section 4.3); False: a free table
    reparametrize: bool = True
    #: dropout on the prefix key/values while training (paper code: 0.0)
    dropout: float = 0.0
    #: per-sequence sum of token losses averaged over the batch (paper code) or the token mean
    objective: Literal["sum", "mean"] = "sum"
    #: keep the frozen LM's dropout active during training (paper code: off, LM in eval mode)
    lm_dropout: bool = False
    #: real tokens start at position L, in training and decoding (paper code: on)
    position_offset: bool = True

    def validate(self, where: str) -> None:
        if self.length < 1:
            raise PrefixBenchError(f"{where}.length: must be >= 1, got {self.length}")
        if self.mid_dim < 1:
            raise PrefixBenchError(f"{where}.mid_dim: must be >= 1, got {self.mid_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise PrefixBenchError(f"{where}.dropout: must be in [0, 1), got {self.dropout}")
