"""Options of prefix-tuning for BART (Li & Liang 2021, section 4.2 and Table 6; XSum settings).

Paper XSum: prefix length 100, MLP width 800, three independent prefixes (encoder self-attention,
decoder self-attention, cross-attention), decoder positions not offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import PrefixBenchError


@dataclass(frozen=True)
class PrefixBartConfig:
    #: virtual tokens per site (paper Table 6, XSum: 100)
    length: int = 100
    #: hidden width of each site's reparametrization MLP (paper XSum: 800)
    mid_dim: int = 800
    #: Embedding -> Linear -> Tanh -> Linear per site (paper section 4.3); False: free tables
    reparametrize: bool = True
    #: dropout on the prefix key/values while training
    dropout: float = 0.0
    #: per-sequence sum of token losses (paper code for prefix runs)
    objective: Literal["sum", "mean"] = "sum"
    #: keep the frozen LM's dropout active in training (paper code: off)
    lm_dropout: bool = False

    def validate(self, where: str) -> None:
        if self.length < 1 or self.mid_dim < 1:
            raise PrefixBenchError(f"{where}: length and mid_dim must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise PrefixBenchError(f"{where}.dropout: must be in [0, 1), got {self.dropout}")
