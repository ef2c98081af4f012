# Stage 6c: the paper's figures, regenerated as PNG, SVG and PDF (one rule run per declared figure spec,
# prefix_bench/resources/tables/<figure>.yaml). Uses PAPER_SPECS / spec_scored_outputs from
# common.smk.


rule paper_figure:
    input:
        scores=spec_scored_outputs,
        expected="results/report/expected_runs.json",
    output:
        png=report(
            "results/report/figures/{spec}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{spec}"},
        ),
        svg="results/report/figures/{spec}.svg",
        pdf="results/report/figures/{spec}.pdf",
        csv="results/report/figures/{spec}.csv",
        cells="results/report/figures/{spec}.cells.json",
    log:
        "results/logs/paper_figure/{spec}.log",
    benchmark:
        "results/benchmarks/paper_figure/{spec}.tsv"
    wildcard_constraints:
        spec="|".join(FIGURES) or "(?!x)x",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        strict="--strict" if REPORT_OPTIONS.get("strict") else "",
    shell:
        "python -m prefix_bench.cli report-figure --spec {wildcards.spec} --runs-dir results/runs "
        "--expected-runs {input.expected} "
        "--data-dir results/data --out-dir results/report/figures {params.strict} > {log} 2>&1"
