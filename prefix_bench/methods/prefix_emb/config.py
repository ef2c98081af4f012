"""Options of the embedding-only ablation EMB-k (Li & Liang 2021, section 7.2, Table 5: EMB-1/10/20).

Only k virtual-token input embeddings are free; the frozen LM computes their activations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import PrefixBenchError
from ..prefix.config import INIT_WORD_PRESETS


@dataclass(frozen=True)
class PrefixEmbConfig:
    #: number of virtual tokens k (paper Table 5: 1, 10, 20); None: 5 or the init words' token count
    length: int | None = None
    #: per-sequence sum of token losses (the paper's prefix runs)
    objective: Literal["sum", "mean"] = "sum"
    #: the frozen LM never drops out (paper code)
    lm_dropout: bool = False
    #: real tokens start at position k, as if the virtual tokens were text
    position_offset: bool = True
    #: "mlp": the k embeddings come out of Embedding(k, d) -> Linear(d, mid) -> Tanh -> Linear(mid, d),
    #: as the paper's code runs EMB-k by default (parametrize_emb='MLP'); "none": k free embeddings
    parametrize: Literal["mlp", "none"] = "mlp"
    #: hidden width of that MLP
    mid_dim: int = 512
    #: "random": N(0, 0.02) like GPT-2's token embeddings; "words": the words' own token embeddings
    #: (needs parametrize: none: they are set exactly)
    init: Literal["random", "words"] = "random"
    #: words (with a leading space) or a key of prefix.config.INIT_WORD_PRESETS
    init_words: str = ""

    def validate(self, where: str) -> None:
        if self.length is not None and self.length < 1:
            raise PrefixBenchError(f"{where}.length: must be >= 1, got {self.length}")
        if (self.init == "words") != bool(self.init_words.strip()):
            raise PrefixBenchError(f"{where}.init_words: required with init 'words', only allowed then")
        if self.init == "words" and self.parametrize != "none":
            raise PrefixBenchError(f"{where}: init 'words' sets the k embeddings exactly; it needs parametrize: none")
        if self.mid_dim < 1:
            raise PrefixBenchError(f"{where}.mid_dim: must be >= 1, got {self.mid_dim}")

    @property
    def words(self) -> str:
        return INIT_WORD_PRESETS.get(self.init_words, self.init_words)
