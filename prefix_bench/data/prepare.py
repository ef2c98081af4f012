"""Prepare one dataset: sources -> `<out>/<split>.jsonl`, `<split>.eval.jsonl`, `manifest.json`.

    prefix-bench prepare --dataset e2e --source-dir /path/to/e2e-dataset --splits dev,test

Sources come from a local directory (offline mode, `--source-dir`) or are downloaded into a cache
and verified (see download.py). The manifest records the adapter VERSION, the resolved options,
per-split counts and the sha256 of every source file read and every file written, so later stages
read settings from it rather than from directory names.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..atomic import write_json, write_jsonl
from ..errors import PrefixBenchError
from .base import SPLITS, DatasetAdapter, get_adapter
from .download import ensure_files, sha256_file
from .schema import Entry, pair_rows, unit_rows

log = logging.getLogger(__name__)

EVAL_SPLITS = ("dev", "test")  # splits that also get a `<split>.eval.jsonl`
ALL_SPLITS = ("train", "dev", "test")


def default_cache_dir() -> Path:
    """`$PREFIX_BENCH_CACHE` or `~/.cache/prefix_bench` (downloads only, never outputs)."""
    return Path(os.environ.get("PREFIX_BENCH_CACHE", Path.home() / ".cache" / "prefix_bench"))


def _check_splits(splits: list[str] | None) -> list[str]:
    splits = list(SPLITS) if splits is None else splits
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise PrefixBenchError(f"unknown split {bad[0] if bad else '(none)'!r} "
                               f"(valid: {', '.join(SPLITS)})")
    return splits


def _local_sources(adapter: DatasetAdapter, source_dir: Path, splits: list[str]) -> dict:
    """Check a local source dir holds every needed file; return {split: [paths]}."""
    if not source_dir.is_dir():
        raise PrefixBenchError(f"--source-dir {source_dir} is not a directory")
    found = {}
    for split in splits:
        paths = adapter.local_paths(split, source_dir)
        for path in paths:
            if not path.is_file():
                present = [s for s in splits if s != split]
                hint = (f"; to prepare only the splits that are there use --splits "
                        f"{','.join(present)}" if present else "")
                raise PrefixBenchError(f"{adapter.name} {split} split: {path} not found in "
                                       f"--source-dir {source_dir}{hint}")
        found[split] = paths
    return found


#: the bundled demo sample's own checksums: a sample is not the official bytes, but it is known
BUNDLED_SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "demo" / "e2e" / "SHA256SUMS"


def bundled_sample_checksums() -> set[str]:
    lines = BUNDLED_SAMPLES.read_text(encoding="utf-8").splitlines() if BUNDLED_SAMPLES.is_file() else []
    return {line.split()[0] for line in lines if line.strip()}


def load_splits(name: str, source_dir: Path | None = None, splits: list[str] | None = None,
                cache_dir: Path | None = None, allow_unpinned: bool = False, **options: Any
                ) -> tuple[DatasetAdapter, dict[str, Any], dict[str, list[Entry]], dict]:
    """Read the requested splits into entries; also return resolved options and source info.

    A file whose sha256 differs from the pinned one (a truncated, altered or other-version copy)
    is refused unless `allow_unpinned` (then recorded as such); the bundled demo sample is known
    by its own checksums."""
    adapter = get_adapter(name)
    splits = _check_splits(splits)
    resolved = adapter.resolve_options(options)
    if source_dir is None:
        cache = Path(cache_dir or default_cache_dir()) / name
        ensure_files([f for s in splits for f in adapter.files(s)], cache)
        root, mode = cache, "download"
        paths = {s: [cache / f.path for f in adapter.files(s)] for s in splits}
    else:
        paths = _local_sources(adapter, Path(source_dir), splits)
        root, mode = adapter.root(Path(source_dir)), "local"
    pinned = {f.path: f.sha256 for s in splits for f in adapter.files(s)}
    samples = bundled_sample_checksums()
    sources = {}
    for split in splits:
        for path in paths[split]:
            rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
            digest = sha256_file(path)
            expected = pinned.get(rel)
            record = {"sha256": digest, "matches_pinned": None if expected is None else digest == expected}
            if record["matches_pinned"] is False:
                if digest in samples:
                    record["bundled_sample"] = True
                elif allow_unpinned:
                    record["allowed_unpinned"] = True
                else:
                    raise PrefixBenchError(
                        f"{path}: sha256 {digest[:12]}... is not the pinned {expected[:12]}... of {adapter.name} "
                        f"{rel} (truncated, altered or another version?); use the official file, or set "
                        f"datasets.<name>.allow_unpinned: true (--allow-unpinned) to use this copy, recorded")
            sources[rel] = record
    entries = {split: adapter.load(split, root, resolved) for split in splits}
    info = {"mode": mode, "dir": str(root), "files": sources}
    return adapter, resolved, entries, info


def write_prepared(out_dir: Path, adapter: DatasetAdapter, options: dict[str, Any],
                   entries: dict[str, list[Entry]], source_info: dict,
                   extra: dict[str, Any] | None = None) -> dict:
    """Write the JSONL files and the manifest for already-loaded entries; return the manifest."""
    out_dir = Path(out_dir)
    counts, outputs = {}, {}
    for split, split_entries in entries.items():
        pairs = pair_rows(split_entries, split)
        write_jsonl(out_dir / f"{split}.jsonl", pairs)
        outputs[f"{split}.jsonl"] = sha256_file(out_dir / f"{split}.jsonl")
        counts[split] = {"pairs": len(pairs), "units": len(split_entries),
                         "refs": sum(len(e.references) for e in split_entries)}
        if split in EVAL_SPLITS:
            write_jsonl(out_dir / f"{split}.eval.jsonl", unit_rows(split_entries, split))
            outputs[f"{split}.eval.jsonl"] = sha256_file(out_dir / f"{split}.eval.jsonl")
    # A split left out (`splits:`, e.g. no dev set at hand) still gets its files, empty, so the
    # prepared folder always has the same file set (the workflow declares them all); the manifest
    # says which splits were not prepared, and the stages treat an empty split as absent.
    not_prepared = [s for s in ALL_SPLITS if s not in entries]
    for split in not_prepared:
        names = [f"{split}.jsonl"] + ([f"{split}.eval.jsonl"] if split in EVAL_SPLITS else [])
        for name in names:
            write_jsonl(out_dir / name, [])
            outputs[name] = sha256_file(out_dir / name)
    manifest = {
        "dataset": adapter.name, "version": adapter.VERSION, "options": options,
        "splits": list(entries), "not_prepared": not_prepared, "counts": counts, "source": source_info,
        "outputs": outputs,
    }
    manifest.update(extra or {})
    write_json(out_dir / "manifest.json", manifest)  # last: its presence means "complete"
    return manifest


def prepare_dataset(name: str, out_dir: Path, source_dir: Path | None = None,
                    splits: list[str] | None = None, cache_dir: Path | None = None,
                    **options: Any) -> dict:
    """Prepare dataset `name` into `out_dir` and return the manifest (see module docstring)."""
    adapter, resolved, entries, info = load_splits(name, source_dir, splits, cache_dir, **options)
    manifest = write_prepared(out_dir, adapter, resolved, entries, info)
    log.info("prepared %s into %s: %s", name, out_dir, manifest["counts"])
    return manifest
