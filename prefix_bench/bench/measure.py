"""Clocks and FLOP counting for the bench: the machine's matmul peak, FLOPs of a step (counted on
an untimed step) and the time of a step (no counter around it)."""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch.utils.flop_counter import (
    FlopCounterMode,
    flop_registry,
    register_flop_formula,
    sdpa_backward_flop_count,
    sdpa_flop_count,
)

_aten = torch.ops.aten


def _count_cpu_attention() -> None:
    """torch counts SDPA's FLOPs for its GPU kernels only; the CPU flash kernel does the same two
    matmuls (QK^T, PV; backward ~2.5x), so count them alike: they are FLOPs the step really does."""
    forward = _aten._scaled_dot_product_flash_attention_for_cpu
    backward = _aten._scaled_dot_product_flash_attention_for_cpu_backward
    if forward not in flop_registry:
        register_flop_formula(forward)(
            lambda q, k, v, *args, out_shape=None, **kwargs: sdpa_flop_count(q, k, v))
    if backward not in flop_registry:
        register_flop_formula(backward)(
            lambda g, q, k, v, *args, out_shape=None, **kwargs: sdpa_backward_flop_count(g, q, k, v))


_count_cpu_attention()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, sizes: tuple[int, ...]) -> float:
    """Best FLOP/s of square matmuls of `sizes` in this process (fp32 on CPU, bf16 on GPU)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        for i in range(6):
            sync(device)
            t0 = time.perf_counter()
            torch.mm(a, b)
            sync(device)
            if i:  # first call warms up
                best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def count_flops(step: Callable[[dict], None], batch: dict) -> int:
    """FLOPs (forward + backward as run: matmuls and attention) of one optimizer step on `batch`.
    Counted on an untimed step: the counter runs tens of microseconds of Python per op, which must
    not enter a timing. A step's count depends only on the contender and the batch, so the timed
    steps on the same batch run exactly these FLOPs."""
    with FlopCounterMode(display=False) as counter:
        step(batch)
    return counter.get_total_flops()


def timed_step(step: Callable[[dict], None], batch: dict, device: torch.device) -> float:
    """Seconds of one optimizer step, with nothing but the step inside the clock."""
    sync(device)
    t0 = time.perf_counter()
    step(batch)
    sync(device)
    return time.perf_counter() - t0
