# Stage 1: download (or read a local copy of) a dataset and write the shared JSONL schema.


rule prepare_data:
    output:
        train="results/data/{dataset}/train.jsonl",
        manifest="results/data/{dataset}/manifest.json",
        evals=expand("results/data/{{dataset}}/{split}.eval.jsonl", split=["dev", "test"]),
    params:
        source=dataset_source_args,
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    resources:
        mem_mb=4000,
        runtime=60,
    retries: 2
    shell:
        "prefix-bench prepare --dataset {wildcards.dataset} --out results/data/{wildcards.dataset} "
        "{params.source} > {log} 2>&1"
