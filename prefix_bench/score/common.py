"""Pieces every task scorer shares: reference streams for sacrebleu and library versions."""

from __future__ import annotations

import functools
from importlib import metadata


def ref_streams(
    refs: list[list[str]], n: int | None = None, pad: str | None = None
) -> list[list]:
    """Transpose per-unit reference lists into `n` aligned streams, padding missing slots.

    `pad=None` lets sacrebleu skip the slot; `pad=""` keeps an empty reference, as an empty
    line in multi-bleu.perl's reference files does (it then counts for the closest length).
    """
    n = n if n is not None else max(len(r) for r in refs)
    return [[unit[i] if i < len(unit) else pad for unit in refs] for i in range(n)]


@functools.lru_cache(maxsize=None)
def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions(*, java: bool) -> dict[str, str]:
    """Versions of the scoring libraries (and of Java when the task used it)."""
    out = {
        name: package_version(name)
        for name in ("sacrebleu", "pycocoevalcap", "rouge-score")
    }
    if java:
        from .java import java_version

        out["java"] = java_version()
    return out
