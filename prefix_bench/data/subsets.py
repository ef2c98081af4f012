"""Low-data and data-efficiency subsets of a prepared dataset, saved to disk.

    prefix-bench prepare --dataset e2e --from-prepared results/data/e2e \
        --subset-size 50 --subset-seed 3 --out results/data/e2e_n50_s3

Paper protocol (section 6.3 and appendix): low-data sizes 50/100/200/500 training pairs, 5 sampled
subsets each, dev = 30% of the train size (sampled from the official dev pairs); data efficiency
trains on 10/20/40/60/80% of the E2E training pairs with the full dev set. Test files are copied
unchanged: low-data runs are scored on the full test set.

Selection is a pure function of (seed, pair id): pairs are ranked by sha256("<seed>:<id>") and the
first k are kept, in their original order. This does not depend on Python's RNG implementation
and a larger subset of the same seed does not reshuffle unrelated pairs.

A fixed test subset (`test_size`, not in the paper: for CPU-scale studies where decoding the
whole test set does not fit) keeps `test_size` scoring units ranked by sha256("test:<id>"): the
same units for every training subset and seed, in the official order, each with its metadata
(e.g. WebNLG's seen/unseen category), so the scorer's subsets still work.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from ..atomic import atomic_path, write_json, write_jsonl
from ..errors import PrefixBenchError
from .download import sha256_file
from .schema import read_jsonl

#: dev size as a share of the training subset (paper section 6.3: "30% of the training size");
#: the sizes, seeds and fractions of the paper's grids live in config/config.yaml (derive_grid)
DEV_RATIO = 0.3


def select(rows: list[dict], k: int, seed: int | str) -> list[dict]:
    """The k rows ranked first by sha256(f"{seed}:{id}"), kept in input order."""
    if k > len(rows):
        raise PrefixBenchError(f"subset of {k} requested but only {len(rows)} pairs exist")
    rank = sorted(range(len(rows)), key=lambda i: hashlib.sha256(
        f"{seed}:{rows[i]['id']}".encode()).hexdigest())
    keep = sorted(rank[:k])
    return [rows[i] for i in keep]


def select_test_units(units: list[dict], k: int) -> list[dict]:
    """The fixed test subset: k units ranked first by sha256(f"test:{id}"), in official order."""
    return select(units, k, "test")


def make_subset(prepared_dir: Path, out_dir: Path, size: int | None = None,
                fraction: float | None = None, seed: int = 0, test_size: int | None = None) -> dict:
    """Write a subset of `prepared_dir` (a `prepare` output) to `out_dir`; return its manifest.

    Exactly one of `size` (low-data: train pairs, dev = round(0.3 * size) pairs) or `fraction`
    (data efficiency: round(fraction * train pairs), full dev) must be given; `test_size` also
    cuts the test scoring units to a fixed subset (the same for every seed).
    """
    prepared_dir, out_dir = Path(prepared_dir), Path(out_dir)
    if (size is None) == (fraction is None):
        raise PrefixBenchError("give exactly one of --subset-size or --fraction")
    if size is not None and size <= 0:
        raise PrefixBenchError(f"--subset-size must be positive, got {size}")
    if fraction is not None and not 0 < fraction <= 1:
        raise PrefixBenchError(f"--fraction must be in (0, 1], got {fraction}")
    if test_size is not None and test_size <= 0:
        raise PrefixBenchError(f"--test-size must be positive, got {test_size}")
    manifest_path = prepared_dir / "manifest.json"
    if not manifest_path.is_file():
        raise PrefixBenchError(f"{manifest_path} not found; run `prefix-bench prepare` first")
    parent = json.loads(manifest_path.read_text(encoding="utf-8"))
    if "train" not in parent["splits"]:
        raise PrefixBenchError(f"{prepared_dir} has no train split to subset")

    train = read_jsonl(prepared_dir / "train.jsonl")
    k = size if size is not None else max(1, round(fraction * len(train)))
    chosen = {"train": select(train, k, seed)}
    if size is not None and "dev" in parent["splits"]:
        chosen["dev"] = select(read_jsonl(prepared_dir / "dev.jsonl"), round(DEV_RATIO * size),
                               seed)

    # the fixed test subset, selected once (same units for every seed)
    kept_test = None
    if test_size is not None and (prepared_dir / "test.eval.jsonl").is_file():
        kept_test = select_test_units(read_jsonl(prepared_dir / "test.eval.jsonl"), test_size)

    counts, outputs = dict(parent["counts"]), {}
    for split in parent["splits"]:
        for name in (f"{split}.jsonl", f"{split}.eval.jsonl"):
            if not (prepared_dir / name).is_file():
                continue
            if split == "test" and kept_test is not None:
                if name == "test.eval.jsonl":
                    write_jsonl(out_dir / name, kept_test)
                else:  # test pairs of the kept units (pair ids are "<unit id>#<k>")
                    ids = {u["id"] for u in kept_test}
                    write_jsonl(out_dir / name, [r for r in read_jsonl(prepared_dir / name)
                                                 if r["id"].rsplit("#", 1)[0] in ids])
            elif split in chosen and name == f"{split}.jsonl":
                write_jsonl(out_dir / name, chosen[split])
            elif split in chosen:  # eval units of the sampled dev pairs, official order
                ids = {row["id"].rsplit("#", 1)[0] for row in chosen[split]}
                write_jsonl(out_dir / name, [u for u in read_jsonl(prepared_dir / name)
                                             if u["id"] in ids])
            else:
                with atomic_path(out_dir / name) as tmp:
                    shutil.copyfile(prepared_dir / name, tmp)
            outputs[name] = sha256_file(out_dir / name)
        if split == "test" and kept_test is not None:
            counts[split] = dict(counts.get(split, {}), units=len(kept_test),
                                 refs=sum(len(u["references"]) for u in kept_test))
            if (out_dir / "test.jsonl").is_file():
                counts[split]["pairs"] = len(read_jsonl(out_dir / "test.jsonl"))
        if split in chosen:
            units = {row["id"].rsplit("#", 1)[0] for row in chosen[split]}
            counts[split] = {"pairs": len(chosen[split]), "units": len(units),
                             "refs": sum(len(r["references"]) for r in
                                         {r["id"].rsplit("#", 1)[0]: r
                                          for r in chosen[split]}.values())}
    manifest = dict(parent, counts=counts, outputs=outputs, subset={
        "size": size, "fraction": fraction, "seed": seed, "train_pairs": len(chosen["train"]),
        "test_size": test_size,
        "dev_pairs": len(chosen["dev"]) if "dev" in chosen else None,
        "method": "sha256(seed:id) ranking", "parent": str(prepared_dir),
        "parent_manifest_sha256": sha256_file(manifest_path),
    })
    write_json(out_dir / "manifest.json", manifest)
    return manifest
