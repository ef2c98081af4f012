# Stage 1b: datasets named in the config that are not an adapter's plain output:
#   `derive:`  a low-data subset or a data fraction of another prepared dataset (Figures 3, 5, 6);
#   `adapter:` another adapter's files prepared with options (XSum topic splits, Table 4).
# Both write the same layout as prepare_data (train.jsonl, manifest.json, {dev,test}.eval.jsonl);
# the manifest records the parent's sha256 and the subset settings (read by the report).
# DATASET_KINDS, name_pattern and the config helpers they use are defined in common.smk.


localrules:
    prepare_dataset_variant,  # may download, like prepare_data


ruleorder: derive_dataset > prepare_dataset_variant > prepare_data


rule derive_dataset:
    input:
        manifest=lambda wc: f"results/data/{derived_parent(config, wc.dataset)}/manifest.json",
    output:
        train="results/data/{dataset}/train.jsonl",
        manifest="results/data/{dataset}/manifest.json",
        evals=expand(
            "results/data/{{dataset}}/{split}.eval.jsonl", split=["dev", "test"]
        ),
    log:
        "results/logs/derive_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/derive_dataset/{dataset}.tsv"
    wildcard_constraints:
        dataset=name_pattern(DATASET_KINDS["derived"]),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        parent=lambda wc: derived_parent(config, wc.dataset),
        subset=lambda wc: derive_args(config, wc.dataset),
    shell:
        "python -m prefix_bench.cli prepare --dataset {params.parent:q} --from-prepared results/data/{params.parent:q} "
        "{params.subset} --out results/data/{wildcards.dataset} > {log} 2>&1"


rule prepare_dataset_variant:
    output:
        train="results/data/{dataset}/train.jsonl",
        manifest="results/data/{dataset}/manifest.json",
        evals=expand(
            "results/data/{{dataset}}/{split}.eval.jsonl", split=["dev", "test"]
        ),
    log:
        "results/logs/prepare_dataset_variant/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset_variant/{dataset}.tsv"
    wildcard_constraints:
        dataset=name_pattern(DATASET_KINDS["adapter"]),
    retries: 2
    conda:
        "../envs/data.yaml"
    resources:
        download=1,
        mem_mb=4000,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        source=lambda wc: adapter_args(config, wc.dataset),
    shell:
        "python -m prefix_bench.cli prepare {params.source} --out results/data/{wildcards.dataset} > {log} 2>&1"
