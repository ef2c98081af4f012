"""The table of dataset adapters: one explicit dict, no discovery."""

from __future__ import annotations

from ..errors import PrefixBenchError
from .base import DatasetAdapter
from .dart import DartAdapter
from .e2e import E2EAdapter
from .webnlg import WebNLGAdapter
from .xsum import XSumAdapter

DATASETS: dict[str, type[DatasetAdapter]] = {
    "e2e": E2EAdapter,
    "webnlg": WebNLGAdapter,
    "dart": DartAdapter,
    "xsum": XSumAdapter,
}


def get_adapter(name: str) -> DatasetAdapter:
    """The adapter for `name`; an unknown name fails listing the valid ones."""
    try:
        return DATASETS[name]()
    except KeyError:
        raise PrefixBenchError(f"unknown dataset {name!r} (valid: {', '.join(DATASETS)})") from None
