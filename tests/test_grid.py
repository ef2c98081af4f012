"""The experiment grid: datasets lists, sweeps, derived datasets, and the paper config's job counts.

The grid code is tested on small configs that use only `prefix`/`finetune`; the paper config's
counts are what the paper's protocol implies per experiment, and every method it names must exist.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from prefix_bench.errors import PrefixBenchError
from prefix_bench.experiments import (
    adapter_args,
    dataset_adapter,
    dataset_eval_splits,
    dataset_kinds,
    datasets_of,
    derive_args,
    expand_runs,
    grid_counts,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"

BASE = {
    "datasets": {
        "e2e": {"eval_splits": ["test"]},
        "xsum": {"eval_splits": ["dev", "test"]},
        "xsum_news_to_sports": {"adapter": "xsum", "options": {"topic_split": "news_to_sports"}},
        **{f"e2e_n{n}_s{s}": {"derive": {"from": "e2e", "subset_size": n, "subset_seed": s}}
           for n in (50, 100) for s in (0, 1, 2)},
        "e2e_f10": {"derive": {"from": "e2e", "fraction": 0.1}},
    },
    "models": {"tiny": {"builtin": "tiny-gpt2", "tokenizer_dataset": "e2e"}, "gpt2": {"path": "gpt2"}},
    "defaults": {"train": {"max_steps": 5}},
    "experiments": {
        "lowdata": {
            "datasets": [f"e2e_n{n}_s{s}" for n in (50, 100) for s in (0, 1, 2)],
            "models": ["tiny"],
            "seeds": [1, 2],
            "overrides": {"train": {"warmup_steps": 100}},
            "sweep": {"train.max_steps": [100, 200, 400, 600]},
            "variants": {"prefix": {"method": "prefix"}, "finetune": {"method": "finetune"}},
        },
        "length": {
            "dataset": "e2e",
            "models": ["gpt2"],
            "sweep": {"method_options.length": [1, 5, 10]},
            "variants": {"prefix": {"method": "prefix"}},
        },
    },
}


def validate_schema(config: dict) -> dict:
    from snakemake.utils import validate

    config = copy.deepcopy(config)
    validate(config, str(SCHEMA))
    return config


def test_datasets_sweep_and_seeds_multiply():
    runs = expand_runs(BASE)
    counts = grid_counts(runs)
    assert counts == {"lowdata": 6 * 2 * 4 * 2, "length": 3}
    names = {r.name for r in runs}
    assert len(names) == len(runs), "run names must be unique"
    run = next(r for r in runs if r.name == "tiny-prefix-e2e_n100_s2-max_steps400-s2")
    assert run.spec.train.max_steps == 400 and run.spec.train.warmup_steps == 100
    assert run.spec.train.seed == 2 and run.dataset == "e2e_n100_s2" and run.variant == "prefix"
    assert run.sweep == (("train.max_steps", 400),)
    assert [r.spec.method_config().length for r in runs if r.experiment == "length"] == [1, 5, 10]
    # a single `dataset:` keeps the short run name existing rules and tests know
    assert {r.name for r in runs if r.experiment == "length"} == {
        "gpt2-prefix-length1-s1", "gpt2-prefix-length5-s1", "gpt2-prefix-length10-s1"}


def test_derived_datasets_name_their_parent_and_subset():
    assert dataset_kinds(BASE)["derived"] == [f"e2e_n{n}_s{s}" for n in (50, 100) for s in (0, 1, 2)] + ["e2e_f10"]
    assert dataset_kinds(BASE)["adapter"] == ["xsum_news_to_sports"]
    assert derive_args(BASE, "e2e_n50_s2") == "--subset-seed 2 --subset-size 50"
    assert derive_args(BASE, "e2e_f10") == "--subset-seed 0 --fraction 0.1"
    assert adapter_args(BASE, "xsum_news_to_sports") == (
        "--dataset xsum --splits train,dev,test --option topic_split=news_to_sports")
    assert dataset_adapter(BASE, "e2e_n50_s0") == "e2e"
    assert dataset_adapter(BASE, "xsum_news_to_sports") == "xsum"
    assert dataset_eval_splits(BASE, "e2e_n50_s0") == ["test"]  # inherited from e2e


@pytest.mark.parametrize("change,message", [
    (lambda c: c["experiments"]["length"].update(sweep={"optim.lr": [1]}), "must be <train|generate|method_options>"),
    (lambda c: c["experiments"]["length"].update(dataset="nope"), "dataset 'nope' is used but not defined"),
    (lambda c: c["datasets"].update(bad={"derive": {"from": "e2e_f10", "fraction": 0.5}})
     or c["experiments"]["length"].update(dataset="bad"), "is itself derived"),
    (lambda c: c.update(select=["tabel2"]), "select: unknown experiment 'tabel2'"),
])
def test_grid_errors_name_the_key(change, message):
    config = copy.deepcopy(BASE)
    change(config)
    with pytest.raises(PrefixBenchError, match=message):
        expand_runs(config)


def test_schema_accepts_derived_datasets_and_rejects_typos():
    validate_schema(BASE)
    from snakemake.exceptions import WorkflowError

    for bad in (
        {"e2e_x": {"derive": {"from": "e2e", "subset_size": 5, "fraction": 0.1}}},  # both
        {"e2e_x": {"derive": {"from": "e2e", "subset_sise": 5}}},  # typo
        {"e2e_x": {"derive": {"from": "e2e", "fraction": 1.5}}},
        {"e2e_x": {"derive": {"from": "e2e", "subset_size": 5}, "source_dir": "x"}},
        {"xsum_y": {"adapter": "xsum", "options": {"topic_split": "sport"}}},
        {"Bad-Name": {}},
    ):
        config = copy.deepcopy(BASE)
        config["datasets"].update(bad)
        with pytest.raises(WorkflowError):
            validate_schema(config)
    config = copy.deepcopy(BASE)
    config["experiments"]["length"]["datasets"] = ["e2e"]  # both dataset and datasets
    with pytest.raises(WorkflowError):
        validate_schema(config)


def test_report_grid_config_is_valid_and_small():
    config = validate_schema(yaml.safe_load((REPO / "tests" / "data" / "report_grid.yaml").read_text()))
    counts = grid_counts(expand_runs(config))
    assert counts == {"table2_e2e": 4, "figure6_data_efficiency": 2}


# What the paper's protocol implies, per experiment (ACL numbering; see config/config.yaml).
T2_SEEDS, LOW_SEEDS, SUBSETS, SIZES, MAX_STEPS = 3, 2, 5, 4, 4
EXPECTED_TRAIN_JOBS = {
    # Table 2: FT-full, FT-top2, Adapter 3%, Adapter 0.1%, Prefix on GPT-2 medium; FT-full and
    # Prefix on GPT-2 large; per dataset
    **{f"table2_{d}": 5 * T2_SEEDS for d in ("e2e", "webnlg", "dart")},
    **{f"table2_{d}_large": 2 * T2_SEEDS for d in ("e2e", "webnlg", "dart")},
    "table3_xsum": 3 * T2_SEEDS,  # FT-full, Prefix 2%, Prefix 0.1%
    "table4_xsum_news_to_sports": 2 * T2_SEEDS,  # FT-full, Prefix
    "table4_xsum_within_news": 2 * T2_SEEDS,
    "table5_ablations": 6 * T2_SEEDS,  # EMB-1/10/20, INFIX-1/10/20
    # Figure 3: 4 sizes x 5 subsets x 2 seeds x 2 methods (x 4 max-steps for table-to-text)
    "figure3_lowdata_e2e": SIZES * SUBSETS * LOW_SEEDS * 2 * MAX_STEPS,
    "figure3_lowdata_xsum": SIZES * SUBSETS * LOW_SEEDS * 2,
    "figure4_length_xsum": 8,  # L in {1,10,20,50,80,100,200,300}
    "figure4_length_dart": 5,  # L in {1,5,10,20,40}
    # Figure 5: random + 8 words, 50 examples x 5 subsets x 2 seeds x 4 max-steps
    "figure5_init_e2e": 9 * SUBSETS * LOW_SEEDS * MAX_STEPS,
    "figure6_data_efficiency": 5 * 2 * LOW_SEEDS,  # 10/20/40/60/80% x prefix, FT
}


def paper_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_paper_config_validates_against_the_schema():
    validate_schema(paper_config())


def test_paper_config_train_jobs_per_experiment():
    config = paper_config()
    from prefix_bench.methods import METHODS

    used = {v.get("method") for e in config["experiments"].values() for v in e["variants"].values()}
    assert used <= set(METHODS), f"the paper config names unregistered methods: {sorted(used - set(METHODS))}"
    assert grid_counts(expand_runs(config)) == EXPECTED_TRAIN_JOBS
    runs = expand_runs(config)
    low = [r for r in runs if r.experiment == "figure3_lowdata_e2e"]
    assert {r.dataset for r in low} == {f"e2e_n{n}_s{s}" for n in (50, 100, 200, 500) for s in range(5)}
    assert {r.spec.train.warmup_steps for r in low} == {100}
    assert {r.spec.train.max_steps for r in low} == {100, 200, 400, 600}
    for name in {r.dataset for r in low}:
        derive = datasets_of(config)[name]["derive"]
        assert name == f"e2e_n{derive['subset_size']}_s{derive['subset_seed']}"
    # Table 6 hyperparameters reach the run specs
    dart = next(r for r in runs if r.experiment == "table2_dart" and r.spec.method == "prefix")
    assert dart.spec.method_config().length == 10 and dart.spec.train.lr == 5e-5 and dart.spec.train.epochs == 10


def test_every_declared_table_and_figure_names_config_experiments():
    """Paper tables name experiments of the paper config; the laptop study's, of config/laptop.yaml."""
    from prefix_bench.report.specs import load_specs

    configs = {"laptop": "laptop.yaml"}
    for name, spec in load_specs().items():
        config_file = configs.get(spec.target, "config.yaml")
        experiments = yaml.safe_load((REPO / "config" / config_file).read_text())["experiments"]
        unknown = [e for e in spec.experiments if e not in experiments]
        assert not unknown, f"{name}: experiments {unknown} are not in config/{config_file}"


def test_identical_runs_train_once_and_read_the_same_outputs():
    """The paper grid's 895 runs hold 853 distinct trainings: Figure 5's 40 "table-to-text:" runs
    are Figure 3's prefix runs, Figure 4's XSum L=100 and DART L=10 are Tables 3's and 2's."""
    from prefix_bench.experiments import reported_elsewhere, trained_runs

    config = paper_config()
    runs = expand_runs(config)
    trained = trained_runs(runs)
    assert len(runs) == 895 and len(trained) == 853
    assert len({r.identity() for r in trained}) == 853  # no two trainings alike
    by_id = {r.run_id: r for r in runs}
    shared = reported_elsewhere(runs)
    assert sorted({by_id[i].experiment for i in shared}) == ["figure4_length_dart", "figure4_length_xsum",
                                                              "figure5_init_e2e"]
    for run_id, where in shared.items():
        alias, owner = by_id[run_id], by_id[where["trained_in"]]
        assert owner.trained_in is None and alias.directory == owner.directory
        assert alias.spec.config_hash() == owner.spec.config_hash() and alias.experiment != owner.experiment
    dart = by_id["figure4_length_dart/gpt2-medium-prefix-length10-s1"]
    assert dart.trained_in == "table2_dart/gpt2-medium-prefix-s1"


def test_paper_config_uses_the_papers_hyperparameters():
    """Every row of ACL Table 6 (prefix_bench/resources/paper_hyperparameters.csv) is what the
    paper config's Table 2/3 runs train with: learning rate, epochs, batch size, prefix length
    and MLP width."""
    import csv

    from prefix_bench.report.records import PAPER_RESULTS

    table6 = PAPER_RESULTS.parent / "paper_hyperparameters.csv"
    experiment = {"e2e": "table2_e2e", "webnlg2017": "table2_webnlg", "dart": "table2_dart", "xsum": "table3_xsum"}
    label = {"prefix": ("Prefix-0.1%", "Prefix-2%"), "finetune": ("FT-full",), "finetune-top2": ("FT-top2",),
             "adapter-3%": ("Adapter-3%",), "adapter-0.1%": ("Adapter-0.1%",)}
    runs = expand_runs(paper_config())
    rows = list(csv.DictReader(table6.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 16
    for row in rows:
        matching = [r for r in runs if r.experiment == experiment[row["dataset"]]
                    and r.spec.paper.get("method") in label[row["method"]]]
        if row["method"] == "prefix":  # the prefix row gives the length of the table's main prefix run
            matching = [r for r in matching if r.spec.method_config().length == int(row["prefix_length"])]
            assert {r.spec.method_config().mid_dim for r in matching} == {int(row["mid_dim"])}
        assert matching, row
        for run in matching:
            got = (run.spec.train.lr, run.spec.train.epochs, run.spec.train.batch_size)
            assert got == (float(row["lr"]), int(row["epochs"]), int(row["batch_size"])), (run.run_id, row)


def test_a_derive_grid_stands_for_its_members():
    config = copy.deepcopy(BASE)
    for n in (50, 100):
        for s in (0, 1, 2):
            del config["datasets"][f"e2e_n{n}_s{s}"]
    config["datasets"]["e2e_low"] = {"derive_grid": {"from": "e2e", "subset_size": [50, 100], "subset_seed": [0, 1, 2],
                                                     "name": "e2e_n{subset_size}_s{subset_seed}"}}
    config["experiments"]["lowdata"]["datasets"] = ["e2e_low"]
    validate_schema(config)
    assert [r.run_id for r in expand_runs(config)] == [r.run_id for r in expand_runs(BASE)]
    assert datasets_of(config)["e2e_n100_s2"]["derive"] == {"from": "e2e", "subset_size": 100, "subset_seed": 2}
    assert sorted(dataset_kinds(config)["derived"]) == sorted(dataset_kinds(BASE)["derived"])
    config["datasets"]["e2e_low"]["derive_grid"]["name"] = "e2e_n{subset_size}"  # seeds would collide
    with pytest.raises(PrefixBenchError, match="same name"):
        expand_runs(config)
