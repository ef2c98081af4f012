"""The weights a token passes through in a model, counted on the meta device (no weights loaded).

A model is named by a hashable `source` tuple so its shape is built once per plan:
("named", a models/accounting.py SHAPES key), ("dir", a local model directory) or
("gpt2"|"bart", JSON of the config fields) for a gpu-check's random-weight models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import PrefixBenchError
from ..experiments import model_path

Source = tuple[str, str]


@dataclass(frozen=True)
class Shape:
    """The weights a token passes through (embeddings excluded), as counted on the meta device."""

    seq2seq: bool
    d: int
    layers: int  # decoder blocks (GPT-2: its blocks)
    body: int  # weights every decoder-side token passes (blocks + final norm; BART: minus cross K/V)
    head: int  # the LM head's matmul (vocab x d)
    enc_layers: int = 0
    enc: int = 0  # BART: encoder weights, per source token
    cross_kv: int = 0  # BART: the decoder's cross-attention K/V projections, per source token


def model_source(config: dict, model: str) -> Source:
    """Where `model`'s shape comes from: the paper shapes of models/accounting.py by name, else the
    config.json of its local directory."""
    from ..models.accounting import SHAPES

    entry = config.get("models", {}).get(model, {})
    for name in (model, Path(str(entry.get("path") or "")).name):
        if name in SHAPES:
            return ("named", name)
    local = Path(model_path(config, model))
    if (local / "config.json").is_file():
        return ("dir", str(local))
    raise PrefixBenchError(f"model {model!r}: shape unknown (not one of {', '.join(SHAPES)}, no {local}/config.json); "
                           "build or download it first (snakemake download_models / build_model)")


@lru_cache(maxsize=None)
def shape_of(source: Source) -> Shape:
    """The shape of the model `source` names (cached: one meta model per source and plan)."""
    lm = _meta_lm(source)
    head = lm.get_output_embeddings().weight.numel()
    d = lm.config.hidden_size
    if getattr(lm.config, "is_encoder_decoder", False):
        enc = cross = body = 0
        for name, p in lm.named_parameters():
            if ".encoder.layers." in name or ".encoder.layernorm." in name:
                enc += p.numel()
            elif ".encoder_attn.k_proj." in name or ".encoder_attn.v_proj." in name:
                cross += p.numel()
            elif ".decoder.layers." in name or ".decoder.layernorm." in name:
                body += p.numel()
        return Shape(True, d, lm.config.decoder_layers, body, head, lm.config.encoder_layers, enc, cross)
    from ..methods.blocks import final_norm, transformer_blocks

    blocks = transformer_blocks(lm)
    body = sum(p.numel() for p in blocks.parameters()) + sum(p.numel() for p in final_norm(lm).parameters())
    return Shape(False, d, len(blocks), body, head)


@lru_cache(maxsize=None)
def trainable_weights(source: Source, method: str, options_json: str) -> int:
    """Trainable weights of `method` (with its JSON options) on the meta model: what adapters,
    LoRA and FT-top2 train, counted by the method itself."""
    import torch

    from ..methods import build_method

    with torch.device("meta"):
        return int(build_method(method, _meta_lm(source), json.loads(options_json)).parameter_counts()["trainable"])


def _meta_lm(source: Source):
    """A new meta-device LM for `source` (see the module docstring)."""
    import torch

    kind, value = source
    if kind == "named":
        from ..models.accounting import meta_lm

        return meta_lm(value)
    with torch.device("meta"):
        if kind == "dir":
            from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

            config = AutoConfig.from_pretrained(value)
            auto = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
            return auto.from_config(config)
        from transformers import BartConfig, BartForConditionalGeneration, GPT2Config, GPT2LMHeadModel

        fields = json.loads(value)
        if kind == "bart":
            return BartForConditionalGeneration(BartConfig(**fields))
        return GPT2LMHeadModel(GPT2Config(**fields))
