# Config validation, the run grid and input functions shared by every stage.
import json
import shlex
import shutil
import sys
from pathlib import Path

from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from prefix_bench.experiments import (
    adapter_args,
    dataset_adapter,
    dataset_entry,
    dataset_kinds,
    derive_args,
    derived_parent,
    expand_runs,
    hub_models,
    reported_elsewhere,
    source_args,
)
from prefix_bench.config_schema import validate_config
from prefix_bench.gpu_memory import estimate_gpu_mem_mb
from prefix_bench.packing import plan_decode_packs, plan_packs
from prefix_bench.report.records import write_expected_runs
from prefix_bench.report.specs import TableSpec, active_specs

# `--use-conda` / `--sdm conda` without conda: say what to do (Snakemake's own message comes later
# and names no way out).
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    frontend = workflow.deployment_settings.conda_frontend
    if not (shutil.which(frontend) or shutil.which("conda") or shutil.which("mamba")):
        sys.exit(
            f"prefix_bench: --use-conda/--sdm conda needs `{frontend}` on PATH, which is not there. "
            "Install Miniforge (https://conda-forge.org/download/) and rerun, or run without "
            '--use-conda in an environment with `pip install -e ".[dev]"` (README: Install).'
        )

# One line for the first problem (Snakemake's validate would print the whole schema), then
# Snakemake's validate for the defaults it fills in.
validate_config(
    config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
)
validate(config, schema="../schemas/config.schema.yaml")

# How jobs run the package (`python -m prefix_bench.cli ...`): this repository's own copy first on
# the Python path, so a job needs no installed prefix_bench (conda envs built under any
# --conda-prefix, runs with --directory). Snakemake's default prefix is `set -euo pipefail;`.
shell.prefix(
    "set -euo pipefail; export PYTHONPATH="
    # the prefix is formatted with each job's command: braces doubled twice
    f"{shlex.quote(str(workflow.basedir))}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)

RUNS = {(run.experiment, run.name): run for run in expand_runs(config)}
RUN_BY_ID = {run.run_id: run for run in RUNS.values()}
# Prefix-tuning runs trained together in one job each (config `packing.max_runs`; train.smk).
PACKS = plan_packs(
    {run.run_id: run.spec for run in RUNS.values() if run.trained_in is None},
    config.get("packing", {}).get("max_runs", 1),
)
# Members of a pack that decode an eval split in one job (generate.smk), unless pool_decoding: false.
DECODE_PACKS = (
    plan_decode_packs(
        PACKS,
        {run.run_id: run.spec for run in RUNS.values()},
        {run.run_id: run.eval_splits for run in RUNS.values()},
    )
    if config.get("packing", {}).get("pool_decoding", True)
    else []
)
# Jobs per GPU for with-device (0: $PREFIX_BENCH_SLOTS_PER_GPU, else by estimated memory).
SLOTS_PER_GPU = config.get("devices", {}).get("slots_per_gpu", 0)
EXPERIMENTS = sorted({experiment for experiment, _ in RUNS})
RUN_NAMES = sorted({name for _, name in RUNS})
DATASET_KINDS = dataset_kinds(config)
HUB_MODELS = hub_models(config)  # fetched once by the local rule download_model
BUILT_MODELS = sorted(
    n for n, m in config.get("models", {}).items() if m.get("builtin")
)

# Paper tables and figures of the selected experiments (tables.smk, figures.smk).
PAPER_SPECS = active_specs(EXPERIMENTS)
TABLES = sorted(n for n, s in PAPER_SPECS.items() if isinstance(s, TableSpec))
FIGURES = sorted(n for n, s in PAPER_SPECS.items() if not isinstance(s, TableSpec))
REPORT_OPTIONS = config.get("report", {})


wildcard_constraints:
    dataset="[a-z0-9_]+",
    model="[A-Za-z0-9_.-]+",
    experiment="[A-Za-z0-9_]+",
    run="[A-Za-z0-9_.%-]+",
    split="dev|test",


def get_run(wildcards):
    """The run a train/generate/score job works on; a run that shares an earlier run's outputs
    (same training, decoding and splits) has no jobs of its own."""
    run = RUNS[(wildcards.experiment, wildcards.run)]
    if run.trained_in is not None:
        raise ValueError(
            f"{run.run_id} is identical to {run.trained_in} and reads its outputs; "
            f"ask for results/runs/{run.trained_in} instead"
        )
    return run


def run_spec_json(wildcards):
    """The run's training spec; a change to it retrains the run (params trigger). Decoding
    settings are not in it: they reach only the generate rule (run_generate_json)."""
    return json.dumps(get_run(wildcards).spec.training_dict(), sort_keys=True)


def run_generate_json(wildcards):
    return generate_json_of(get_run(wildcards))


def generate_json_of(run):
    """A run's (or its decoding pack's) decoding settings; a change re-runs decoding and scoring,
    not training."""
    return json.dumps(run.spec.to_dict()["generate"], sort_keys=True)


def train_inputs(wildcards):
    return run_train_inputs(get_run(wildcards))


def run_train_inputs(run):
    """The prepared training pairs of a run and, for a hub or built-in model, its local copy."""
    inputs = {"train": f"results/data/{run.spec.dataset}/train.jsonl"}
    if run.spec.model in HUB_MODELS or config["models"][run.spec.model].get("builtin"):
        inputs["model"] = f"results/models/{run.spec.model}/config.json"
    return inputs


def pack_inputs(pack):
    """Every member's training pairs, and the model they share."""
    files = (
        f for run_id in pack.runs for f in run_train_inputs(RUN_BY_ID[run_id]).values()
    )
    return list(dict.fromkeys(files))


# sbatch placement a cluster profile sets for train_run / generate_outputs (`set-resources`,
# profiles/slurm): the pack rules, whose names (train_pack_<id>, generate_pack_<id>_<split>) a
# profile cannot know, take the same, so packed jobs land on the same GPU partition.
PLACEMENT_RESOURCES = (
    "slurm_partition",
    "slurm_account",
    "gpu_model",
    "constraint",
    "qos",
    "slurm_extra",
    "cpus_per_gpu",
)


def placement_of(rule_name):
    """The placement resources the profile or command line set for `rule_name`."""
    set_for_rule = workflow.resource_settings.overwrite_resources.get(rule_name, {})
    # Snakemake holds them as Resource objects to evaluate per job; these are plain text (`raw`)
    return {
        k: getattr(v, "raw", v)
        for k, v in set_for_rule.items()
        if k in PLACEMENT_RESOURCES
    }


def trained_files(pack):
    """Each member's trained weights and record: what `train_run` writes for a run. A training
    pack's outputs (one output set per run), a decoding pack's inputs."""
    return [
        f"{RUN_BY_ID[run_id].directory}/{name}"
        for run_id in pack.runs
        for name in ("trained.safetensors", "run.json")
    ]


def pack_members_json(pack):
    """The members as `prefix-bench train-pack --members-json` takes them (spec, data, out dir);
    a change to any member's training spec re-runs the pack (params trigger)."""
    members = []
    for run_id in pack.runs:
        run = RUN_BY_ID[run_id]
        members.append(
            {
                "spec": run.spec.training_dict(),
                "data_dir": f"results/data/{run.spec.dataset}",
                "out_dir": run.directory,
            }
        )
    return json.dumps(members, sort_keys=True)


def decode_pack_units(pack):
    """The eval split every member decodes (members of a decoding pack share the dataset)."""
    return (
        f"results/data/{RUN_BY_ID[pack.runs[0]].spec.dataset}/{pack.split}.eval.jsonl"
    )


def decode_pack_outputs(pack):
    """Each member's predictions and record, exactly those of `generate_outputs`."""
    return [
        f"{RUN_BY_ID[run_id].directory}/predictions/{pack.split}.{ext}"
        for run_id in pack.runs
        for ext in ("txt", "json")
    ]


def decode_pack_args(pack):
    """`--run-dir D --out D/predictions/SPLIT.txt` per member, shell-quoted."""
    args = []
    for run_id in pack.runs:
        directory = RUN_BY_ID[run_id].directory
        args += [
            "--run-dir",
            directory,
            "--out",
            f"{directory}/predictions/{pack.split}.txt",
        ]
    return shlex.join(args)


def scored_outputs():
    """Every score file the selected experiments imply."""
    outputs = (
        f"{run.directory}/scores/{split}.json"
        for run in RUNS.values()
        for split in run.eval_splits
    )
    return list(
        dict.fromkeys(outputs)
    )  # runs sharing an earlier run's outputs name them again


def dataset_source_args(wildcards):
    """`--splits`/`--source-dir` of a dataset, shell-quoted: config values never reach a shell
    unquoted."""
    return shlex.join(source_args(dataset_entry(config, wildcards.dataset)))


def run_device(wildcards):
    """The run's train.device (auto|cpu|cuda); train and generate use the same device."""
    return get_run(wildcards).spec.train.device


def run_threads(wildcards):
    return threads_of(get_run(wildcards))


def threads_of(run):
    """Threads of a run's train/generate job (or its pack's): train.threads, or 2 when it leaves
    torch's default. One-thread jobs let Snakemake run two side by side on a 2-core machine,
    which on CPU gets more done than one two-thread job at a time."""
    return run.spec.train.threads or 2


def run_gpus(wildcards):
    return gpus_of(get_run(wildcards))


def gpus_of(run):
    """GPUs a run's train/generate job (or its pack's) asks the scheduler for: none when the run
    is pinned to the CPU (train.device: cpu, e.g. config/demo.yaml), so CPU runs never queue.
    """
    return 0 if run.spec.train.device == "cpu" else 1


def run_gpu_mem_mb(wildcards):
    """The job's estimated GPU memory (prefix_bench/gpu_memory.py; 0 = unknown): `with-device
    --slots-per-device auto` seats as many such jobs on one GPU as fit."""
    return estimate_gpu_mem_mb(get_run(wildcards).spec) or 0


def pack_gpu_mem_mb(pack):
    """A pack's estimated GPU memory: one LM, every member's trained part and activations."""
    return estimate_gpu_mem_mb(RUN_BY_ID[pack.runs[0]].spec, runs=len(pack.runs)) or 0


def build_model_inputs(wildcards):
    """A tiny model trains its tokenizer on a dataset; a packaged pretrained model needs no input."""
    dataset = config["models"][wildcards.model].get("tokenizer_dataset")
    return {"train": f"results/data/{dataset}/train.jsonl"} if dataset else {}


def name_pattern(names):
    """A wildcard regex matching exactly these names (nothing when empty)."""
    return "|".join(sorted(names)) if names else "(?!x)x"


def spec_scored_outputs(wildcards):
    """Score files of the selected runs a table or figure shows."""
    wanted = set(PAPER_SPECS[wildcards.spec].experiments)
    outputs = (
        f"{run.directory}/scores/{split}.json"
        for run in RUNS.values()
        if run.experiment in wanted
        for split in run.eval_splits
    )
    return list(dict.fromkeys(outputs))


def paper_targets(target=None):
    """Table and figure files of the active specs (optionally only one target, e.g. table2)."""
    out = []
    for name, spec in PAPER_SPECS.items():
        if target is not None and spec.target != target:
            continue
        if isinstance(spec, TableSpec):
            out += [
                f"results/report/tables/{name}.{ext}"
                for ext in ("md", "tex", "csv", "cells.json")
            ]
        else:
            out += [
                f"results/report/figures/{name}.{ext}"
                for ext in ("png", "svg", "pdf", "csv", "cells.json")
            ]
    return out


def summary_targets():
    return [f"results/report/summary/{e}.md" for e in EXPERIMENTS]


# `snakemake --report` collects every report-flagged output of the target's DAG and stops at the
# first one not made yet ("marked for report but does not exist"), so before the grid has run, or
# halfway through it, the default target would have no report at all. Snakemake decides report
# mode after reading the Snakefile, so the command line is read here: in report mode the default
# target is what exists, and the log says what is left out.
REPORTING = any(arg == "--report" or arg.startswith("--report=") for arg in sys.argv)


def made_so_far(targets, note=True):
    """`targets`, or in report mode those of them that exist (the report holds what is done)."""
    if not REPORTING:
        return targets
    present = [t for t in targets if Path(t).exists()]
    if note and len(present) < len(targets):
        print(
            f"prefix_bench: the report holds the {len(present)} of {len(targets)} tables, figures "
            "and summaries made so far; the rest appear once the runs behind them finish",
            file=sys.stderr,
        )
    return present
