# Stage 5: score predictions with the official-parity scorers (`prefix-bench score`).


rule score_outputs:
    input:
        predictions="results/runs/{experiment}/{run}/predictions/{split}.txt",
        units=lambda wc: f"results/data/{get_run(wc).spec.dataset}/{wc.split}.eval.jsonl",
    output:
        scores="results/runs/{experiment}/{run}/scores/{split}.json",
    log:
        "results/logs/score_outputs/{experiment}/{run}/{split}.log",
    benchmark:
        "results/benchmarks/score_outputs/{experiment}/{run}/{split}.tsv"
    # METEOR runs in a JVM beside Python; a job killed for memory or time gets twice both.
    retries: 1
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        task=lambda wc: dataset_adapter(config, get_run(wc).spec.dataset),  # e2e_n50_s0 -> e2e
    shell:
        "python -m prefix_bench.cli score --task {params.task:q} --refs {input.units} "
        "--hyps {input.predictions} --json {output.scores} > {log} 2>&1"
