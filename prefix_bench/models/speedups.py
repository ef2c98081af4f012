"""Speed switches for the frozen LM that keep its function: same maths, fewer or better-shaped kernels.

Each one is a named option (`train.fused_gelu`, `generate.fused_gelu`, `train.target_only_head`,
`train.fused_adamw`) recorded with the run, and each has a test that the fast path gives the plain
path's numbers up to float rounding (tests/test_perf_train.py). What they win: `prefix-bench bench`.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.activations import GELUTanh, NewGELUActivation

#: vocabulary columns per LM-head matmul on CPU. One [N, d] x [d, 50257] sgemm reaches about half
#: of the matmul peak (the wide output defeats the BLAS cache blocking); 1024-column slices written
#: into one output buffer reach ~88% (measured on the 2-core dev machine, GPT-2 small shapes).
HEAD_CHUNK_CPU = 1024


def fuse_gelu(lm: nn.Module) -> int:
    """Replace GPT-2's `gelu_new` modules (eight elementwise ops, each kept for backward) by
    PyTorch's fused tanh-GELU kernel: the same formula, one op forward and one backward.
    Returns how many modules were replaced (0 for models with other activations)."""
    replaced = 0
    for parent in lm.modules():
        for name, child in parent.named_children():
            if isinstance(child, NewGELUActivation):
                setattr(parent, name, GELUTanh())
                replaced += 1
    return replaced


class _ChunkedLinear(torch.autograd.Function):
    """y = x W^T (+ b) computed in column slices of W; backward as one matmul each (long K is fine)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, chunk: int):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        out = x.new_empty(x.shape[0], weight.shape[0])
        for start in range(0, weight.shape[0], chunk):
            torch.mm(x, weight[start : start + chunk].t(), out=out[:, start : start + chunk])
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad_x = grad @ weight if ctx.needs_input_grad[0] else None
        grad_w = grad.t() @ x if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None


def chunked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                   chunk: int = HEAD_CHUNK_CPU) -> torch.Tensor:
    """`F.linear(x, weight, bias)` for 2-D `x`, computed in slices of `chunk` output columns."""
    if x.dim() != 2:
        raise ValueError(f"chunked_linear takes [N, d] inputs, got {tuple(x.shape)}")
    if weight.shape[0] <= chunk:
        return nn.functional.linear(x, weight, bias)
    return _ChunkedLinear.apply(x, weight, bias, chunk)
