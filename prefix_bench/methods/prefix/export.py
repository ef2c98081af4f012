"""Storing a trained prefix: the ejected table as safetensors, and PEFT's prefix-tuning format.

After training only the prefix itself is needed (paper section 4.3): the table
[L, n_layer * 2 * kv_heads * head_dim] that the MLP produces ("0.1%": 245,760 values for L=5 on
GPT-2 medium). Its flat layout [L, n_layer, 2 (K, V), kv_heads, head_dim] is also PEFT's
`prompt_embeddings` layout, so the same tensor is a PEFT prefix-tuning adapter.

PEFT differences (measured, tests/test_methods_export.py): PEFT's forward applies the prefix
through the cache; on transformers 5 GPT-2 then places real tokens at positions L.. (offset), like
our default `position_offset: true`, but counted from the cache length, not
from the attention mask: left-padded rows get other positions than ours (right padding agrees).
PEFT's cached `generate()` does not decode with the prefix (its first token already differs from
its own forward pass); use its forward, or `generate(use_cache=False)` (our tokens, tested), for
comparisons.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ...errors import PrefixBenchError
from .model import PrefixTuning, kv_geometry


def save_prefix(method: PrefixTuning, path: Path) -> None:
    """Write the ejected table [L, n_layer*2*kv_dim] with its geometry in the metadata."""
    with torch.no_grad():
        table = method._require_prefix().flat().detach().cpu().contiguous()
    n_layer, kv_heads, head_dim, _ = kv_geometry(method.lm.config)
    meta = {"length": method.prefix_length, "n_layer": n_layer, "kv_heads": kv_heads,
            "head_dim": head_dim, "position_offset": method.config.position_offset}
    save_file({"prefix": table}, str(path), metadata={"prefix_bench": json.dumps(meta)})


def load_prefix(method: PrefixTuning, path: Path) -> None:
    """Eject `method` (MLP -> table) and load a table written by `save_prefix`."""
    with safe_open(str(path), "pt") as f:
        table = f.get_tensor("prefix")
        meta = json.loads((f.metadata() or {}).get("prefix_bench", "{}"))
    method.eject()
    own = method.prefix.table
    if table.shape != own.shape:
        raise PrefixBenchError(f"{path}: prefix table {tuple(table.shape)} != this model's {tuple(own.shape)}")
    if meta.get("position_offset", method.config.position_offset) != method.config.position_offset:
        raise PrefixBenchError(f"{path}: saved with position_offset={meta['position_offset']}")
    with torch.no_grad():
        own.copy_(table.to(own.device, own.dtype))


def export_peft(method: PrefixTuning, out_dir: Path, base_model: str = "") -> None:
    """Write `out_dir` as a PEFT prefix-tuning adapter (`PeftModel.from_pretrained(lm, out_dir)`)."""
    from peft import PrefixTuningConfig

    n_layer, kv_heads, head_dim, _ = kv_geometry(method.lm.config)
    # PEFT sizes a prefix by its K/V heads (grouped-query attention: kv_heads < heads), exactly our
    # table's layout [L, n_layer, 2, kv_heads, head_dim]; without GQA this is (hidden, heads).
    config = PrefixTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=method.prefix_length, token_dim=kv_heads * head_dim,
        num_layers=n_layer, num_attention_heads=kv_heads,
        num_transformer_submodules=1, prefix_projection=False, base_model_name_or_path=base_model or None,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(out_dir))
    with torch.no_grad():
        table = method._require_prefix().flat().detach().cpu().contiguous()
    save_file({"prompt_embeddings": table}, str(out_dir / "adapter_model.safetensors"))
