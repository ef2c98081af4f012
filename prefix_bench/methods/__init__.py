"""Training methods: one folder per method, one table that names them all (STYLE.md 2).

`build_method(name, lm, options)` is the only constructor the trainer and generator use.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..errors import PrefixBenchError
from ..options import from_dict
from .base import Method
from .finetune.config import FinetuneConfig
from .finetune.model import Finetune
from .prefix.config import PrefixConfig
from .prefix.model import PrefixTuning


@dataclass(frozen=True)
class MethodEntry:
    config_class: type
    method_class: type[Method]
    summary: str


METHODS: dict[str, MethodEntry] = {
    "prefix": MethodEntry(PrefixConfig, PrefixTuning, "prefix-tuning (Li & Liang 2021)"),
    "finetune": MethodEntry(FinetuneConfig, Finetune, "full fine-tuning (FT-full)"),
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
    return entry.method_class(lm, parse_method_options(name, options))
