"""Options of the infix ablation INFIX-k (Li & Liang 2021, section 7.2, Table 5: INFIX-1/10/20).

The prefix options (length, MLP width, reparametrization, ...) describe the table added to the
LM's activations of the infix; two more name the separator and the infix input embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import PrefixBenchError
from ..prefix.config import PrefixConfig


@dataclass(frozen=True)
class InfixConfig(PrefixConfig):
    #: token id of the separator between source and target; None = the LM's eos_token_id
    #: (the paper's format ` {x} <|endoftext|> {y} <|endoftext|>`)
    separator_id: int | None = None
    #: std of the k trainable input embeddings the LM reads after the source (paper code:
    #: `nn.Embedding`'s default init, N(0, 1))
    embedding_init_std: float = 1.0

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.init == "words":
            raise PrefixBenchError(f"{where}.init: 'words' is not defined for INFIX-k (the paper's infix "
                                   "runs start random); use init: random")
        if self.embedding_init_std <= 0:
            raise PrefixBenchError(f"{where}.embedding_init_std: must be > 0, got {self.embedding_init_std}")
