"""Config validation and the experiment grid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from prefix_bench.config import parse_run_spec
from prefix_bench.errors import PrefixBenchError
from prefix_bench.experiments import expand_runs

REPO = Path(__file__).resolve().parents[1]


def base_spec(**over):
    spec = {"run_id": "e/r", "experiment": "e", "dataset": "e2e", "model": "m", "model_path": "gpt2",
            "method": "prefix"}
    spec.update(over)
    return spec


@pytest.mark.parametrize("over,message", [
    ({"method_options": {"lenght": 5}}, r"method_options: unknown key 'lenght'; valid keys are: .*length"),
    ({"method_options": {"reparametrize": "yes"}}, r"method_options.reparametrize: expected true/false"),
    ({"method_options": {"objective": "max"}}, r"method_options.objective: 'max' is not one of 'sum', 'mean'"),
    ({"train": {"lr": -1}}, r"train.lr: must be > 0"),
    ({"train": {"batchsize": 4}}, r"train: unknown key 'batchsize'"),
    ({"method": "prefx"}, r"unknown method 'prefx'; valid methods: prefix"),
])
def test_bad_spec_fails_with_one_line(over, message):
    with pytest.raises(PrefixBenchError, match=message) as err:
        parse_run_spec(base_spec(**over))
    assert "\n" not in str(err.value)


def test_paper_config_lists_e2e_prefix_and_finetune_for_gpt2_medium():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    runs = {(r.spec.model, r.spec.method) for r in expand_runs(config) if r.experiment == "table2_e2e"}
    assert {("gpt2-medium", "prefix"), ("gpt2-medium", "finetune")} <= runs
    prefix = next(r for r in expand_runs(config) if r.spec.method == "prefix")
    assert prefix.spec.method_config().length == 5 and prefix.spec.train.lr == 8e-5  # Table 6


def test_config_hash_ignores_names_but_not_settings():
    a = parse_run_spec(base_spec())
    b = parse_run_spec(base_spec(run_id="other/name", experiment="other"))
    c = parse_run_spec(base_spec(method_options={"length": 6}))
    assert a.config_hash() == b.config_hash() != c.config_hash()


def test_config_layer_and_command_overview_need_no_torch():
    """Snakemake imports prefix_bench.config on every parse, and `prefix-bench --help` is the
    first thing a user runs: neither may pay for importing torch or transformers."""
    import subprocess
    import sys

    probe = ("import sys, contextlib, io\n"
             "import prefix_bench.config, prefix_bench.experiments\n"
             "from prefix_bench.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
             "    main(['--help'])\n"
             "heavy = sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules)\n"
             "print(heavy, 'train' in out.getvalue())\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[0] == "[] True"


def test_command_overview_says_what_each_stage_module_says():
    from prefix_bench.cli import COMMANDS, SUMMARIES, build_parser

    assert list(SUMMARIES) == list(COMMANDS)
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert {a.dest: a.help for a in sub._choices_actions} == SUMMARIES
