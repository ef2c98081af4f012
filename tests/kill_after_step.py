"""`prefix-bench train ARGS`, SIGKILLed right after step N (and its checkpoint): the fault injection
of the resume tests, kept out of the production loop (train_run's `after_step` callback).

    python tests/kill_after_step.py N train --spec-json ... --data-dir ... --out-dir ...
"""

from __future__ import annotations

import os
import signal
import sys

from prefix_bench import train
from prefix_bench.cli import main


def kill_at(n: int):
    def after_step(step: int) -> None:
        if step == n:
            os.kill(os.getpid(), signal.SIGKILL)

    return after_step


if __name__ == "__main__":
    n = int(sys.argv[1])
    real = train.train_run
    train.train_run = lambda *args, **kwargs: real(*args, after_step=kill_at(n), **kwargs)
    sys.exit(main(sys.argv[2:]))
