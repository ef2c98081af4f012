"""Expand a pipeline config (config/*.yaml) into the runs it implies.

An experiment names a dataset, the models, the seeds and a set of variants (method + options +
training/decoding overrides + the paper row it reproduces). Every (model, variant, seed) is one run
with a fully resolved `RunSpec`. Snakemake (workflow/rules/common.smk) calls `expand_runs`; the
same function is unit-tested, so the DAG's grid is what the tests count.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from .config import RunSpec
from .errors import PrefixBenchError
from .options import from_dict

RESULTS = "results"


@dataclass(frozen=True)
class Run:
    experiment: str
    name: str  # directory name inside the experiment: {model}-{variant}-s{seed}
    spec: RunSpec
    eval_splits: tuple[str, ...]

    @property
    def directory(self) -> str:
        return f"{RESULTS}/runs/{self.experiment}/{self.name}"


def _merge(base: dict, override: dict | None) -> dict:
    """Recursive dict merge: `override` wins; nested mappings merge key by key."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def model_path(config: dict, model: str) -> str:
    """Where a model's weights come from: a built-in tiny model's directory or a hub id/path."""
    models = config.get("models", {})
    if model not in models:
        raise PrefixBenchError(f"model {model!r} is used by an experiment but not defined under models:")
    entry = models[model]
    if entry.get("builtin"):
        return f"{RESULTS}/models/{model}"
    return entry["path"]


def selected_experiments(config: dict) -> list[str]:
    names = list(config.get("experiments", {}))
    chosen = config.get("select") or names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise PrefixBenchError(f"select: unknown experiment {unknown[0]!r}; defined: {', '.join(names)}")
    return list(chosen)


def expand_runs(config: dict) -> list[Run]:
    """All runs of the selected experiments, in config order."""
    runs = []
    defaults = config.get("defaults", {})
    for exp_name in selected_experiments(config):
        exp = config["experiments"][exp_name]
        dataset = exp["dataset"]
        if dataset not in config.get("datasets", {}):
            raise PrefixBenchError(f"experiments.{exp_name}.dataset: {dataset!r} is not defined under datasets:")
        eval_splits = tuple(exp.get("eval_splits") or config["datasets"][dataset].get("eval_splits", ["test"]))
        for model in exp["models"]:
            for variant_name, variant in exp["variants"].items():
                for seed in exp.get("seeds", [1]):
                    merged = _merge(_merge(defaults, exp.get("overrides")), variant)
                    name = f"{model}-{variant_name}-s{seed}"
                    spec_dict = {
                        "run_id": f"{exp_name}/{name}",
                        "experiment": exp_name,
                        "dataset": dataset,
                        "model": model,
                        "model_path": model_path(config, model),
                        "method": merged.get("method"),
                        "method_options": merged.get("method_options", {}),
                        "train": _merge(merged.get("train", {}), {"seed": seed}),
                        "generate": merged.get("generate", {}),
                        "paper": merged.get("paper", {}),
                        "trust_remote_code": config.get("models", {})[model].get("trust_remote_code", False),
                    }
                    spec = from_dict(RunSpec, spec_dict, f"experiments.{exp_name}.variants.{variant_name}")
                    runs.append(Run(exp_name, name, spec, eval_splits))
    return runs
