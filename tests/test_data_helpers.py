"""Shared paths for the data-stage tests (no tests here; imported by tests/test_data_*.py)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# CI clones the repo elsewhere with shared/ beside it.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLES = REPO / "tests" / "data" / "datasets"
DEMO_E2E = REPO / "prefix_bench" / "resources" / "demo" / "e2e"


def shared(sub: str) -> Path:
    """Path under shared/data, or skip the test when the shared data is absent."""
    path = SHARED / sub
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (clone shared/ beside the repo)")
    return path
