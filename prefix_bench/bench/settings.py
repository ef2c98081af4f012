"""The bench's settings: the model shapes it measures, the steps and sources per shape, and the
presets per device (CPU, GPU, and a smoke preset of tiny stand-in shapes for the tests)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import PrefixBenchError

GPT2_SMALL = dict(n_layer=12, n_embd=768, n_head=12)
GPT2_MEDIUM = dict(n_layer=24, n_embd=1024, n_head=16)


@dataclass(frozen=True)
class Shape:
    """One model shape and how it is measured there."""

    n_layer: int
    n_embd: int
    n_head: int
    #: distinct batches; each contender steps once on each, untimed, under the FLOP counter (its
    #: warm-up: the allocator and caches reach their steady state on exactly the timed batches)
    warmup_steps: int
    #: timed steps, cycling over those batches, with no counter around them
    train_steps: int
    #: all contenders in one process, one step each in turn (the speed ratios come from there);
    #: False where their models and optimizer states would not fit in memory together
    side_by_side: bool
    #: decoding figures at this shape
    decode: bool

    @property
    def dims(self) -> dict:
        return dict(n_layer=self.n_layer, n_embd=self.n_embd, n_head=self.n_head)


def _cpu_shapes() -> dict[str, Shape]:
    # Medium alone only: seven GPT-2-medium contenders side by side (three with full fp32 AdamW
    # state, ~5.7 GB each) would need ~24 GB; one step and one decode there cost ~3x small's.
    return {"small": Shape(**GPT2_SMALL, warmup_steps=2, train_steps=4, side_by_side=True, decode=True),
            "medium": Shape(**GPT2_MEDIUM, warmup_steps=1, train_steps=2, side_by_side=False, decode=False)}


@dataclass(frozen=True)
class BenchSettings:
    device: str = "cpu"
    shapes: dict[str, Shape] = field(default_factory=_cpu_shapes)
    threads: int = 0  # 0 = all cores
    vocab: int = 50257  # GPT-2's: the LM head is the largest matmul of a step
    batch_size: int = 8
    max_source_tokens: int = 31  # + separator EOS = 32
    max_target_tokens: int = 31  # + final EOS = 32: sequences of at most 64 tokens
    prefix_length: int = 10
    mid_dim: int = 512
    decode_sources: int = 32  # ours, HF batched and one at a time all decode these sources
    decode_batch: int = 32  # sources per batch of the batched decoders
    peft_sources: int = 2  # PEFT without cache (~7 s a source on CPU): the first of those sources
    num_beams: int = 5
    max_new_tokens: int = 32
    matmul_sizes: tuple[int, ...] = (1024, 2048)  # the peak: best FLOP/s of square matmuls of these sizes
    repeats: int = 1
    smoke: bool = False

    @property
    def train_batches(self) -> int:
        """Distinct training batches the inputs must hold (the largest warm-up of any shape)."""
        return max(shape.warmup_steps for shape in self.shapes.values())


def preset(device: str = "cpu", shapes: list[str] | None = None, smoke: bool = False, steps: int = 0,
           decode_sources: int = 0, **kw) -> BenchSettings:
    """Settings for `device` (or the smoke preset), restricted to `shapes`; `steps` overrides the
    timed steps of every shape, `decode_sources` the decoded sources (one batch of them)."""
    if smoke:
        s = BenchSettings(device="cpu", shapes=_smoke_shapes(), vocab=4096, batch_size=2, max_source_tokens=15,
                          max_target_tokens=15, prefix_length=3, mid_dim=16, decode_sources=4, decode_batch=4,
                          peft_sources=2, num_beams=2, max_new_tokens=4, matmul_sizes=(64, 128), smoke=True, **kw)
    elif device == "cuda":  # memory for side by side everywhere; the paper's decoding length
        s = BenchSettings(device="cuda", shapes={
            name: Shape(**dims, warmup_steps=3, train_steps=20, side_by_side=True, decode=True)
            for name, dims in (("small", GPT2_SMALL), ("medium", GPT2_MEDIUM))},
            max_new_tokens=100, matmul_sizes=(4096, 8192), **kw)
    else:
        s = BenchSettings(device=device, **kw)
    if shapes:
        unknown = [name for name in shapes if name not in s.shapes]
        if unknown:
            raise PrefixBenchError(f"--shapes: unknown {', '.join(unknown)}; choose from {', '.join(s.shapes)}")
        s = replace(s, shapes={name: s.shapes[name] for name in shapes})
    if steps:
        s = replace(s, shapes={name: replace(shape, train_steps=steps) for name, shape in s.shapes.items()})
    if decode_sources:
        s = replace(s, decode_sources=decode_sources, decode_batch=decode_sources,
                    peft_sources=min(s.peft_sources, decode_sources))
    return s


def _smoke_shapes() -> dict[str, Shape]:
    """Tiny stand-ins measured as the real shapes are (small side by side with decoding, medium
    alone only), so a test runs every code path in seconds."""
    return {"small": Shape(n_layer=2, n_embd=32, n_head=2, warmup_steps=2, train_steps=3, side_by_side=True,
                           decode=True),
            "medium": Shape(n_layer=3, n_embd=48, n_head=3, warmup_steps=1, train_steps=1, side_by_side=False,
                            decode=False)}
