"""Data stage: dataset adapters, preparation to the shared JSONL schema, low-data subsets.

    prefix-bench prepare --dataset e2e --source-dir DIR --out results/data/e2e

Public API: `get_adapter`, `prepare_dataset`, `read_jsonl`, `make_subset`. The adapters themselves
live with their tasks (`prefix_bench.tasks`).
"""

from .prepare import prepare_dataset
from .base import get_adapter
from .schema import read_jsonl
from .subsets import make_subset

__all__ = ["get_adapter", "make_subset", "prepare_dataset", "read_jsonl"]
