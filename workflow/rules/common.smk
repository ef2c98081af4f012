# Config validation, the run grid and input functions shared by every stage.
import json

from snakemake.utils import validate

from prefix_bench.experiments import expand_runs


validate(config, schema="../schemas/config.schema.yaml")

RUNS = {(run.experiment, run.name): run for run in expand_runs(config)}
EXPERIMENTS = sorted({experiment for experiment, _ in RUNS})
RUN_NAMES = sorted({name for _, name in RUNS})


wildcard_constraints:
    dataset="[a-z0-9_]+",
    model="[A-Za-z0-9_.-]+",
    experiment="[A-Za-z0-9_]+",
    run="[A-Za-z0-9_.%-]+",
    split="dev|test",


def get_run(wildcards):
    return RUNS[(wildcards.experiment, wildcards.run)]


def run_spec_json(wildcards):
    """The resolved run spec; a change to it reruns the run (params trigger)."""
    return json.dumps(get_run(wildcards).spec.to_dict(), sort_keys=True)


def train_inputs(wildcards):
    run = get_run(wildcards)
    inputs = {"train": f"results/data/{run.spec.dataset}/train.jsonl"}
    if config["models"][run.spec.model].get("builtin"):
        inputs["model"] = f"results/models/{run.spec.model}/config.json"
    return inputs


def scored_outputs():
    """Every score file the selected experiments imply."""
    return [
        f"{run.directory}/scores/{split}.json"
        for run in RUNS.values()
        for split in run.eval_splits
    ]


def dataset_source_args(wildcards):
    entry = config["datasets"][wildcards.dataset]
    args = ["--splits", ",".join(entry.get("splits", ["train", "dev", "test"]))]
    if entry.get("source_dir"):
        args += ["--source-dir", entry["source_dir"]]
    return " ".join(args)


def tokenizer_dataset(wildcards):
    return config["models"][wildcards.model]["tokenizer_dataset"]
