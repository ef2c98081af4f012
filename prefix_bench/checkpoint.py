"""Resumable training checkpoints: trainable weights, optimizer, RNG and data position.

Kept in `<run dir>/checkpoint/`, outside Snakemake's declared outputs, so a killed job resumes
where it stopped. Everything is safetensors + JSON (no pickle); the directory is replaced
atomically, so a checkpoint is either the previous one or the new one, never half of each.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .errors import PrefixBenchError

STATE = "state.safetensors"
META = "state.json"


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def save(directory: Path, model_state: dict, optimizer: torch.optim.Optimizer, meta: dict) -> None:
    """Write a checkpoint to `directory` atomically (old one replaced only when the new is whole)."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model_state.items()}
    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    save_file(tensors, str(tmp / STATE))
    (tmp / META).write_text(json.dumps({**meta, "optimizer": opt_meta}, indent=2), encoding="utf-8")
    old = directory.with_name(directory.name + ".old")
    if directory.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def load(directory: Path) -> tuple[dict, dict, dict] | None:
    """(model_state, optimizer_state_dict-ish, meta) or None when there is no checkpoint."""
    if not (directory / META).is_file():
        old = directory.with_name(directory.name + ".old")  # killed between the two renames
        if (old / META).is_file():
            directory = old
        else:
            return None
    try:
        meta = json.loads((directory / META).read_text(encoding="utf-8"))
        tensors = load_file(str(directory / STATE))
    except Exception as err:  # corrupt file: safetensors/json raise various types
        raise PrefixBenchError(
            f"{directory}: corrupt checkpoint ({type(err).__name__}); delete the directory to restart"
        ) from None
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    opt_state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            opt_state.setdefault(int(idx), {})[name] = value
    for key, value in meta["optimizer"]["scalars"].items():
        idx, name = key.split(".", 1)
        opt_state.setdefault(int(idx), {})[name] = value
    meta["rng"] = {k: v for k, v in tensors.items() if k.startswith("rng.")}
    optimizer_sd = {"state": opt_state, "param_groups": meta["optimizer"]["param_groups"]}
    return model_state, optimizer_sd, meta


def restore_rng(rng: dict) -> None:
    torch.set_rng_state(rng["rng.torch"])
    cuda = [rng[k] for k in sorted(rng) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def remove_partial(directory: Path) -> None:
    """Delete the temporary directories of checkpoint writes that a kill interrupted (they are
    never read; only whole checkpoints are renamed into place)."""
    for path in directory.parent.glob(f".{directory.name}.*"):
        shutil.rmtree(path, ignore_errors=True)


def remove(directory: Path) -> None:
    """Delete a checkpoint (and leftovers of interrupted writes and replacements)."""
    for path in (directory, directory.with_name(directory.name + ".old")):
        shutil.rmtree(path, ignore_errors=True)
    remove_partial(directory)
