# prefix_bench: Prefix-Tuning (Li & Liang, ACL 2021) regenerated end to end.
#   snakemake --cores all --configfile config/demo.yaml        (offline CPU demo, minutes)
#   snakemake --workflow-profile profiles/local-gpu --sdm conda --resources gpu=N   (the paper, GPUs)
#   snakemake --workflow-profile profiles/slurm --sdm conda        (the paper on SLURM: README, Running on a cluster)
# The Snakefile only includes the stage rules and defines the targets.


# The paper config is the default; --configfile replaces it (it is not merged into it).
if not config:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/derived_data.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"


# `snakemake --report report.html`: the tables, figures and run summaries made so far.
report: "workflow/report/workflow.rst"


rule all:
    input:
        made_so_far(
            ["results/report/runs.md", "results/report/runs.csv"]
            + paper_targets()
            + summary_targets()
        ),


# The hub models the config needs, fetched at their pinned revisions (a local rule: run it on a
# machine with internet, e.g. the cluster's login node, before submitting the grid).
rule download_models:
    input:
        [f"results/models/{name}/config.json" for name in HUB_MODELS],


# One target per paper table/figure, e.g. `snakemake table2`; each builds only what the selected
# experiments (config `select:`) need, and shows the rest of the table as missing ("—").
rule paper:
    input:
        made_so_far(paper_targets() + summary_targets(), note=False),


rule table2:
    input:
        made_so_far(paper_targets("table2"), note=False),


rule table3:
    input:
        made_so_far(paper_targets("table3"), note=False),


rule table4:
    input:
        made_so_far(paper_targets("table4"), note=False),


rule table5:
    input:
        made_so_far(paper_targets("table5"), note=False),


rule figure3:
    input:
        made_so_far(paper_targets("figure3"), note=False),


rule figure4:
    input:
        made_so_far(paper_targets("figure4"), note=False),


rule figure5:
    input:
        made_so_far(paper_targets("figure5"), note=False),


rule figure6:
    input:
        made_so_far(paper_targets("figure6"), note=False),
