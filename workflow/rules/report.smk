# Stage 6: tables of every scored run beside the paper's numbers.


localrules:
    expected_runs,


rule expected_runs:
    """The run ids the config defines: every report reads exactly these runs, so a run directory
    left from an older config is listed as ignored, never tabulated (a params change rewrites it).
    Runs identical to an earlier one are listed with the run whose outputs they read.
    """
    output:
        "results/report/expected_runs.json",
    log:
        "results/logs/expected_runs.log",
    params:
        runs=sorted(run.run_id for run in RUNS.values() if run.trained_in is None),
        elsewhere=reported_elsewhere(list(RUNS.values())),
    run:
        summary = write_expected_runs(output[0], params.runs, params.elsewhere)
        Path(log[0]).write_text(f"{summary}\n")


rule all_runs_table:
    input:
        scores=scored_outputs(),
        expected="results/report/expected_runs.json",
    output:
        markdown=report(
            "results/report/runs.md",
            caption="../report/runs.rst",
            category="Results",
        ),
        csv="results/report/runs.csv",
    log:
        "results/logs/all_runs_table.log",
    benchmark:
        "results/benchmarks/all_runs_table.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        strict="--strict" if config.get("report", {}).get("strict") else "",
    shell:
        "python -m prefix_bench.cli report --runs-dir results/runs --expected-runs {input.expected} "
        "--out-dir results/report {params.strict} > {log} 2>&1"
