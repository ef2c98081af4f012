# Stage 6: tables of every scored run beside the paper's numbers.


rule report_table:
    input:
        scored_outputs(),
    output:
        markdown="results/report/runs.md",
        csv="results/report/runs.csv",
    log:
        "results/logs/report_table.log",
    benchmark:
        "results/benchmarks/report_table.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        mixed="--allow-mixed" if config.get("report", {}).get("allow_mixed") else "",
    shell:
        "prefix-bench report --runs-dir results/runs --out-dir results/report {params.mixed} > {log} 2>&1"
