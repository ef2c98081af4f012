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
    #: words put in front of every source (a preset name of prefix's init words, e.g.
    #: "table-to-text", or the words themselves): the paper's low-data runs give fine-tuning the
    #: cue the prefix is initialised from, so both methods see it. "" = the source as it is
    cue_words: str = ""

    @property
    def cue(self) -> str:
        from ..prefix.config import INIT_WORD_PRESETS

        return INIT_WORD_PRESETS.get(self.cue_words, self.cue_words).strip()
