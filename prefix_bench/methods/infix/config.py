"""Options of the infix ablation INFIX-k (Li & Liang 2021, section 7.2, Table 5: INFIX-1/10/20).

Same options as prefix-tuning, plus the id that marks the source/target boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..prefix.config import PrefixConfig


@dataclass(frozen=True)
class InfixConfig(PrefixConfig):
    #: token id of the separator between source and target; None = the LM's eos_token_id
    #: (the paper's format ` {x} <|endoftext|> {y} <|endoftext|>`)
    separator_id: int | None = None
