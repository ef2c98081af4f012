"""Options of prefix-tuning for BART (Li & Liang 2021, section 4.2 and Table 6; XSum settings).

Paper XSum: prefix length 100, MLP width 800, three independent prefixes (encoder self-attention,
decoder self-attention, cross-attention), decoder positions not offset. Real-word initialisation
(section 7.4; the low-data runs start from "summarize") fits each site to BART's own K/V of the
words, and the length becomes their token count, as for GPT-2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import PrefixBenchError
from ..prefix.config import INIT_WORD_PRESETS, validate_word_init

#: prefix length when neither `length` nor init words fix it (paper Table 6, XSum: 100)
DEFAULT_BART_LENGTH = 100


@dataclass(frozen=True)
class PrefixBartConfig:
    #: virtual tokens per site (paper Table 6, XSum: 100). None: 100, or the token count of
    #: `init_words` when init is "words"
    length: int | None = None
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
    #: "random": PyTorch defaults; "words": each site fitted to BART's K/V of `init_words`
    init: Literal["random", "words"] = "random"
    #: the words (tokenized with a leading space), or a key of the GPT-2 presets ("summarize", ...)
    init_words: str = ""
    #: Adam steps and learning rate of the words fit (paper code: 500, 1e-4)
    init_steps: int = 500
    init_lr: float = 1e-4
    #: the fit moves only each site's MLP (paper code); true also moves the embedding it reads
    init_fit_embedding: bool = False

    def validate(self, where: str) -> None:
        if (self.length is not None and self.length < 1) or self.mid_dim < 1:
            raise PrefixBenchError(f"{where}: length and mid_dim must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise PrefixBenchError(f"{where}.dropout: must be in [0, 1), got {self.dropout}")
        validate_word_init(self, where)

    @property
    def words(self) -> str:
        """The init words with presets resolved."""
        return INIT_WORD_PRESETS.get(self.init_words, self.init_words)
