"""Options of FT-top2 (paper section 5.3 / Table 2: "fine-tunes only the top 2 layers").

The paper's FT-top2 trains the top two transformer blocks plus the final layer norm:
25.19M parameters on GPT-2 medium (tests/test_methods_accounting.py checks the count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import PrefixBenchError


@dataclass(frozen=True)
class FinetuneTopConfig:
    #: number of top transformer blocks that train (paper: 2)
    top_blocks: int = 2
    #: the final layer norm trains too (paper count 25.19M includes it)
    final_norm: bool = True
    #: token-mean loss, as the paper's fine-tuning runs used
    objective: Literal["sum", "mean"] = "mean"
    #: the LM's own dropout is active in training (standard fine-tuning)
    lm_dropout: bool = True

    def validate(self, where: str) -> None:
        if self.top_blocks < 1:
            raise PrefixBenchError(f"{where}.top_blocks: must be >= 1, got {self.top_blocks}")
