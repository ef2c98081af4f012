"""Data stage: dataset adapters, preparation to the shared JSONL schema, low-data subsets.

    prefix-bench prepare --dataset e2e --source-dir DIR --out results/data/e2e

Public API: `DATASETS`, `prepare_dataset`, `read_jsonl`, `make_subset`.
"""

from .prepare import prepare_dataset
from .registry import DATASETS, get_adapter
from .schema import read_jsonl
from .subsets import make_subset

__all__ = ["DATASETS", "get_adapter", "make_subset", "prepare_dataset", "read_jsonl"]
