"""A job's GPU memory, estimated before it runs, so `with-device` can seat several on one GPU.

A GPT-2-medium prefix run at the paper's batch peaks near 3 GB on a 141 GB H200 (README: GPU
figures), so one job per GPU leaves it mostly empty. `with-device --slots-per-device auto` divides
a GPU's memory by this estimate. The estimate is deliberately generous (it only decides how many
jobs may share a GPU; a job that does not fit fails with CUDA OOM and Snakemake retries it):

    frozen LM weights           params x (2 bytes bf16 | 4 bytes fp32)
    trained parameters          x 16 bytes (fp32 weight, gradient, two AdamW moments)
    activations                 batch x tokens x layers x width x 34 bytes (bf16: 17), kept for backward
    workspace                   1 GiB (CUDA context, allocator slack, logits)

Checked against the H200 measurements (GPT-2 medium, batch 10): prefix-tuning measured 3.1 GB
with fp32 weights and 1.7 GB in bf16, estimated 4.1 and 2.6 GB; full fine-tuning measured 6.9 GB,
estimated 9.3 GB. Models it does not know give None (the job then takes a whole GPU). Torch-free:
the Snakefile calls it for every job.
"""

from __future__ import annotations

from .config import RunSpec

#: (parameters, layers, width) of the hub models the paper uses, from their configs
KNOWN_MODELS: dict[str, tuple[int, int, int]] = {
    "gpt2": (124_439_808, 12, 768),
    "gpt2-medium": (354_823_168, 24, 1024),
    "gpt2-large": (774_030_080, 36, 1280),
    "facebook/bart-large": (406_291_456, 24, 1024),
    "bart-large": (406_291_456, 24, 1024),
}
#: share of the LM's parameters each method trains (the rest stays frozen)
TRAINED_SHARE = {"finetune": 1.0, "finetune_top2": 0.08, "adapter": 0.03, "lora": 0.01, "prefix": 0.03,
                 "prefix_bart": 0.03, "prefix_emb": 0.01, "infix": 0.03}
WORKSPACE_MB = 1024


def estimate_gpu_mem_mb(spec: RunSpec, runs: int = 1,
                        known: dict[str, tuple[int, int, int]] = KNOWN_MODELS) -> int | None:
    """Peak GPU memory (MB) of training `spec` (`runs` such runs packed over one LM: the weights
    once, the trained parts and activations `runs` times), or None for a model not in `known`."""
    shape = known.get(spec.model) or known.get(spec.model_path)
    if shape is None:
        return None
    params, layers, width = shape
    bf16 = spec.train.precision == "bf16"
    trained = params * TRAINED_SHARE.get(spec.method, 0.0)
    weights = params * (2 if bf16 else 4)
    tokens = spec.train.max_source_tokens + spec.train.max_target_tokens
    tokens = min(tokens, 1024 if "bart" not in spec.model else 1024 + 256)
    # E2E-like pairs are far shorter than the caps: a quarter of them is a fair typical batch width
    typical_tokens = max(64, tokens // 4)
    activations = spec.train.batch_size * typical_tokens * layers * width * (17 if bf16 else 34)
    total = weights + runs * (trained * 16 + activations)
    return int(total / 2**20) + WORKSPACE_MB
