"""Who made this number: code, environment, hardware and inputs, written beside every output.

Volatile facts (git commit, time, GPU) live here and in the files it writes, never in Snakemake
`params:` (they would force reruns).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path

PACKAGES = ("prefix-bench", "torch", "transformers", "peft", "tokenizers", "sacrebleu",
            "rouge-score", "pycocoevalcap", "snakemake")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


#: where code lives: an untracked file here (a new module, a local patch) changes what runs
CODE_PATHS = ("prefix_bench", "workflow", "Snakefile", "pyproject.toml")


def git_state(repo: Path | None = None) -> dict:
    """Commit and dirty flag of the code that runs (None when not in a git checkout). Dirty means
    modified tracked files anywhere, or untracked files among the code (listed)."""
    repo = repo or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, check=True).stdout
        untracked = subprocess.run(["git", "-C", str(repo), "ls-files", "--others", "--exclude-standard", "--",
                                    *CODE_PATHS], capture_output=True, text=True, check=True).stdout.split()
        return {"commit": commit, "dirty": bool(status.strip() or untracked), "untracked_code": untracked[:20]}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def package_code() -> str:
    """sha256 of the package's own source (every prefix_bench/**/*.py, path and bytes): what the
    report compares to tell whether two runs ran the same code, whatever the repository around it
    (a commit to the README or a config changes no number)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def code_version() -> dict:
    """The code that made an output: git state, the package's own code and its version (for
    predictions and scores)."""
    return {**git_state(), "package_code": package_code(), "prefix_bench": package_versions()["prefix-bench"]}


def package_versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def hardware() -> dict:
    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def environment() -> dict:
    """Code, packages and hardware in one dict."""
    return {"git": git_state(), "package_code": package_code(), "versions": package_versions(),
            "hardware": hardware()}
