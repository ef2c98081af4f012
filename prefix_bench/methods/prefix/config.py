"""Options of prefix-tuning (Li & Liang 2021, section 4). Defaults = the paper's code for GPT-2.

Each field is recorded in the run's `run.json`; every deviation from the paper is one of these.
Initialisation (paper section 7.4, Figure 5): "random" (PyTorch defaults) or "words" (the MLP is
first fitted to the frozen LM's own K/V of `init_words`; the prefix length is their token count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import PrefixBenchError

#: default prefix length when neither `length` nor init words fix it (paper Table 6: E2E/WebNLG 5)
DEFAULT_LENGTH = 5

#: named real-word initialisations (paper section 7.4 / Figure 5). Task words and unrelated words.
INIT_WORD_PRESETS: dict[str, str] = {
    "table-to-text": "table-to-text:",  # 6 BPE tokens on GPT-2
    "summarize": "summarize",  # 1 BPE token on GPT-2
    "elephant": "elephant",
    "banana": "banana",
    "divide": "divide",
    "keep": "keep",
    "active": "active",
    "beautiful": "beautiful",
}


@dataclass(frozen=True)
class PrefixConfig:
    #: number of virtual tokens L (paper Table 6: E2E 5, WebNLG 5, DART 10, XSum 100).
    #: None: 5, or the token count of `init_words` when init is "words".
    length: int | None = None
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
    #: "random": PyTorch defaults; "words": fit to the LM's K/V of `init_words` (section 7.4)
    init: Literal["random", "words"] = "random"
    #: the words (tokenized with a leading space), or a key of INIT_WORD_PRESETS
    init_words: str = ""
    #: Adam steps and learning rate of the words fit (paper code: 500, 1e-4)
    init_steps: int = 500
    init_lr: float = 1e-4
    #: real-word init fits only the reparametrization MLP to the words' K/V, as the paper's code
    #: does; true also moves the prefix embedding it reads
    init_fit_embedding: bool = False

    def validate(self, where: str) -> None:
        if self.length is not None and self.length < 1:
            raise PrefixBenchError(f"{where}.length: must be >= 1, got {self.length}")
        if self.mid_dim < 1:
            raise PrefixBenchError(f"{where}.mid_dim: must be >= 1, got {self.mid_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise PrefixBenchError(f"{where}.dropout: must be in [0, 1), got {self.dropout}")
        validate_word_init(self, where)

    @property
    def words(self) -> str:
        """The init words with presets resolved."""
        return INIT_WORD_PRESETS.get(self.init_words, self.init_words)


def validate_word_init(config, where: str) -> None:
    """The init options every prefix config shares (init, init_words, init_steps, init_lr)."""
    if config.init == "words" and not config.init_words.strip():
        raise PrefixBenchError(f"{where}.init_words: required when init is 'words'")
    if config.init == "random" and config.init_words:
        raise PrefixBenchError(f"{where}.init_words: only used with init: words")
    if config.init_steps < 0 or config.init_lr <= 0:
        raise PrefixBenchError(f"{where}.init_steps/init_lr: need steps >= 0 and lr > 0")
