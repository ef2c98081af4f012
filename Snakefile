# prefix_bench: Prefix-Tuning (Li & Liang, ACL 2021) regenerated end to end.
#   snakemake --cores all --configfile config/demo.yaml        (offline CPU demo, minutes)
#   snakemake --cores all --use-conda --configfile config/config.yaml   (the paper, GPUs)
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


rule all:
    input:
        "results/report/runs.md",
        "results/report/runs.csv",
