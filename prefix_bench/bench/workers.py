"""Each measurement runs in a process of its own (own peak memory, no caches shared with another
contender). The processes are forked from one server that has imported torch, transformers, peft
and the bench once (multiprocessing's forkserver): importing those costs ~10 s of CPU a process on
the bench machine, ~2.5 minutes a repeat over 16 processes. The server runs no torch op, so a child
starts as a fresh process would after its imports (no thread pool, no allocator state), and every
contender's peak memory counts the same imported modules. As with any start method but fork, a
script that calls the bench must guard its entry point (`if __name__ == "__main__":`); the
`prefix-bench` command and pytest do."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

from ..errors import PrefixBenchError
from .settings import BenchSettings

PRELOAD = ["torch", "transformers", "transformers.models.gpt2.modeling_gpt2", "transformers.trainer", "peft",
           "prefix_bench.bench.training", "prefix_bench.bench.decoding", "prefix_bench.generate"]
_context = None


def _server():
    """The forkserver context, preloading the bench's imports (started on first use)."""
    global _context
    if _context is None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # inherited by the server and children
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def run_worker(job: str, s: BenchSettings, shape: str, work: Path, repeat: int) -> dict:
    """Run `job` ("side_by_side", "alone:KIND" or "decode") at `shape` in a fresh process."""
    receive, send = _server().Pipe(duplex=False)
    proc = _server().Process(target=_child, args=(send, job, s, shape, str(work), repeat), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    send.close()  # the child holds the only sending end: its death ends `recv` with EOFError
    try:
        status, payload = receive.recv()
    except EOFError:
        status, payload = "error", None
    proc.join()
    if status != "ok":
        raise PrefixBenchError(f"bench worker {job!r} at {shape} failed: "
                               f"{payload or f'process exited with code {proc.exitcode}'}")
    print(f"bench: {shape} {job} (repeat {repeat + 1}) {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return payload


def _child(send: Connection, job: str, s: BenchSettings, shape: str, work: str, repeat: int) -> None:
    try:
        import warnings

        import torch
        import transformers

        warnings.filterwarnings("ignore", category=FutureWarning)  # deprecation notes, 16 times a repeat
        transformers.logging.set_verbosity_error()
        if s.threads:
            torch.set_num_threads(s.threads)
        send.send(("ok", _measure(job, s, shape, Path(work), repeat)))
    except BaseException as err:  # noqa: BLE001 - the parent reports it as one line
        send.send(("error", f"{type(err).__name__}: {err}"))
    finally:
        send.close()


def _measure(job: str, s: BenchSettings, shape: str, work: Path, repeat: int) -> dict:
    from .decoding import decode_worker
    from .training import alone_worker, side_by_side_worker

    if job == "side_by_side":
        return side_by_side_worker(s, s.shapes[shape], work, repeat)
    if job == "decode":
        return decode_worker(s, s.shapes[shape], work, repeat)
    if job.startswith("alone:"):
        return alone_worker(job.split(":", 1)[1], s, s.shapes[shape], work, repeat)
    raise ValueError(f"unknown bench job {job!r}")
