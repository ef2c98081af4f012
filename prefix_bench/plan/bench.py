"""The figures of one `prefix-bench gpu-check` JSON that the plan reads: measured training rows.

A row measures one family (GPT-2: `prefix_lm_bf16` or, in newer checks, `prefix`; `finetune`;
BART: `prefix_bart`, `finetune` at XSum's shape) at one precision and batch size, in tokens a
second. The plan scales it by the FLOP model from the check's model and method to the run's
(FT-top2, adapters, LoRA, EMB-k and INFIX-k use the frozen-LM row).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import PrefixBenchError
from .flops import Cost, prefix_mlp, train_flops
from .jobs import Job
from .shapes import Source, shape_of


@dataclass(frozen=True)
class Bench:
    """The measured training rows of one gpu-check and the models they measured."""

    name: str  # the file's name, quoted in every figure taken from it
    device: str
    rows: dict[str, dict]  # "{family}@{batch}" (GPT-2) or "{family}@xsum{batch}" (BART) -> row
    batches: tuple[int, ...]  # GPT-2 batch sizes measured
    xsum_batch: int  # the BART batch size measured
    gpt2: Source  # meta source of the check's GPT-2 shape
    bart: Source | None
    prefix: tuple[int, int]  # (length, mid_dim) of the checked GPT-2 prefix
    bart_prefix: tuple[int, int]
    packing: dict | None  # the packed-step row: tokens_per_s, runs, rows_per_run

    @classmethod
    def read(cls, path: Path) -> Bench:
        """The check at `path`, its fields checked (failed contenders are left out, not errors)."""
        if not path.is_file():
            raise PrefixBenchError(f"{path}: bench file not found (write one with "
                                   f"`prefix-bench gpu-check --out {path}`)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise PrefixBenchError(f"{path}: not valid JSON ({err})") from None
        device = str(_field(data, path, "machine", "device"))
        settings = _field(data, path, "settings")
        shape, vocab = _field(data, path, "settings", "shape"), _field(data, path, "settings", "vocab")
        if not isinstance(_field(data, path, "train"), dict):
            raise PrefixBenchError(f"{path}: field train is not a mapping of training rows")
        rows = {}
        for part in ("train", "train_xsum"):
            for key, row in (data.get(part) or {}).items():
                if not isinstance(row, dict) or "error" in row:
                    continue  # a contender that failed in the check
                if not isinstance(row.get("tokens_per_s"), (int, float)) or row["tokens_per_s"] <= 0:
                    raise PrefixBenchError(f"{path}: missing field {part}.{key}.tokens_per_s")
                rows[key] = row
        if not rows:
            raise PrefixBenchError(f"{path}: no training row without an error under train")
        packing = data.get("packing")
        if not (isinstance(packing, dict) and all(isinstance(packing.get(k), (int, float))
                                                  for k in ("tokens_per_s", "runs", "rows_per_run"))):
            packing = None
        gpt2 = ("gpt2", json.dumps({**shape, "vocab_size": vocab, "n_positions": 1024}, sort_keys=True))
        bart = None
        if isinstance(settings.get("bart_shape"), dict):
            bart = ("bart", json.dumps({**settings["bart_shape"], "vocab_size": settings.get("bart_vocab", 50265),
                                        "max_position_embeddings": 1024}, sort_keys=True))
        return cls(path.name, device, rows, tuple(settings.get("train_batches") or ()),
                   int(settings.get("xsum_batch", 14)), gpt2, bart,
                   (settings.get("prefix_length", 10), settings.get("mid_dim", 512)),
                   (settings.get("xsum_prefix_length", 100), settings.get("xsum_mid_dim", 800)), packing)

    def row(self, job: Job, precision: str) -> tuple[str, int, dict] | None:
        """(family, batch, row) measuring the job's family at `precision`, at the largest measured
        batch not above the job's, else the smallest; None when the check measured none."""
        name = self._family(job, precision)
        if name is None or (job.shape.seq2seq and self.bart is None):
            return None
        batches, tag = ((self.xsum_batch,), "xsum") if job.shape.seq2seq else (self.batches, "")
        found = sorted((b, self.rows[f"{name}@{tag}{b}"]) for b in batches if f"{name}@{tag}{b}" in self.rows)
        if not found:
            return None
        below = [f for f in found if f[0] <= job.batch]
        batch, row = below[-1] if below else found[0]
        return name, batch, row

    def _family(self, job: Job, precision: str) -> str | None:
        """The row family measuring the job at `precision`, by the check's naming (older checks
        call the bf16-held frozen LM `prefix_lm_bf16`, newer ones `prefix`)."""
        names = {k.partition("@")[0] for k in self.rows}
        if job.shape.seq2seq:
            return ("finetune" if job.cost.kind == "full" else "prefix_bart") if precision == "bf16" else None
        if job.cost.kind == "full":
            return "finetune" if precision == "bf16" else None
        if precision == "fp32":
            return "prefix_fp32" if "prefix_fp32" in names else None
        if precision == "bf16":
            if "prefix_lm_bf16" in names:
                return "prefix_lm_bf16"
            return "prefix" if "prefix_fp32_weights" in names else None
        return None

    def reference_flops(self, job: Job, name: str) -> float:
        """Training FLOPs per pair of the model and method row family `name` measured, at the job's
        tokens and batch: the denominator that scales the row to the job."""
        shape = shape_of(self.bart if job.shape.seq2seq else self.gpt2)
        length, mid = self.bart_prefix if job.shape.seq2seq else self.prefix
        cost = Cost("full") if name == "finetune" else Cost("frozen", prefix=length, step_params=prefix_mlp(shape, mid))
        # the check trains with the pipeline's defaults: target-only LM head
        return train_flops(shape, cost, job.data.source_tokens + job.cost.cue, job.data.target_tokens, job.batch,
                           target_only_head=True)

    @staticmethod
    def counted_tokens(job: Job) -> float:
        """Tokens per pair as the check counts them: GPT-2 rows all tokens, BART rows the source."""
        return job.data.source_tokens + job.cost.cue + 2 if job.shape.seq2seq else job.pair_tokens


def _field(bench: dict, path: Path, *keys: str):
    """bench[keys[0]][keys[1]]..., or an error naming the missing field."""
    value = bench
    for i, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise PrefixBenchError(f"{path}: missing field {'.'.join(keys[: i + 1])} (is it a "
                                   "`prefix-bench gpu-check` JSON?)")
        value = value[key]
    return value
