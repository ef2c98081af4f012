"""A config's runs, read as the Snakefile reads them, and the training job of each run that trains.

A run identical to an earlier one (`Run.trained_in`) is reported but is no job of its own, so the
jobs are exactly the DAG's training jobs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path


from ..config import RunSpec
from ..config_schema import read_config_file
from ..experiments import Run, expand_runs
from .data import Data, dataset_data
from .flops import Cost, decode_flops, dense_weights, example_tokens, method_cost, train_flops
from .shapes import Shape, model_source, shape_of

def load_runs(configfile: Path) -> tuple[dict, list[Run]]:
    """The config and its runs, read as the Snakefile reads them (schema check, then the grid)."""
    config = read_config_file(configfile)
    return config, expand_runs(config)


@dataclass(frozen=True)
class Job:
    """One training job (a run that trains) and what it costs."""

    run: Run
    shape: Shape
    cost: Cost
    data: Data  # token means already cut to the run's max_source_tokens / max_target_tokens
    batch: int
    steps: int
    examples: int
    precision: str  # bf16 | fp32 | tf32
    flops_per_example: float
    decode: float  # decoding FLOPs of the run's eval splits
    dense: float  # N per token

    @property
    def pair_tokens(self) -> float:
        """Tokens of one training pair, cue words included."""
        return example_tokens(self.shape, self.data.source_tokens + self.cost.cue, self.data.target_tokens)

    @property
    def tokens(self) -> float:
        return self.examples * self.pair_tokens

    @property
    def step_tokens(self) -> float:
        return self.batch * self.pair_tokens

    @property
    def flops(self) -> float:
        return self.examples * self.flops_per_example


def run_precision(spec: RunSpec, override: str) -> str:
    """bf16, fp32 or tf32 (fp32 with TF32 matmuls), after `--precision` ("config": the run's own)."""
    precision = spec.train.precision if override == "config" else override
    return "tf32" if precision == "fp32" and spec.train.tf32 else precision


def build_job(config: dict, run: Run, precision: str) -> Job:
    """The job of a run that trains: its data, steps, FLOPs and precision."""
    spec, train = run.spec, run.spec.train
    source = model_source(config, spec.model)
    shape, data = shape_of(source), dataset_data(config, spec.dataset)
    cost = method_cost(spec, shape, source)
    src = min(data.source_tokens, train.max_source_tokens)
    tgt = min(data.target_tokens, train.max_target_tokens)
    data = replace(data, source_tokens=src, target_tokens=tgt)
    steps = train.max_steps or math.ceil(data.train_pairs / train.batch_size) * train.epochs
    examples = train.max_steps * train.batch_size if train.max_steps else data.train_pairs * train.epochs
    units = sum(data.eval_units.get(split, 0) for split in run.eval_splits)
    return Job(run, shape, cost, data, train.batch_size, steps, examples, run_precision(spec, precision),
               train_flops(shape, cost, src, tgt, train.batch_size, train.target_only_head),
               units * decode_flops(shape, cost, src, tgt, spec.generate),
               dense_weights(shape, cost, src, tgt, train.target_only_head))
