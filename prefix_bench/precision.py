"""Numeric precision of training and decoding: a named option, applied in one place, recorded.

The paper trained in fp32. On a tensor-core GPU bf16 is several times faster (README: GPU
figures), so `precision: bf16` is offered and is the default, and every run and prediction file
records what actually ran:

- "bf16" on CUDA: bf16 autocast, and the weights that do not train (the frozen LM of
  prefix-tuning, adapters, FT-top2's lower layers) are held in bf16, so they are not re-cast on
  every step. The trained parameters, their gradients and the optimizer state stay fp32.
- "fp32": full fp32 (the paper's setting); `tf32: true` lets fp32 matmuls use TF32 tensor cores
  (10-bit mantissa, about 1e-3 relative error).
- On the CPU both train and decode in fp32 whatever the option says (recorded as such).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn


def bf16_active(device: torch.device, precision: str) -> bool:
    return device.type == "cuda" and precision == "bf16"


def autocast(device: torch.device, precision: str = "bf16"):
    """The forward's precision context: bf16 autocast on CUDA under "bf16", else nothing."""
    if bf16_active(device, precision):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def apply(model: nn.Module, device: torch.device, precision: str, tf32: bool) -> dict:
    """Set the process's TF32 switch and hold `model`'s frozen weights in bf16 when bf16 runs;
    return what ran, for run.json and the predictions' record."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    if bf16_active(device, precision):
        with torch.no_grad():
            for p in model.parameters():
                if not p.requires_grad and p.is_floating_point():
                    p.data = p.data.to(torch.bfloat16)
    return describe(device, precision, tf32)


def describe(device: torch.device, precision: str, tf32: bool) -> dict:
    """What `apply` sets up on `device`, as recorded in run.json and the predictions' record."""
    bf16 = bf16_active(device, precision)
    return {"compute": "bf16-autocast" if bf16 else "fp32", "frozen_weights": "bfloat16" if bf16 else "float32",
            "trained_parameters": "float32", "tf32_matmul": bool(tf32 and device.type == "cuda"),
            "requested": precision}
