"""The one interface every dataset adapter implements.

An adapter knows (1) which source files each split needs and where to download them, (2) how to
read a split from a source directory into `Entry` objects in official order with the paper's
linearization, and (3) which options it accepts. Everything else (download/caching, writing JSONL,
manifests, subsets) is shared code that never branches on the dataset name.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

from ..errors import PrefixBenchError
from .download import SourceFile
from .schema import Entry

SPLITS = ("train", "dev", "test")


def get_adapter(name: str) -> "DatasetAdapter":
    """The adapter of task `name` (`prefix_bench.tasks.TASKS`); an unknown name lists the valid ones."""
    from ..tasks import get_task  # the task modules import this one

    return get_task(name).adapter()


class DatasetAdapter(abc.ABC):
    """Base class: subclasses set the class attributes and implement `files` and `load`."""

    name: ClassVar[str]
    VERSION: ClassVar[int]
    # Option name -> default value; the default's type is the option's type (None: int or None).
    OPTIONS: ClassVar[dict[str, Any]] = {}
    # Allowed values for options that are choices.
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {}

    @abc.abstractmethod
    def files(self, split: str) -> list[SourceFile]:
        """The source files `split` needs (relative paths + download locations)."""

    @abc.abstractmethod
    def load(self, split: str, source_dir: Path, options: dict[str, Any]) -> list[Entry]:
        """Read `split` from `source_dir`; entries in official order, sources linearized."""

    def root(self, source_dir: Path) -> Path:
        """The folder inside `source_dir` that holds the files (adapters may accept a parent)."""
        return source_dir

    def local_paths(self, split: str, source_dir: Path) -> list[Path]:
        """The files `load` will read from a local source dir (to check and checksum them).

        Adapters that accept alternative layouts override this and pick what is present.
        """
        return [self.root(source_dir) / spec.path for spec in self.files(split)]

    def resolve_options(self, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with `given`; unknown keys, wrong types and bad choices fail."""
        unknown = sorted(set(given) - set(self.OPTIONS))
        if unknown:
            valid = ", ".join(sorted(self.OPTIONS)) or "none"
            raise PrefixBenchError(f"dataset {self.name!r} has no option {unknown[0]!r} "
                                   f"(valid: {valid})")
        options = dict(self.OPTIONS)
        for key, value in given.items():
            default = self.OPTIONS[key]
            if default is None:
                ok = value is None or (isinstance(value, int) and not isinstance(value, bool)
                                       and value > 0)
                kind = "a positive int or None"
            else:
                ok = type(value) is type(default)
                kind = type(default).__name__
            if not ok:
                raise PrefixBenchError(f"option {key!r} of dataset {self.name!r} must be {kind}, "
                                       f"got {value!r}")
            if key in self.CHOICES and value not in self.CHOICES[key]:
                raise PrefixBenchError(f"option {key!r} of dataset {self.name!r} must be one of "
                                       f"{', '.join(self.CHOICES[key])}, got {value!r}")
            options[key] = value
        return options

    def parse_options(self, pairs: list[str]) -> dict[str, Any]:
        """`key=value` strings from the command line (`--option`) as typed option values."""
        options: dict[str, Any] = {}
        for pair in pairs:
            key, sep, text = pair.partition("=")
            if not sep or key not in self.OPTIONS:
                valid = ", ".join(sorted(self.OPTIONS)) or "none"
                raise PrefixBenchError(f"--option {pair!r}: need key=value with a key of dataset "
                                       f"{self.name!r} (valid: {valid})")
            default = self.OPTIONS[key]
            if default is None or isinstance(default, int):
                try:
                    options[key] = int(text)
                except ValueError:
                    raise PrefixBenchError(f"--option {pair!r}: {key} must be an integer") from None
            else:
                options[key] = text
        return options
