# Stage 2: built-in tiny models (random weights, tokenizer trained on the data). Hub models
# (gpt2-medium, ...) need no rule: they load by id.


rule build_model:
    input:
        train=lambda wc: f"results/data/{tokenizer_dataset(wc)}/train.jsonl",
    output:
        config="results/models/{model}/config.json",
    log:
        "results/logs/build_model/{model}.log",
    benchmark:
        "results/benchmarks/build_model/{model}.tsv"
    conda:
        "../envs/train.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        builtin=lambda wc: config["models"][wc.model]["builtin"],
    shell:
        "prefix-bench build-model --name {params.builtin} --train-jsonl {input.train} "
        "--out results/models/{wildcards.model} > {log} 2>&1"
