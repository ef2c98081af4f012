"""Training methods: one folder per method, one table that names them all (STYLE.md 2).

`build_method(name, lm, options)` is the only constructor the trainer and generator use.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..errors import PrefixBenchError
from ..options import from_dict
from .adapter.config import AdapterConfig
from .adapter.model import AdapterTuning
from .base import Method
from .finetune.config import FinetuneConfig
from .finetune.model import Finetune
from .finetune_top2.config import FinetuneTopConfig
from .finetune_top2.model import FinetuneTop
from .infix.config import InfixConfig
from .infix.model import InfixTuning
from .lora.config import LoraConfig
from .lora.model import LoraTuning
from .prefix.config import PrefixConfig
from .prefix.model import PrefixTuning
from .prefix_bart.config import PrefixBartConfig
from .prefix_bart.model import PrefixBart
from .prefix_emb.config import PrefixEmbConfig
from .prefix_emb.model import PrefixEmbedding


CAUSAL, SEQ2SEQ = ("causal",), ("seq2seq",)


@dataclass(frozen=True)
class MethodEntry:
    config_class: type
    method_class: type[Method]
    summary: str
    #: model families it can wrap: "causal" (GPT-2, Llama) and/or "seq2seq" (BART)
    families: tuple[str, ...] = CAUSAL


METHODS: dict[str, MethodEntry] = {
    "prefix": MethodEntry(PrefixConfig, PrefixTuning, "prefix-tuning (Li & Liang 2021)"),
    "finetune": MethodEntry(FinetuneConfig, Finetune, "full fine-tuning (FT-full)", CAUSAL + SEQ2SEQ),
    "finetune_top2": MethodEntry(FinetuneTopConfig, FinetuneTop, "top-2 blocks + final norm (FT-top2)"),
    "adapter": MethodEntry(AdapterConfig, AdapterTuning, "NLG adapters (Lin et al. 2020)"),
    "lora": MethodEntry(LoraConfig, LoraTuning, "LoRA via PEFT (Hu et al. 2022; extra baseline)"),
    "prefix_emb": MethodEntry(PrefixEmbConfig, PrefixEmbedding, "embedding-only ablation (EMB-k)"),
    "infix": MethodEntry(InfixConfig, InfixTuning, "infix ablation (INFIX-k)"),
    "prefix_bart": MethodEntry(PrefixBartConfig, PrefixBart, "prefix-tuning for BART (3 sites)", SEQ2SEQ),
}


def method_entry(name: str) -> MethodEntry:
    if name not in METHODS:
        raise PrefixBenchError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}")
    return METHODS[name]


def parse_method_options(name: str, options: dict | None, where: str = "method_options"):
    """Validate a method's options dict into its typed config."""
    return from_dict(method_entry(name).config_class, options, where)


def build_method(name: str, lm: nn.Module, options: dict | None = None) -> Method:
    """Wrap `lm` in method `name`, configured by `options` (validated, one-line errors)."""
    entry = method_entry(name)
    family = "seq2seq" if getattr(lm.config, "is_encoder_decoder", False) else "causal"
    if family not in entry.families:
        fitting = [n for n, e in METHODS.items() if family in e.families]
        raise PrefixBenchError(
            f"method {name!r} cannot wrap {type(lm).__name__} (a {family} model); methods for it: "
            f"{', '.join(fitting)}"
        )
    return entry.method_class(lm, parse_method_options(name, options))
