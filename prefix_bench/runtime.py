"""Process-level settings for training jobs on the host: how freed memory is kept.

A training step allocates the same large buffers every time (activations, the [N, V] logits, the
prefix-MLP gradient of 37.7 MB at mid 512). glibc's malloc serves blocks above its mmap threshold
(at most 32 MB, adapted at run time) with fresh mappings and unmaps them on free, so every step
page-faults and zeroes those pages again, and memory trimmed at the heap top is faulted back the
next step. `keep_freed_memory` raises both thresholds so freed blocks stay in the heap for reuse:
+3-5 points of the matmul peak for a GPT-2-small prefix step on the 2-core dev CPU (`prefix-bench
bench`). The process no longer hands memory back between steps; its peak is measured in the bench.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_KEEP_BELOW = 1 << 30  # blocks under 1 GiB come from (and go back to) the heap


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks (< 1 GiB) for reuse. False where there is no glibc malloc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BELOW)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_BELOW))
