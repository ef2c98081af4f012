# Stage 6b: the paper's tables, regenerated (one rule run per declared table spec,
# prefix_bench/resources/tables/<table>.yaml), and one cost summary per experiment.
# Jobs run `prefix-bench report-*`, which imports only the report modules (no torch): a second
# per job.
# A table needs the scored runs of its experiments that the config selects; runs not selected
# (or not yet scored) show as "—" in it.
# PAPER_SPECS, TABLES, FIGURES and the target functions live in common.smk (--lint).


rule paper_table:
    input:
        scores=spec_scored_outputs,
        expected="results/report/expected_runs.json",
    output:
        markdown=report(
            "results/report/tables/{spec}.md",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{spec}", "format": "markdown"},
        ),
        latex="results/report/tables/{spec}.tex",
        csv=report(
            "results/report/tables/{spec}.csv",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{spec}", "format": "csv"},
        ),
        cells="results/report/tables/{spec}.cells.json",
    log:
        "results/logs/paper_table/{spec}.log",
    benchmark:
        "results/benchmarks/paper_table/{spec}.tsv"
    wildcard_constraints:
        spec="|".join(TABLES) or "(?!x)x",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        strict="--strict" if REPORT_OPTIONS.get("strict") else "",
        resamples=REPORT_OPTIONS.get("bootstrap_resamples", 1000),
    shell:
        "python -m prefix_bench.cli report-table --spec {wildcards.spec} --runs-dir results/runs "
        "--expected-runs {input.expected} "
        "--data-dir results/data --out-dir results/report/tables "
        "--bootstrap-resamples {params.resamples} {params.strict} > {log} 2>&1"


rule summarize_experiment:
    input:
        records=lambda wc: [
            f"{run.directory}/run.json"
            for run in RUNS.values()
            if run.experiment == wc.experiment
        ],
        expected="results/report/expected_runs.json",
    output:
        markdown=report(
            "results/report/summary/{experiment}.md",
            caption="../report/summary.rst",
            category="Run summaries",
            labels={"experiment": "{experiment}"},
        ),
        csv="results/report/summary/{experiment}.csv",
    log:
        "results/logs/summarize_experiment/{experiment}.log",
    benchmark:
        "results/benchmarks/summarize_experiment/{experiment}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m prefix_bench.cli report-summary --experiment {wildcards.experiment} --runs-dir results/runs "
        "--expected-runs {input.expected} "
        "--data-dir results/data --out-dir results/report/summary > {log} 2>&1"
