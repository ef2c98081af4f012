"""A bench worker in a fresh process: `python -m prefix_bench.bench --worker JOB --work DIR --settings JSON`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from . import BenchSettings
from .decoding import decode_worker
from .training import alone_worker, throughput_worker


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--worker", required=True, help="throughput | decode | alone:KIND")
    p.add_argument("--work", required=True)
    p.add_argument("--settings", required=True)
    a = p.parse_args(argv)
    s = BenchSettings(**json.loads(a.settings))
    if s.threads:
        torch.set_num_threads(s.threads)
    work = Path(a.work)
    if a.worker == "decode":
        out = decode_worker(s, work)
    elif a.worker == "throughput":
        out = throughput_worker(s, work)
    else:
        out = alone_worker(a.worker.split(":", 1)[1], s, work)
    print(json.dumps(out))


main(sys.argv[1:])
