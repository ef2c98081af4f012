"""Expand a pipeline config (config/*.yaml) into the runs and derived datasets it implies.

An experiment names one dataset (`dataset:`) or several (`datasets:`, e.g. the low-data subsets of
Figure 3), the models, the seeds, a set of variants (method + options + training/decoding
overrides + the paper row it reproduces) and optionally a `sweep` (e.g. `train.max_steps: [100,
200, 400, 600]` or `method_options.length: [1, 5, 10]`). Every (dataset, model, variant, sweep
point, seed) is one run with a fully resolved `RunSpec`. Snakemake (workflow/rules/common.smk) calls
`expand_runs`; the same function is unit-tested (tests/test_grid.py), so the DAG's grid is what
the tests count.

Datasets are named in the config. A plain entry is prepared from the official files; an entry
with `adapter:` + `options:` is prepared from another adapter's files with options (XSum topic
splits); an entry with `derive:` is a subset of another prepared dataset (low-data sizes, data
fractions), written by `prefix-bench prepare --from-prepared` (workflow/rules/derived_data.smk).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import shlex
from dataclasses import dataclass
from pathlib import Path

from .config import RunSpec
from .errors import PrefixBenchError
from .options import from_dict

RESULTS = "results"
#: sweep keys name one field of a variant block: "<block>.<field>"
SWEEP_BLOCKS = ("train", "generate", "method_options")


@dataclass(frozen=True)
class Run:
    experiment: str
    #: directory name inside the experiment: {model}-{variant}[-{dataset}][-{sweep}]-s{seed}
    name: str
    spec: RunSpec
    eval_splits: tuple[str, ...]
    variant: str = ""
    #: the sweep point, as ((key, value), ...) in the config's key order
    sweep: tuple = ()
    #: "experiment/name" of the earlier run that trains, decodes and scores exactly this (same
    #: training identity, decoding settings and eval splits); None when this run does its own
    trained_in: str | None = None

    @property
    def run_id(self) -> str:
        return f"{self.experiment}/{self.name}"

    @property
    def directory(self) -> str:
        """Where the run's weights, predictions and scores live (the earlier run's, if shared)."""
        return f"{RESULTS}/runs/{self.trained_in or self.run_id}"

    def identity(self) -> tuple:
        """What decides every output of the run: the training identity (`config_hash`: not where
        the run is reported), the decoding settings and the splits it decodes."""
        return self.spec.config_hash(), self.spec.generate.identity(), self.eval_splits

    @property
    def dataset(self) -> str:
        return self.spec.dataset

    @property
    def seed(self) -> int:
        return self.spec.train.seed


def _merge(base: dict, override: dict | None) -> dict:
    """Recursive dict merge: `override` wins; nested mappings merge key by key."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def hub_models(config: dict) -> dict[str, dict]:
    """Models the workflow downloads (`download_models`): a hub id under `path` (not a local
    directory) with `download` left on -> {"repo", "revision"}."""
    out = {}
    for name, entry in config.get("models", {}).items():
        path = entry.get("path")
        local = path is not None and (path.startswith((".", "/", "~")) or Path(path).exists())
        if path is not None and not local and entry.get("download", True):
            out[name] = {"repo": path, "revision": entry.get("revision")}
    return out


def model_path(config: dict, model: str) -> str:
    """Where a run loads a model from: the directory a built-in model is built into or a hub model
    downloaded into (results/models/<name>), else the configured path or hub id."""
    models = config.get("models", {})
    if model not in models:
        raise PrefixBenchError(f"model {model!r} is used by an experiment but not defined under models:")
    entry = models[model]
    if entry.get("builtin") or model in hub_models(config):
        return f"{RESULTS}/models/{model}"
    return entry["path"]


# --- datasets -------------------------------------------------------------------------------

def _grid_members(grid_name: str, entry: dict) -> dict[str, dict]:
    """The derived datasets one `derive_grid:` entry stands for, in axis order (size, then seed)."""
    grid = entry["derive_grid"]
    sizes = [("subset_size", v) for v in grid.get("subset_size", [])]
    sizes += [("fraction", v) for v in grid.get("fraction", [])]
    members = {}
    for (axis, value), seed in itertools.product(sizes, grid.get("subset_seed", [0])):
        fields = {axis: value, "subset_seed": seed}
        name = grid["name"].format(**fields, fraction_pct=round(value * 100) if axis == "fraction" else None)
        derive = {"from": grid["from"], **fields}
        if grid.get("test_size") is not None:
            derive["test_size"] = grid["test_size"]
        members[name] = {**{k: v for k, v in entry.items() if k != "derive_grid"}, "derive": derive}
    if len(members) != len(sizes) * len(grid.get("subset_seed", [0])):
        raise PrefixBenchError(f"datasets.{grid_name}.derive_grid.name: {grid['name']!r} gives two members the "
                               "same name; use every axis in it ({subset_size} or {fraction_pct}, {subset_seed})")
    return members


def dataset_grids(config: dict) -> dict[str, list[str]]:
    """Each `derive_grid:` entry's name -> the names of the datasets it stands for."""
    return {name: list(_grid_members(name, entry)) for name, entry in config.get("datasets", {}).items()
            if "derive_grid" in entry}


def datasets_of(config: dict) -> dict[str, dict]:
    """The config's datasets with every `derive_grid:` entry replaced by its members (the
    low-data subsets of Figures 3 and 5 are 40 datasets written as two entries)."""
    out: dict[str, dict] = {}
    for name, entry in config.get("datasets", {}).items():
        members = _grid_members(name, entry) if "derive_grid" in entry else {name: entry}
        for member, member_entry in members.items():
            if member in out or (member != name and member in config.get("datasets", {})):
                raise PrefixBenchError(f"datasets.{name}: dataset {member!r} is defined twice")
            out[member] = member_entry
    return out


def dataset_entry(config: dict, name: str) -> dict:
    datasets = datasets_of(config)
    if name not in datasets:
        raise PrefixBenchError(f"dataset {name!r} is used but not defined under datasets:")
    return datasets[name]


def prepared_splits(config: dict, name: str) -> list[str]:
    """The splits a dataset's prepare step reads (a derived dataset: its parent's)."""
    parent = derived_parent(config, name)
    if parent is not None:
        return prepared_splits(config, parent)
    return list(dataset_entry(config, name).get("splits") or ["train", "dev", "test"])


def check_prepared_splits(config: dict, dataset: str, eval_splits: tuple[str, ...], experiment: str) -> None:
    """At config load: runs need the train split and every split they decode."""
    splits = prepared_splits(config, dataset)
    missing = [s for s in ("train", *eval_splits) if s not in splits]
    if missing:
        raise PrefixBenchError(
            f"experiments.{experiment}: dataset {dataset!r} does not prepare {', '.join(missing)} "
            f"(its splits: {', '.join(splits)}); add it to datasets.{dataset}.splits or change eval_splits")


def derived_parent(config: dict, name: str) -> str | None:
    """The dataset a `derive:` entry subsets (None for datasets prepared from files)."""
    derive = dataset_entry(config, name).get("derive")
    if derive is None:
        return None
    parent = derive["from"]
    dataset_entry(config, parent)  # must exist
    if dataset_entry(config, parent).get("derive"):
        raise PrefixBenchError(f"datasets.{name}.derive.from: {parent!r} is itself derived; "
                               "derive from a prepared dataset")
    return parent


def dataset_eval_splits(config: dict, name: str) -> list[str]:
    """A derived dataset is evaluated like its parent unless it says otherwise."""
    entry = dataset_entry(config, name)
    if entry.get("eval_splits"):
        return list(entry["eval_splits"])
    parent = derived_parent(config, name)
    if parent:
        return dataset_eval_splits(config, parent)
    return ["test"]


def derive_args(config: dict, name: str) -> str:
    """`prefix-bench prepare` flags that write derived dataset `name` from its parent, quoted for
    a shell command line (config values never reach a shell unquoted)."""
    derive = dataset_entry(config, name)["derive"]
    args = ["--subset-seed", str(int(derive.get("subset_seed", 0)))]
    if derive.get("subset_size") is not None:
        args += ["--subset-size", str(int(derive["subset_size"]))]
    if derive.get("fraction") is not None:
        args += ["--fraction", str(float(derive["fraction"]))]
    if derive.get("test_size") is not None:
        args += ["--test-size", str(int(derive["test_size"]))]
    return shlex.join(args)


def source_args(entry: dict) -> list[str]:
    """`--splits`, `--source-dir` and `--allow-unpinned` of a dataset entry, as separate arguments."""
    args = ["--splits", ",".join(entry.get("splits", ["train", "dev", "test"]))]
    if entry.get("source_dir"):
        args += ["--source-dir", str(entry["source_dir"])]
    if entry.get("allow_unpinned"):
        args.append("--allow-unpinned")
    return args


def adapter_args(config: dict, name: str) -> str:
    """`prefix-bench prepare` flags for a dataset prepared by another adapter with options,
    quoted for a shell command line (a `source_dir` such as `x; rm -rf ~` stays one argument)."""
    entry = dataset_entry(config, name)
    args = ["--dataset", entry["adapter"], *source_args(entry)]
    for key, value in (entry.get("options") or {}).items():
        args += ["--option", f"{key}={value}"]  # the config's spelling is the adapter's
    return shlex.join(args)


def dataset_kinds(config: dict) -> dict[str, list[str]]:
    """Dataset names by how they are produced: prepared, adapter (with options), derived."""
    kinds = {"prepared": [], "adapter": [], "derived": []}
    for name, entry in datasets_of(config).items():
        kind = "derived" if entry.get("derive") else "adapter" if entry.get("adapter") else "prepared"
        kinds[kind].append(name)
    return kinds


# --- experiments ----------------------------------------------------------------------------

def selected_experiments(config: dict) -> list[str]:
    names = list(config.get("experiments", {}))
    chosen = config.get("select") or names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise PrefixBenchError(f"select: unknown experiment {unknown[0]!r}; defined: {', '.join(names)}")
    return list(chosen)


def experiment_datasets(exp_name: str, exp: dict, grids: dict[str, list[str]] | None = None) -> list[str]:
    """The datasets an experiment runs on; a `derive_grid:` name stands for all its members."""
    if ("dataset" in exp) == ("datasets" in exp):
        raise PrefixBenchError(f"experiments.{exp_name}: give exactly one of dataset: or datasets:")
    names = [exp["dataset"]] if "dataset" in exp else list(exp["datasets"])
    return [member for name in names for member in (grids or {}).get(name, [name])]


def sweep_points(exp_name: str, sweep: dict | None) -> list[tuple]:
    """The cartesian product of the sweep axes, as ((key, value), ...) tuples; [()] if none."""
    if not sweep:
        return [()]
    for key in sweep:
        block, _, field = key.partition(".")
        if block not in SWEEP_BLOCKS or not field or "." in field:
            raise PrefixBenchError(f"experiments.{exp_name}.sweep: key {key!r} must be "
                                   f"<{'|'.join(SWEEP_BLOCKS)}>.<field>")
    keys = list(sweep)
    return [tuple(zip(keys, values)) for values in itertools.product(*(sweep[k] for k in keys))]


def _sweep_tag(point: tuple) -> str:
    return "-".join(f"{key.partition('.')[2]}{value}" for key, value in point)


def _apply_sweep(variant: dict, point: tuple) -> dict:
    out = copy.deepcopy(variant)
    for key, value in point:
        block, _, field = key.partition(".")
        out.setdefault(block, {})[field] = value
    return out


def expand_runs(config: dict) -> list[Run]:
    """All runs of the selected experiments, in config order."""
    runs = []
    defaults = config.get("defaults", {})
    grids = dataset_grids(config)
    for exp_name in selected_experiments(config):
        exp = config["experiments"][exp_name]
        datasets = experiment_datasets(exp_name, exp, grids)
        points = sweep_points(exp_name, exp.get("sweep"))
        for dataset in datasets:
            dataset_entry(config, dataset)
            eval_splits = tuple(exp.get("eval_splits") or dataset_eval_splits(config, dataset))
            check_prepared_splits(config, dataset, eval_splits, exp_name)
            for model in exp["models"]:
                for variant_name, variant in exp["variants"].items():
                    for point in points:
                        for seed in exp.get("seeds", [1]):
                            merged = _apply_sweep(_merge(_merge(defaults, exp.get("overrides")), variant), point)
                            parts = [model, variant_name]
                            if "datasets" in exp:
                                parts.append(dataset)
                            if point:
                                parts.append(_sweep_tag(point))
                            name = "-".join(parts + [f"s{seed}"])
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
                                "trust_remote_code": config["models"][model].get("trust_remote_code", False),
                            }
                            where = f"experiments.{exp_name}.variants.{variant_name}"
                            spec = from_dict(RunSpec, spec_dict, where)
                            runs.append(Run(exp_name, name, spec, eval_splits, variant_name, point))
    return _share_identical(runs)


def _share_identical(runs: list[Run]) -> list[Run]:
    """A run identical to an earlier one in everything but where it is reported (e.g. Figure 4's
    DART L=10 is Table 2's prefix run) is trained, decoded and scored once: the later one points
    to the earlier one (`trained_in`) and every table reads the same outputs."""
    first: dict[tuple, str] = {}
    out = []
    for run in runs:
        owner = first.setdefault(run.identity(), run.run_id)
        out.append(run if owner == run.run_id else dataclasses.replace(run, trained_in=owner))
    return out


def trained_runs(runs: list[Run]) -> list[Run]:
    """The runs that train (one per distinct identity), in config order."""
    return [run for run in runs if run.trained_in is None]


def reported_elsewhere(runs: list[Run]) -> dict[str, dict]:
    """For the report: each run that reads another's outputs -> where they are and how it is
    reported ({"trained_in", "experiment", "paper"})."""
    return {run.run_id: {"trained_in": run.trained_in, "experiment": run.experiment,
                         "paper": run.spec.paper}
            for run in runs if run.trained_in is not None}


def grid_counts(runs: list[Run]) -> dict[str, int]:
    """Runs per experiment, as reported (a run shared with an earlier experiment counts in both)."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.experiment] = counts.get(run.experiment, 0) + 1
    return counts


def dataset_adapter(config: dict, name: str) -> str:
    """The adapter (and scoring task) behind dataset `name`: e2e_n50_s0 -> e2e, xsum_within_news -> xsum."""
    entry = dataset_entry(config, name)
    parent = derived_parent(config, name)
    if parent:
        return dataset_adapter(config, parent)
    return entry.get("adapter") or name
