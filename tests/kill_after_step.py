"""`prefix-bench train ARGS` (or `train-pack ARGS`), SIGKILLed right after step N (and its
checkpoints): the fault injection of the resume tests, kept out of the production loop (the
`after_step` callback of train_run and train_pack).

    python tests/kill_after_step.py N train --spec-json ... --data-dir ... --out-dir ...
    python tests/kill_after_step.py N train-pack --members-json ...
"""

from __future__ import annotations

import os
import signal
import sys

from prefix_bench import train, train_packed
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
    real_pack = train_packed.train_pack
    train_packed.train_pack = lambda *args, **kwargs: real_pack(*args, after_step=kill_at(n), **kwargs)
    sys.exit(main(sys.argv[2:]))
