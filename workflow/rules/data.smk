# Stage 1: download (or read a local copy of) a dataset and write the shared JSONL schema.
# Runs on the submitting host (compute nodes often have no internet); the `download` resource
# (profiles: download=1) keeps downloads one at a time.


localrules:
    prepare_data,


rule prepare_data:
    output:
        train="results/data/{dataset}/train.jsonl",
        manifest="results/data/{dataset}/manifest.json",
        evals=expand(
            "results/data/{{dataset}}/{split}.eval.jsonl", split=["dev", "test"]
        ),
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    retries: 2
    conda:
        "../envs/data.yaml"
    resources:
        download=1,
        mem_mb=4000,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        source=dataset_source_args,
    shell:
        "python -m prefix_bench.cli prepare --dataset {wildcards.dataset} --out results/data/{wildcards.dataset} "
        "{params.source} > {log} 2>&1"
