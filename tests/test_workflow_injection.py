"""Config values never reach a shell unquoted: `$(...)`, backticks and `;` planted in every string
field that flows into a rule's command line run nothing."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from test_workflow_demo import copy_workflow, failure_report, run_snakemake


def payload(marker: Path) -> str:
    """A value that runs `touch marker` if it is ever pasted into a shell unquoted."""
    return f"$(touch {marker})x `touch {marker}`; touch {marker}"


def injected_config(workdir: Path, marker: Path) -> Path:
    config = yaml.safe_load((workdir / "config" / "smoke.yaml").read_text())
    bad = payload(marker)
    config["datasets"]["e2e"]["source_dir"] = "prefix_bench/resources/demo/e2e/" + bad
    config["datasets"]["e2e_n20"] = {"derive": {"from": "e2e", "subset_size": 20, "subset_seed": 0}}
    config["models"]["evil"] = {"path": bad}  # a hub id / directory: reaches the train command
    variants = config["experiments"]["smoke"]["variants"]
    variants["prefix_words"] = {"method": "prefix", "method_options": {"init": "words", "init_words": bad}}
    config["experiments"]["smoke"]["models"] = ["tiny-gpt2", "evil"]
    config["experiments"]["smoke"]["description"] = bad
    path = workdir / "config" / "injected.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_planted_shell_code_in_config_values_never_runs(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    marker = tmp_path / "INJECTED"
    config = injected_config(workdir, marker)

    # A real job: preparing the dataset whose source_dir carries the payload fails (no such
    # directory), and nothing of the payload runs.
    result = run_snakemake(workdir, "results/data/e2e/train.jsonl", "--cores", "1", "--configfile", str(config),
                           timeout=300)
    assert result.returncode != 0, failure_report(result)
    assert not marker.exists(), "a config value was executed by the shell"
    log = (workdir / "results" / "logs" / "prepare_data" / "e2e.log").read_text()
    assert "touch" in log and "Traceback" not in log, log  # one line naming the odd directory

    # Every other job's command line: the payload stays inside one shell word wherever it appears.
    dry = run_snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", str(config), timeout=300)
    assert dry.returncode == 0, failure_report(dry)
    commands = [line.strip() for line in dry.stdout.splitlines() if "prefix-bench" in line or "touch" in line]
    carrying = [c for c in commands if "touch" in c]
    assert any("train" in c for c in carrying) and any("prepare" in c for c in carrying), dry.stdout[-3000:]
    for command in carrying:
        words = shlex.split(command)
        assert "touch" not in words and ";" not in words, command
    assert not marker.exists()


def test_leaving_out_a_split_works_and_a_needed_one_is_named_at_load(tmp_path):
    """`splits: [train, test]` (no dev set at hand) prepares through the workflow (the left-out
    split's files exist, empty, and the manifest says so); decoding a split that is not prepared
    fails when the config loads, in one line."""
    import json

    workdir = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((workdir / "config" / "smoke.yaml").read_text())
    config["datasets"]["e2e"]["splits"] = ["train", "test"]
    path = workdir / "config" / "no-dev.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, "results/data/e2e/manifest.json", "--cores", "1", "--configfile", str(path),
                           timeout=300)
    assert result.returncode == 0, failure_report(result)
    manifest = json.loads((workdir / "results" / "data" / "e2e" / "manifest.json").read_text())
    assert manifest["not_prepared"] == ["dev"] and set(manifest["counts"]) == {"train", "test"}
    assert (workdir / "results" / "data" / "e2e" / "dev.eval.jsonl").read_text() == ""

    config["experiments"]["smoke"]["eval_splits"] = ["dev", "test"]
    path.write_text(yaml.safe_dump(config))
    dry = run_snakemake(workdir, "-n", "--configfile", str(path), timeout=300)
    assert dry.returncode != 0
    assert "dataset 'e2e' does not prepare dev (its splits: train, test)" in dry.stdout + dry.stderr
