"""The Snakemake workflow without running a job: every rule is deployable (conda, log, benchmark,
resources), the conda files exist and pin what pyproject.toml pins, `snakemake --lint` and
`snakefmt --check` are clean, the profiles parse and dry-run, and config/README.md documents
every config key.

No conda is needed: Snakemake 9.27.1 fails at DAG build with --use-conda when conda is absent,
so the env files are checked as files here and never passed to --use-conda.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from test_workflow_demo import copy_workflow

REPO = Path(__file__).resolve().parents[1]
RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))
GPU_RULES = {"train_run", "generate_outputs"}
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def rule_blocks() -> dict[str, str]:
    """rule name -> its text (from `rule NAME:` to the next top-level statement)."""
    blocks = {}
    for path in RULE_FILES:
        for m in re.finditer(r"^rule (\w+):\n((?:[ \t].*\n|\n)*)", path.read_text(), re.M):
            blocks[m.group(1)] = m.group(2)
    return blocks


def conda_files() -> dict[str, Path]:
    """rule name -> the env file its conda: directive names (relative to workflow/rules/)."""
    out = {}
    for name, body in rule_blocks().items():
        m = re.search(r"^\s+conda:\n\s+\"([^\"]+)\"", body, re.M)
        if m:
            out[name] = (REPO / "workflow" / "rules" / m.group(1)).resolve()
    return out


_WORKDIR: list[Path] = []


def workflow_copy() -> Path:
    """One temporary copy of the workflow for this module's Snakemake calls: a dry run in the
    repository would see (and lock) the user's own results/ and .snakemake/."""
    if not _WORKDIR:
        _WORKDIR.append(copy_workflow(Path(tempfile.mkdtemp(prefix="prefix-bench-static-"))))
    return _WORKDIR[0]


def snakemake(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_WAIT_POLICY="PASSIVE")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd or workflow_copy(), env=env,
                          capture_output=True, text=True, timeout=timeout)


# --- rules ---------------------------------------------------------------------------------------

def test_every_rule_is_deployable():
    blocks = rule_blocks()
    assert {"prepare_data", "build_model", "train_run", "generate_outputs", "score_outputs",
            "all_runs_table"} <= set(blocks)
    for name, body in blocks.items():
        if re.search(r"^\s+run:", body, re.M):  # runs inside Snakemake's own process: no env, local
            assert any(re.search(rf"^localrules:\n(\s+\w+,\n)*\s+{name},", f.read_text(), re.M)
                       for f in RULE_FILES), f"in-process rule {name} must be a localrule"
            continue
        for directive in ("conda", "log", "benchmark", "resources"):
            assert re.search(rf"^\s+{directive}:", body, re.M), f"rule {name} has no {directive}:"
        assert "mem_mb=" in body and "runtime=" in body, f"rule {name}: resources need mem_mb and runtime"
        if name in GPU_RULES:
            assert "gpu=" in body, f"rule {name} must request its GPU"
            assert ("python -m prefix_bench.cli with-device --device {params.device} \"\n"
                    '        "--job-mem-mb {resources.gpu_mem_mb} --slots-per-device {resources.gpu_slots} -- "') in body, \
                f"rule {name} must take its GPU through the device-slot helper"
        if re.search(r"^\s+retries:", body, re.M):
            assert "attempt" in body, f"rule {name} retries without scaling resources by attempt"


def test_downloads_are_local_and_throttled():
    data = (REPO / "workflow" / "rules" / "data.smk").read_text()
    assert re.search(r"^localrules:\n\s+prepare_data,", data, re.M)
    assert "download=1" in rule_blocks()["prepare_data"]


# --- conda environments --------------------------------------------------------------------------

def _pyproject_requirements() -> dict[str, Requirement]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = [Requirement(d) for d in deps]
    return {r.name.lower().replace("_", "-"): r for r in reqs}


def test_conda_envs_exist_parse_and_pin():
    files = conda_files()
    shell_rules = {n for n, body in rule_blocks().items() if not re.search(r"^\s+run:", body, re.M)}
    assert set(files) == shell_rules, "every rule that runs a command needs a conda: env"
    for rule, path in files.items():
        assert path.is_file(), f"rule {rule}: {path} does not exist"
        env = yaml.safe_load(path.read_text())
        assert env["channels"][0] == "conda-forge", path
        pip = []
        for dep in env["dependencies"]:
            if isinstance(dep, dict):
                pip += dep["pip"]
                continue
            assert re.fullmatch(r"[A-Za-z0-9_.-]+=\d[\w.*]*", dep), f"{path.name}: conda dep {dep!r} is not pinned"
        assert any(str(d).startswith("python=") for d in env["dependencies"]), path
        # no relative install: it would resolve against --conda-prefix, not the repository; the
        # rules run the repository's package through PYTHONPATH instead
        assert not any(line.startswith("-e") or "../" in line for line in pip), f"{path.name}: {pip}"
        for line in pip:
            if line.startswith(("-e ", "--extra-index-url ", "--index-url ")):
                continue
            req = Requirement(line)
            pins = [s for s in req.specifier if s.operator == "=="]
            assert pins, f"{path.name}: pip dep {line!r} is not pinned with =="


def test_conda_env_pins_agree_with_pyproject():
    project = _pyproject_requirements()
    for path in set(conda_files().values()):
        env = yaml.safe_load(path.read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        pinned = {}
        for line in pip:
            if line.startswith("-"):
                continue
            req = Requirement(line)
            pinned[req.name.lower().replace("_", "-")] = next(iter(req.specifier)).version
        missing = sorted(set(project) - set(pinned))
        assert not missing, f"{path.name} does not pin {missing} (pyproject.toml dependencies)"
        for name, req in project.items():
            assert req.specifier.contains(pinned[name], prereleases=True), \
                f"{path.name}: {name}=={pinned[name]} violates pyproject's {req.specifier}"


def test_java_where_metrics_need_it():
    files = conda_files()
    for rule in ("score_outputs", "prepare_data"):
        deps = yaml.safe_load(files[rule].read_text())["dependencies"]
        assert any(str(d).startswith("openjdk=") for d in deps), f"rule {rule}'s env lacks openjdk"


# --- hygiene -------------------------------------------------------------------------------------

def test_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_check():
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    if snakefmt is None:
        pytest.skip("snakefmt is not installed (pip install -e '.[dev]')")
    result = subprocess.run([snakefmt, "--check", "Snakefile", "workflow"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_is_json_schema_2020_12():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


# --- profiles and dry runs -----------------------------------------------------------------------

def test_profiles_parse_and_stay_conda_free():
    names = {p.name for p in (REPO / "profiles").iterdir() if p.is_dir()}
    assert {"default", "local-gpu", "slurm", "ci"} <= names
    for name in names:
        prof = yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())
        # conda is opt-in on the command line (--sdm conda): a profile that enables it breaks every
        # machine without conda at DAG build (Snakemake 9.27.1).
        assert not {"use-conda", "sdm", "software-deployment-method"} & set(prof), name
        assert prof.get("resources", {}).get("download") == 1, f"profile {name}: downloads not throttled"
    default = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    assert "executor" not in default and "cores" not in default
    slurm = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert slurm["executor"] == "slurm"
    assert {"slurm_partition", "slurm_account", "mem_mb", "runtime"} <= set(slurm["default-resources"])
    assert {"train_run", "generate_outputs"} <= set(slurm["set-resources"])


def _jobs(dry_run_output: str) -> dict[str, list[str]]:
    """rule -> resources lines of each job in a dry run's output."""
    jobs: dict[str, list[str]] = {}
    for m in re.finditer(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", dry_run_output, re.M):
        res = re.search(r"^    resources: (.*)$", m.group(2), re.M)
        jobs.setdefault(m.group(1), []).append(res.group(1) if res else "")
    return jobs


def test_dry_run_paper_config_default_profile():
    result = snakemake("-n", "--cores", "2", "--configfile", "config/config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = _jobs(result.stdout)
    assert jobs["train_run"] and jobs["generate_outputs"]
    for rule in GPU_RULES:
        assert all("gpu=1" in r for r in jobs[rule]), f"{rule} must ask for a GPU in the paper config"


def test_dry_run_demo_asks_for_no_gpu():
    result = snakemake("-n", "--workflow-profile", "profiles/ci", "--configfile", "config/smoke.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = _jobs(result.stdout)
    for rule in GPU_RULES:
        assert all("gpu=0" in r for r in jobs[rule]), f"{rule}: train.device cpu must not request a GPU"


def test_dry_run_paper_config_slurm_profile():
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        if CI:
            raise
        pytest.skip("snakemake-executor-plugin-slurm is not installed (pip install snakemake-executor-plugin-slurm==2.8.0)")
    result = snakemake("-n", "--executor", "slurm", "--workflow-profile", "profiles/slurm",
                       "--configfile", "config/config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = _jobs(result.stdout)
    assert all("gpu=1" in r and "runtime=720" in r for r in jobs["train_run"])
    assert all("slurm_partition=" in r for rule in jobs for r in jobs[rule] if rule not in ("all", "download_model"))


def test_pack_jobs_land_where_the_profile_puts_train_and_generate_jobs(tmp_path):
    """A cluster profile places train_run and generate_outputs (`set-resources`: partition, GPU
    model); the pack rules, whose names it cannot know, go to the same place."""
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config["packing"] = {"max_runs": 2}
    config["experiments"]["smoke"]["seeds"] = [1, 2]
    (tmp_path / "packed.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "config.yaml").write_text(yaml.safe_dump({"set-resources": {
        "train_run": {"slurm_partition": "gpu-train", "gpu_model": "a100"},
        "generate_outputs": {"slurm_partition": "gpu-decode"}}}))
    result = snakemake("-n", "--cores", "2", "--workflow-profile", str(tmp_path / "profile"),
                       "--configfile", str(tmp_path / "packed.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = _jobs(result.stdout)
    train_packs = [r for rule, rs in jobs.items() if rule.startswith("train_pack_") for r in rs]
    decode_packs = [r for rule, rs in jobs.items() if rule.startswith("generate_pack_") for r in rs]
    assert train_packs and decode_packs
    assert all("slurm_partition=gpu-train" in r and "gpu_model=a100" in r for r in train_packs + jobs["train_run"])
    assert all("slurm_partition=gpu-decode" in r and "gpu_model" not in r for r in decode_packs)


def test_download_models_fetches_every_hub_model_at_its_pinned_revision():
    """`snakemake download_models` (a local rule, for a machine with internet) fetches the paper's
    three hub models at the config's commits; the training jobs then read those directories."""
    import yaml

    result = snakemake("-n", "-p", "download_models", "--cores", "1", "--configfile", "config/config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(_jobs(result.stdout)["download_model"]) == 3
    models = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["models"]
    for name, entry in models.items():
        assert f"--repo {entry['path']} --revision {entry['revision']} --out results/models/{name}" in result.stdout


# --- config documentation ------------------------------------------------------------------------

def _keys(node, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            out.add(str(key))
            _keys(value, out)
    elif isinstance(node, list):
        for item in node:
            _keys(item, out)
    return out


def test_config_readme_documents_every_key():
    from prefix_bench.config import GenerateOptions, TrainOptions
    from prefix_bench.methods import METHODS

    readme = (REPO / "config" / "README.md").read_text()
    keys = set()
    for path in (REPO / "config").glob("*.yaml"):
        config = yaml.safe_load(path.read_text())
        # names chosen by the user (experiments, variants, datasets, models) are not keys
        skip = set(config.get("datasets", {})) | set(config.get("models", {})) | set(config.get("experiments", {}))
        for exp in config.get("experiments", {}).values():
            skip |= set(exp.get("variants", {}))
            skip |= set(exp.get("sweep", {}))  # dotted field paths, e.g. train.max_steps
        keys |= _keys(config, set()) - skip
    for cls in (TrainOptions, GenerateOptions, *(e.config_class for e in METHODS.values())):
        keys |= {f.name for f in dataclasses.fields(cls)}
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys |= set(schema["properties"]) | set(schema["$defs"]["variant"]["properties"])
    undocumented = sorted(k for k in keys if f"`{k}`" not in readme)
    assert not undocumented, f"config/README.md does not document: {undocumented}"


def _config_with(edit) -> Path:
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    edit(config)
    path = workflow_copy() / "config" / "edited.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("edit,expected", [
    (lambda c: c.update(modles=c.pop("models")), "top level: unknown key 'modles'; did you mean 'models'?"),
    (lambda c: c["experiments"]["smoke"].update(seed=[1]), "unknown key 'seed'; did you mean 'seeds'"),
    (lambda c: c["experiments"].update({"my smoke": c["experiments"].pop("smoke")}), "'my smoke' does not match"),
    (lambda c: c["models"].update({"../evil": {"builtin": "tiny-gpt2", "tokenizer_dataset": "e2e"}}),
     "'../evil' does not match"),
    (lambda c: c["experiments"]["smoke"]["variants"].update({"a/b": {"method": "prefix"}}), "'a/b' does not match"),
])
def test_config_structure_errors_are_one_clear_line(edit, expected):
    """A misspelt key or a name that would become a bad path: the first problem in one line, with
    the nearest valid keys."""
    from prefix_bench.config_schema import problem

    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    edit(config)
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    found = problem(config, schema)
    assert found is not None and expected in found and "\n" not in found, found


def test_snakemake_reports_a_config_error_in_one_line_not_the_schema():
    result = snakemake("-n", "--configfile", str(_config_with(lambda c: c.update(modles=c.pop("models")))))
    err = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config top level: unknown key 'modles'; did you mean 'models'?" in err, err[-2000:]
    assert len(err.splitlines()) < 12 and "$defs" not in err, err[-3000:]


def test_rules_run_the_repository_package_not_an_installed_one():
    """Every job command starts the CLI through the repository on PYTHONPATH, so conda envs need
    no install of prefix_bench (a relative `-e ../..` broke under a custom --conda-prefix)."""
    for rule, block in rule_blocks().items():
        shell = block.split("shell:", 1)[1] if "shell:" in block else ""
        if "prefix_bench" in shell or "prefix-bench" in shell:
            assert "python -m prefix_bench." in shell and "prefix-bench " not in shell, rule
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert re.search(r"^shell\.prefix\(\n\s+\"set -euo pipefail; export PYTHONPATH=", common, re.M)


def test_licence_and_workflow_catalog_entry():
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    entry = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    assert entry["usage"]["software-stack-deployment"]["conda"] is True and entry["usage"]["report"] is True
    assert "pip install" in entry["usage"]["mandatory-flags"]["desc"]
