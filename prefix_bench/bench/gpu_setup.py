"""The GPU check's shared parts: its settings, the timer (CUDA events), the FLOP counter, the
synthetic inputs and the random-weight models of the paper's shapes (see gpu_check.py)."""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field

import torch

# Dense bf16 tensor-core peak by the vendors' datasheets (FLOP/s), for the MFU figure.
DATASHEET_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


GPT2_MEDIUM = dict(n_layer=24, n_embd=1024, n_head=16)


BART_LARGE = dict(d_model=1024, encoder_layers=12, decoder_layers=12, encoder_attention_heads=16,
                  decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096)


@dataclass(frozen=True)
class CheckSettings:
    device: str = "cuda"
    shape: dict = field(default_factory=lambda: dict(GPT2_MEDIUM))
    vocab: int = 50257
    min_tokens: int = 8
    max_tokens: int = 32  # per source and per target
    train_batches: tuple[int, ...] = (10, 64)  # the paper's E2E batch (Table 6); a GPU-sized one
    # XSum on BART-large (85% of the paper grid's FLOPs): paper batch 14, prefix 100, MLP 800;
    # articles cut at 512 tokens, summaries 20-60
    bart_shape: dict = field(default_factory=lambda: dict(BART_LARGE))
    bart_vocab: int = 50265
    xsum_batch: int = 14
    xsum_source_tokens: int = 512
    xsum_target_tokens: tuple[int, int] = (20, 60)
    xsum_prefix_length: int = 100
    xsum_mid_dim: int = 800
    warmup_steps: int = 3
    timed_steps: int = 20
    prefix_length: int = 10
    mid_dim: int = 512
    packed_runs: int = 8
    decode_sources: int = 32
    one_at_a_time_sources: int = 8
    peft_sources: int = 4
    num_beams: int = 5
    max_new_tokens: int = 100
    matmul_size: int = 8192

    @classmethod
    def smoke(cls) -> "CheckSettings":
        """Toy sizes on the CPU: the same code paths in seconds."""
        return cls(device="cpu", shape=dict(n_layer=2, n_embd=64, n_head=4), vocab=512, train_batches=(2, 4),
                   bart_shape=dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                                   decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128),
                   bart_vocab=512, xsum_batch=2, xsum_source_tokens=24, xsum_target_tokens=(4, 8),
                   xsum_prefix_length=3, xsum_mid_dim=16,
                   warmup_steps=1, timed_steps=2, prefix_length=3, mid_dim=16, packed_runs=2, decode_sources=4,
                   one_at_a_time_sources=4, peft_sources=2, max_new_tokens=6, matmul_size=256)


# --- clocks ----------------------------------------------------------------------------------
class Timer:
    """Elapsed seconds of the work queued inside `with`: CUDA events on a GPU (no host clock
    around asynchronous kernels), the host clock on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.seconds = device, 0.0

    def __enter__(self) -> "Timer":
        if self.device.type == "cuda":
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.end.record()
            self.end.synchronize()
            self.seconds = self.start.elapsed_time(self.end) / 1000
        else:
            self.seconds = time.perf_counter() - self.t0


def matmul_ceiling(s: CheckSettings, device: torch.device) -> dict:
    """Median FLOP/s of large square matmuls (bf16 on a GPU, fp32 on the CPU), random data."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    n = s.matmul_size
    pairs = [(torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype))
             for _ in range(2)]  # two input sets, alternated
    for a, b in pairs * 2:
        torch.mm(a, b)
    rates = []
    for i in range(10):
        a, b = pairs[i % 2]
        with Timer(device) as t:
            torch.mm(a, b)
        rates.append(2 * n**3 / t.seconds)
    return {"dtype": str(dtype).removeprefix("torch."), "n": n, "flops_per_s": statistics.median(rates)}


def count_flops(fn) -> int:
    """FLOPs (matmuls and attention, as torch counts them) of one call, on an untimed run."""
    from torch.utils.flop_counter import FlopCounterMode

    from .measure import _count_cpu_attention

    _count_cpu_attention()
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


# --- inputs ----------------------------------------------------------------------------------
def synthetic_pairs(s: CheckSettings, n: int, seed: int):
    """E2E-sized pairs of random tokens: source + EOS + target + EOS, loss on the target."""
    from ..models.formatting import IGNORE, Encoded

    g = torch.Generator().manual_seed(seed)
    eos = s.vocab - 1
    out = []
    for _ in range(n):
        src_len, tgt_len = torch.randint(s.min_tokens, s.max_tokens + 1, (2,), generator=g).tolist()
        src = torch.randint(0, eos, (src_len,), generator=g).tolist()
        tgt = torch.randint(0, eos, (tgt_len,), generator=g).tolist()
        out.append(Encoded(src + [eos] + tgt + [eos], [IGNORE] * (src_len + 1) + tgt + [eos]))
    return out


def synthetic_prompts(s: CheckSettings, n: int, seed: int) -> list[list[int]]:
    """The sources of `synthetic_pairs` as decoding prompts (source + EOS separator)."""
    from ..models.formatting import IGNORE

    return [e.input_ids[: e.labels.count(IGNORE)] for e in synthetic_pairs(s, n, seed)]


def build_lm(s: CheckSettings, device: torch.device, dtype: torch.dtype = torch.float32):
    """GPT-2 of the check's shape with random weights, created directly on the device."""
    from transformers import GPT2Config, GPT2LMHeadModel

    eos = s.vocab - 1
    config = GPT2Config(vocab_size=s.vocab, n_positions=1024, bos_token_id=eos, eos_token_id=eos,
                        pad_token_id=eos, **s.shape)
    torch.manual_seed(0)
    with torch.device(device):
        lm = GPT2LMHeadModel(config)
    return lm.to(device=device, dtype=dtype)


def reset_peak(device: torch.device) -> None:
    gc.collect()  # the previous contender's model and optimizer state
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
