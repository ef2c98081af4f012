"""Training methods: one folder per method, one table that names them all (STYLE.md 2).

`build_method(name, lm, options)` is the only constructor the trainer and generator use. The table
holds each method's options class (torch-free, so `prefix_bench.config`, read on every Snakemake
parse, validates options without importing torch) and where its model class lives, imported when
a method is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import PrefixBenchError
from ..options import from_dict
from .adapter.config import AdapterConfig
from .finetune.config import FinetuneConfig
from .finetune_top2.config import FinetuneTopConfig
from .infix.config import InfixConfig
from .lora.config import LoraConfig
from .prefix.config import PrefixConfig
from .prefix_bart.config import PrefixBartConfig
from .prefix_emb.config import PrefixEmbConfig

if TYPE_CHECKING:
    from torch import nn

    from .base import Method


CAUSAL, SEQ2SEQ = ("causal",), ("seq2seq",)


@dataclass(frozen=True)
class MethodEntry:
    config_class: type
    #: "module:Class" of the `Method` subclass, relative to this package
    model: str
    summary: str
    #: model families it can wrap: "causal" (GPT-2, Llama) and/or "seq2seq" (BART)
    families: tuple[str, ...] = CAUSAL

    @property
    def method_class(self) -> type[Method]:
        module, _, name = self.model.partition(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)


METHODS: dict[str, MethodEntry] = {
    "prefix": MethodEntry(PrefixConfig, "prefix.model:PrefixTuning", "prefix-tuning (Li & Liang 2021)"),
    "finetune": MethodEntry(FinetuneConfig, "finetune.model:Finetune", "full fine-tuning (FT-full)",
                            CAUSAL + SEQ2SEQ),
    "finetune_top2": MethodEntry(FinetuneTopConfig, "finetune_top2.model:FinetuneTop",
                                 "top-2 blocks + final norm (FT-top2)"),
    "adapter": MethodEntry(AdapterConfig, "adapter.model:AdapterTuning", "NLG adapters (Lin et al. 2020)"),
    "lora": MethodEntry(LoraConfig, "lora.model:LoraTuning", "LoRA via PEFT (Hu et al. 2022; extra baseline)"),
    "prefix_emb": MethodEntry(PrefixEmbConfig, "prefix_emb.model:PrefixEmbedding",
                              "embedding-only ablation (EMB-k)"),
    "infix": MethodEntry(InfixConfig, "infix.model:InfixTuning", "infix ablation (INFIX-k)"),
    "prefix_bart": MethodEntry(PrefixBartConfig, "prefix_bart.model:PrefixBart",
                               "prefix-tuning for BART (3 sites)", SEQ2SEQ),
}


def __getattr__(name: str):
    # `from prefix_bench.methods import Method` without importing torch at package import
    if name == "Method":
        from .base import Method

        return Method
    raise AttributeError(name)


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
