"""Export stage: a trained run in another library's format, for use outside this pipeline.

    prefix-bench export --to peft --run-dir results/runs/EXP/RUN --out exported/RUN-peft
    prefix-bench export --to hf   --run-dir results/runs/EXP/RUN --out exported/RUN-model

- `peft` (prefix, lora): a PEFT adapter directory; `PeftModel.from_pretrained(base, OUT)` over
  the run's base model gives the same logits (tests/test_export.py). Prefix-tuning: PEFT applies
  the prefix through the cache, so decode with its forward or `generate(use_cache=False)`; its
  cached `generate` does not decode with the prefix (README: Using a trained run elsewhere).
- `hf` (finetune, finetune_top2): a plain Hugging Face model directory with the tokenizer.

Inputs are formatted as in training: ` {source} <|endoftext|>` for decoder-only models (runs with
`cue_words` put the cue in front of the source). The directory is written whole or not at all,
with `export.json` naming the run it came from.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .atomic import atomic_dir, write_json
from .errors import PrefixBenchError
from .provenance import code_version, sha256_file

FORMATS = ("peft", "hf")


def export_run(run_dir: Path, to: str, out: Path) -> dict:
    """Write run `run_dir` to `out` in format `to`; return what `export.json` records."""
    from .generate import load_run

    if to not in FORMATS:
        raise PrefixBenchError(f"--to {to!r}: choose one of {', '.join(FORMATS)}")
    if out.exists():
        raise PrefixBenchError(f"{out}: already exists; remove it or choose another --out")
    spec, method, tokenizer, _ = load_run(run_dir)
    info = {"run_dir": str(run_dir), "format": to, "method": spec.method, "base_model": spec.model_path,
            "config_hash": spec.config_hash(), "trained_sha256": sha256_file(run_dir / "trained.safetensors"),
            "prompt": " {source} <|endoftext|>" if not getattr(method.lm.config, "is_encoder_decoder", False)
            else "source as the encoder input", "code": code_version()}
    with atomic_dir(out) as staged:
        method.export(staged, to, spec.model_path, tokenizer)
        write_json(staged / "export.json", info)
    return info


def run(args: argparse.Namespace) -> int:
    info = export_run(Path(args.run_dir), args.to, Path(args.out))
    print(json.dumps({"out": args.out, "format": info["format"], "method": info["method"]}))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a trained run as a PEFT adapter or a plain HF model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--to", required=True, choices=FORMATS, help="peft: prefix, lora; hf: finetune, finetune_top2")
    p.add_argument("--run-dir", required=True, help="trained run directory (run.json, trained.safetensors)")
    p.add_argument("--out", required=True, help="output directory (must not exist)")
    p.set_defaults(func=run)
