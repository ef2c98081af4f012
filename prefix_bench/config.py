"""The typed, strict description of one run (one trained model and its outputs).

Snakemake expands `config/*.yaml` experiments into runs (workflow/rules/common.smk via
`prefix_bench.experiments`); each run's spec travels as JSON to `prefix-bench train`, is validated
here, and is written into the run's `run.json`. Later stages read settings from that file, never
from directory names (STYLE.md 10).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Literal

from .errors import PrefixBenchError
from .methods import parse_method_options
from .options import from_dict, to_dict


@dataclass(frozen=True)
class TrainOptions:
    """Optimisation settings; defaults are the paper's GPT-2 E2E prefix setting (Table 6)."""

    lr: float = 8e-5
    epochs: int = 5
    #: stop after this many optimizer steps (overrides epochs when set)
    max_steps: int | None = None
    batch_size: int = 10
    #: linear warmup steps (paper: 0 on full data, 100 in low-data runs)
    warmup_steps: int = 0
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    grad_clip: float = 1.0
    #: seeds data order, initialisation and dropout
    seed: int = 1
    #: longest tokenized source kept (tokens); longer sources are truncated from the right
    max_source_tokens: int = 512
    max_target_tokens: int = 256
    #: save a resumable checkpoint every N optimizer steps (0 = only at the end of training)
    checkpoint_every: int = 200
    log_every: int = 20
    #: "auto" picks CUDA when visible, else CPU; "cpu" forces the CPU fallback explicitly
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: torch intra-op threads (0 = torch default)
    threads: int = 0
    #: LM head and loss on target positions only (source logits are never used); same loss and
    #: gradients up to float rounding (tests/test_perf_train.py). false = full [B, T, V] logits
    target_only_head: bool = True
    #: length-bucketed batches: sort each window of N batches by length, shuffle the batches
    #: (less padding). 0 = off: plain shuffled order, as the paper. Changes the data order.
    length_buckets: int = 0
    #: torch.compile the LM (same loss; compiling takes minutes on CPU, pays off on long GPU runs)
    compile: bool = False
    #: GPT-2's tanh-GELU ("gelu_new", eight elementwise ops) as PyTorch's fused kernel: the same
    #: formula up to float rounding (tests/test_perf_train.py). false = the model's own module
    fused_gelu: bool = True
    #: torch's fused AdamW kernel: the same update up to float rounding; false = the per-tensor loop
    fused_adamw: bool = True
    #: on CUDA: "bf16" = bf16 autocast with the frozen weights held in bf16 (trained parameters and
    #: optimizer state stay fp32); "fp32" = full fp32, the paper's setting. CPU: always fp32.
    #: run.json records what ran (prefix_bench/precision.py)
    precision: Literal["bf16", "fp32"] = "bf16"
    #: TF32 tensor-core matmuls for the fp32 work on CUDA (about 1e-3 relative error); false: exact fp32
    tf32: bool = False
    #: keep freed host memory in the process for reuse (glibc mallopt), instead of page-faulting
    #: fresh pages every step (prefix_bench/runtime.py); no effect on the numbers
    keep_freed_memory: bool = True

    def validate(self, where: str) -> None:
        """Checked when the config loads: a bad value fails before any job runs."""
        for name in ("epochs", "batch_size", "log_every", "max_source_tokens", "max_target_tokens"):
            if getattr(self, name) < 1:
                raise PrefixBenchError(f"{where}.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("length_buckets", "warmup_steps", "checkpoint_every", "threads", "weight_decay", "grad_clip"):
            if getattr(self, name) < 0:
                raise PrefixBenchError(f"{where}.{name}: must be >= 0, got {getattr(self, name)}")
        for name in ("adam_beta1", "adam_beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise PrefixBenchError(f"{where}.{name}: must be in [0, 1), got {getattr(self, name)}")
        if not self.adam_eps > 0:
            raise PrefixBenchError(f"{where}.adam_eps: must be > 0, got {self.adam_eps}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise PrefixBenchError(f"{where}.lr: must be > 0, got {self.lr}")
        if self.max_steps is not None and self.max_steps < 1:
            raise PrefixBenchError(f"{where}.max_steps: must be >= 1 or null, got {self.max_steps}")


@dataclass(frozen=True)
class GenerateOptions:
    """Decoding settings; defaults are the paper's table-to-text decoding (section 5.2)."""

    num_beams: int = 5
    max_new_tokens: int = 100
    min_new_tokens: int = 0
    length_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    #: forbid tokens containing a newline (paper code)
    ban_newlines: bool = True
    #: sources per decoding batch (unique sources, sorted by length)
    batch_size: int = 16
    #: written for an empty output so lines stay aligned with the references
    empty_placeholder: str = "<empty>"
    #: "own" = prefix_bench.decoding.beam_search (each prompt encoded once, finished items leave the
    #: batch; same tokens as "hf", tested); "hf" = transformers `generate` (encodes each prompt once per beam)
    beam_search: Literal["own", "hf"] = "own"
    #: on CUDA, "bf16" (autocast, frozen weights held in bf16) or "fp32", as train.precision; CPU:
    #: always fp32. Recorded with the outputs
    precision: Literal["bf16", "fp32"] = "bf16"
    #: TF32 matmuls for fp32 decoding on CUDA, as train.tf32
    tf32: bool = False
    #: GPT-2's "gelu_new" as PyTorch's fused tanh-GELU kernel (as train.fused_gelu)
    fused_gelu: bool = True

    def validate(self, where: str) -> None:
        """Checked when the config loads, so a bad decoding setting fails before any training."""
        for name in ("num_beams", "max_new_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise PrefixBenchError(f"{where}.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("min_new_tokens", "no_repeat_ngram_size"):
            if getattr(self, name) < 0:
                raise PrefixBenchError(f"{where}.{name}: must be >= 0, got {getattr(self, name)}")
        if self.min_new_tokens > self.max_new_tokens:
            raise PrefixBenchError(f"{where}.min_new_tokens ({self.min_new_tokens}) exceeds max_new_tokens "
                                   f"({self.max_new_tokens})")
        if not math.isfinite(self.length_penalty):
            raise PrefixBenchError(f"{where}.length_penalty: must be a finite number, got {self.length_penalty}")

    def identity(self) -> str:
        """The decoding identity under a run: a change re-runs decoding and scoring, not training."""
        return hashlib.sha256(json.dumps(to_dict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one run's numbers."""

    run_id: str
    experiment: str
    dataset: str
    #: model key in the config (e.g. "gpt2-medium", "tiny-gpt2")
    model: str
    #: hub id or local directory the LM is loaded from
    model_path: str
    method: str
    method_options: dict = field(default_factory=dict)
    train: TrainOptions = field(default_factory=TrainOptions)
    generate: GenerateOptions = field(default_factory=GenerateOptions)
    #: which paper row this run reproduces, e.g. {"table": "T2", "method": "Prefix"}
    paper: dict = field(default_factory=dict)
    #: load models whose code lives on the hub (off unless the config says so)
    trust_remote_code: bool = False

    def validate(self, where: str) -> None:
        # Normalise the method options now so typos fail before any work starts.
        parse_method_options(self.method, self.method_options, f"{where}.method_options")

    def method_config(self):
        return parse_method_options(self.method, self.method_options, "method_options")

    def to_dict(self) -> dict:
        d = to_dict(self)
        d["method_options"] = to_dict(self.method_config())  # effective, defaults filled in
        return d

    def training_dict(self) -> dict:
        """The spec without its decoding settings: what the train stage gets and records. Decoding
        reads the weights, never changes them, so it has its own identity (`GenerateOptions.identity`)
        and a decoding change re-runs only decoding and scoring."""
        d = self.to_dict()
        d.pop("generate")
        return d

    def config_hash(self) -> str:
        """The training identity: a hash of every setting that can change the trained weights
        (names, where the run is reported and decoding settings excluded). Same hash, same
        weights expected."""
        d = self.training_dict()
        for where in ("run_id", "experiment", "paper"):
            d.pop(where)
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def parse_run_spec(data: dict | str, where: str = "run spec") -> RunSpec:
    """Validate a run spec from a dict or a JSON string."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as err:
            raise PrefixBenchError(f"{where}: not valid JSON ({err})") from None
    return from_dict(RunSpec, data, where)
