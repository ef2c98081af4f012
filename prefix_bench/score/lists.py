"""Score in-memory predictions/references through the same `score_task` the CLI uses.

The HF `evaluate` modules in `evaluate_modules/` call `score_lists`: it writes the lists as a
hypothesis file and a pipeline eval JSONL in a temporary folder and scores those, so a value from
`evaluate.load(<module dir>).compute(...)` can only differ from the CLI's if the inputs differ.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Sequence

from . import score_task


def score_lists(
    task: str,
    predictions: Sequence[str],
    references: Sequence[Sequence[str] | str],
    *,
    metas: Sequence[dict] | None = None,
    paper_protocol: bool = False,
    **options: Any,
) -> dict:
    """`score_task` on lists: one prediction and one list of references per scoring unit."""
    metas = metas or [{} for _ in references]
    with tempfile.TemporaryDirectory(prefix="prefix_bench_score_") as tmp:
        refs_path = Path(tmp) / "refs.eval.jsonl"
        hyps_path = Path(tmp) / "hyps.txt"
        with refs_path.open("w", encoding="utf-8") as f:
            for i, (refs, meta) in enumerate(zip(references, metas)):
                refs = [refs] if isinstance(refs, str) else list(refs)
                f.write(
                    json.dumps({"id": str(i + 1), "references": refs, "meta": meta})
                    + "\n"
                )
        # Newlines inside a prediction would break line alignment; the pipeline never writes them.
        hyps_path.write_text(
            "".join(p.replace("\n", " ") + "\n" for p in predictions), encoding="utf-8"
        )
        result = score_task(
            task, refs_path, hyps_path, paper_protocol=paper_protocol, **options
        )
    # Temporary paths mean nothing to the caller.
    result["settings"].pop("refs", None)
    result["settings"].pop("hyps", None)
    return result
