"""`prefix-bench build-model`: write a built-in tiny model (config + tokenizer) to a directory.

The tokenizer is trained on the sources and targets of a prepared training JSONL, so the model
runs offline on CPU. Hub models need no build step.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from ..errors import PrefixBenchError
from .tiny import BUILTIN_MODELS, build_tiny


def run(args: argparse.Namespace) -> int:
    if args.name not in BUILTIN_MODELS:
        raise PrefixBenchError(f"unknown built-in model {args.name!r}; built-ins: {', '.join(BUILTIN_MODELS)}")
    path = Path(args.train_jsonl)
    if not path.is_file():
        raise PrefixBenchError(f"{path}: training data not found; run `prefix-bench prepare` first")
    texts = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                texts += [row["source"], row["target"]]
            except (json.JSONDecodeError, KeyError):
                raise PrefixBenchError(f"{path}:{n}: not a prepared JSONL row with source/target") from None
    out = Path(args.out)
    # Build in a temporary sibling and rename: the directory is either complete or absent.
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        build_tiny(args.name, texts, tmp, seed=args.seed)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"built {args.name} in {out}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "build-model",
        help="build a built-in tiny model (random weights, BPE tokenizer trained on the data)",
        description=__doc__,
    )
    p.add_argument("--name", default="tiny-gpt2", help=f"one of: {', '.join(BUILTIN_MODELS)}")
    p.add_argument("--train-jsonl", required=True, help="prepared training JSONL (tokenizer text)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    p.set_defaults(func=run)
