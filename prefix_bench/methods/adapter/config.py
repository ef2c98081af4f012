"""Options of the NLG adapter baseline (Lin et al. 2020, as compared in Li & Liang 2021, Table 2).

Widths for the paper's two sizes on GPT-2 medium (354,823,168 LM parameters, 24 blocks, d=1024;
one adapter = LayerNorm 2d + down d*b + b + up b*d + d):
  ADAPTER(3%):   bottleneck 215 -> 10,646,568 parameters = 3.0005% of the LM
  ADAPTER(0.1%): bottleneck 6   ->    368,784 parameters = 0.1039% of the LM (5 gives 0.0901%)
tests/test_methods_accounting.py recomputes both from GPT-2 medium's config on the meta device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import PrefixBenchError

#: bottleneck widths reproducing the paper's adapter sizes on GPT-2 medium (see module docstring)
ADAPTER_PRESETS: dict[str, int] = {"3%": 215, "0.1%": 6}


@dataclass(frozen=True)
class AdapterConfig:
    #: bottleneck width b of every adapter (paper sizes: 215 = 3%, 6 = 0.1% of GPT-2 medium)
    bottleneck: int = ADAPTER_PRESETS["3%"]
    #: dropout inside the adapter (after the nonlinearity) while training
    dropout: float = 0.0
    #: the up projection's initial weights: "normal" = N(0, 0.02) as the paper's code draws them;
    #: "zeros" = the model starts exactly as the LM (a common adapter choice). Bias: zero either way
    up_init: Literal["normal", "zeros"] = "normal"
    #: paper's fine-tuning-style runs use the token mean
    objective: Literal["sum", "mean"] = "mean"
    #: the frozen LM's dropout stays active in training (adapters are trained like fine-tuning)
    lm_dropout: bool = True

    def validate(self, where: str) -> None:
        if self.bottleneck < 1:
            raise PrefixBenchError(f"{where}.bottleneck: must be >= 1, got {self.bottleneck}")
        if not 0.0 <= self.dropout < 1.0:
            raise PrefixBenchError(f"{where}.dropout: must be in [0, 1), got {self.dropout}")
