"""Which prefix-tuning runs may train together in one job over one frozen LM ("packing").

The LM is frozen and shared, so runs that differ only in what trains (seeds, data subsets,
learning rates, epochs) can put their batches side by side in one forward pass
(`methods/prefix/packed.py`). A small GPT-2 table-to-text step leaves most of a GPU idle
(README: GPU figures; 8 runs packed took 69 ms a step against 8 x 47 ms one after another), so
`packing.max_runs` in the config groups such runs into one Snakemake job each; the members then
decode each eval split in one job too (`plan_decode_packs`; `packing.pool_decoding`).

Two runs of one experiment pack when everything the shared LM or the packed forward sees is
equal: the model and how it loads, the LM-level switches of `train:` (device, precision, fused GELU, target-only head,
threads, ...), and a prefix of one shape with the same objective. Runs whose training draws
random numbers after initialisation (prefix dropout, LM dropout) or compiles the LM never pack:
their results would depend on the pack. Packs stay within an experiment, so `select:` never
regroups runs (a run trained in another pack moves at float rounding, and Snakemake retrains it
when the job that makes it changes). Everything here is torch-free (the Snakefile reads it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .config import RunSpec
from .methods.prefix.config import DEFAULT_LENGTH, PrefixConfig

#: the methods packing supports (PackedPrefixes takes GPT-style prefix-tuning runs)
PACKABLE_METHODS = ("prefix",)
#: train options the shared LM or the packed forward depends on: packed runs share them
SHARED_TRAIN_OPTIONS = ("device", "precision", "tf32", "fused_gelu", "compile", "target_only_head",
                        "threads", "keep_freed_memory")


def pack_key(spec: RunSpec) -> tuple | None:
    """What runs must share to train in one pack, or None when `spec` cannot be packed."""
    if spec.method not in PACKABLE_METHODS or spec.train.compile:
        return None
    prefix: PrefixConfig = spec.method_config()
    if prefix.dropout > 0 or prefix.lm_dropout:
        return None
    # the prefix's shape: an explicit length, else the init words decide it (else the default)
    length = prefix.length or (("words", prefix.words) if prefix.init == "words" else DEFAULT_LENGTH)
    shared = tuple(getattr(spec.train, name) for name in SHARED_TRAIN_OPTIONS)
    return (spec.experiment, spec.model, spec.model_path, spec.trust_remote_code, length, prefix.position_offset,
            prefix.objective, shared)


@dataclass(frozen=True)
class Pack:
    """Runs trained in one job; `id` is stable for the same members (a Snakemake rule name)."""

    runs: tuple[str, ...]  # run ids, sorted

    @property
    def id(self) -> str:
        return "pack_" + hashlib.sha256("\n".join(self.runs).encode()).hexdigest()[:12]

    @property
    def experiment(self) -> str:
        return self.runs[0].split("/", 1)[0]


def plan_packs(specs: dict[str, RunSpec], max_runs: int) -> list[Pack]:
    """Packs of 2..max_runs runs over `specs` (run id -> spec of each run that trains itself).

    Runs of one key are taken in run-id order and cut into ceil(n / max_runs) packs of nearly
    equal size (17 runs, max 8: 6 + 6 + 5, not 8 + 8 + 1): a pack's wall time is that of its
    longest member, so balanced packs finish together. A key with a single run is not packed."""
    if max_runs < 2:
        return []
    groups: dict[tuple, list[str]] = {}
    for run_id in sorted(specs):
        key = pack_key(specs[run_id])
        if key is not None:
            groups.setdefault(key, []).append(run_id)
    packs = []
    for run_ids in groups.values():
        n_packs = -(-len(run_ids) // max_runs)
        size, extra = divmod(len(run_ids), n_packs)
        start = 0
        for i in range(n_packs):
            end = start + size + (1 if i < extra else 0)
            if end - start >= 2:
                packs.append(Pack(tuple(run_ids[start:end])))
            start = end
    return packs


@dataclass(frozen=True)
class DecodePack:
    """Runs of one training pack that decode one split in one job (`prefix-bench generate-pack`)."""

    runs: tuple[str, ...]  # run ids, sorted
    split: str

    @property
    def id(self) -> str:
        """A Snakemake rule name: the runs' pack id and the split."""
        return f"{Pack(self.runs).id}_{self.split}"

    @property
    def experiment(self) -> str:
        return self.runs[0].split("/", 1)[0]


def plan_decode_packs(packs: list[Pack], specs: dict[str, RunSpec],
                      eval_splits: dict[str, tuple[str, ...]]) -> list[DecodePack]:
    """The decoding jobs of `packs`: members that decode the same eval file under the same settings
    (dataset, decoding options, source cut) share a job per split they all score; a member left
    alone decodes alone."""
    out = []
    for pack in packs:
        groups: dict[tuple, list[str]] = {}
        for run_id in pack.runs:
            spec = specs[run_id]
            key = (spec.dataset, spec.generate.identity(), spec.train.max_source_tokens)
            groups.setdefault(key, []).append(run_id)
        for run_ids in groups.values():
            if len(run_ids) < 2:
                continue
            shared = [s for s in eval_splits[run_ids[0]] if all(s in eval_splits[r] for r in run_ids)]
            out.extend(DecodePack(tuple(run_ids), split) for split in shared)
    return out
