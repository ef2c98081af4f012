# Stage 5: score predictions with the official-parity scorers (`prefix-bench score`).


rule score_outputs:
    input:
        predictions="results/runs/{experiment}/{run}/predictions/{split}.txt",
        units=lambda wc: f"results/data/{get_run(wc).spec.dataset}/{wc.split}.eval.jsonl",
    output:
        scores="results/runs/{experiment}/{run}/scores/{split}.json",
    params:
        task=lambda wc: get_run(wc).spec.dataset,
    log:
        "results/logs/score_outputs/{experiment}/{run}/{split}.log",
    benchmark:
        "results/benchmarks/score_outputs/{experiment}/{run}/{split}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "prefix-bench score --task {params.task} --refs {input.units} "
        "--hyps {input.predictions} --json {output.scores} > {log} 2>&1"
