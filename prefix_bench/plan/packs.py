"""Packed training time: prefix runs that the workflow trains up to K at a time over one frozen LM.

Packs are formed exactly as the workflow forms them (`packing.plan_packs`: runs of one experiment
sharing the model, the prefix shape and the LM-level switches). Each packed step runs one batch
of every unfinished member (`train_packed.py`), so a pack costs, segment by segment up to its
longest member's steps, the step of the members still running: the measured `packing` row of the
bench when given, else the FLOP model at the assumed MFU, and never more than the members' own
steps (so packing never costs more).
"""

from __future__ import annotations

from dataclasses import replace

from ..packing import plan_packs
from .jobs import Job
from .rates import Clock, Timed, slower

DEFAULT_PACK = 8  # the gpu-check's packed_runs


def group_packs(jobs: list[Job], k: int) -> list[list[Job]]:
    """The packs of at most k runs the workflow would form, with each job's precision as planned
    (`--precision` changes the pack key as it would change the config)."""
    by_id = {j.run.run_id: j for j in jobs}
    specs = {rid: replace(j.run.spec, train=replace(j.run.spec.train, precision="fp32" if j.precision == "tf32"
                                                    else j.precision))
             for rid, j in by_id.items()}
    return [[by_id[rid] for rid in pack.runs] for pack in plan_packs(specs, k)]


def pack_seconds(clock: Clock, jobs: list[Job]) -> Timed:
    """A pack's time: each step runs one batch of every unfinished member (train_packed.py: a run
    leaves the pack after its own last step), so the step shrinks as members finish."""
    members = sorted(jobs, key=lambda j: j.steps)
    alone = [clock.job_seconds(j)[0] / j.steps for j in members]
    seconds, done, label = 0.0, 0, ""
    for i, job in enumerate(members):
        step, label = packed_step(clock, members[i:])
        # never slower than the members' own steps (the last member left runs as alone)
        seconds += (job.steps - done) * min(step, sum(alone[i:]))
        done = job.steps
    return seconds, label


def packed_step(clock: Clock, jobs: list[Job]) -> Timed:
    """Seconds of one packed step of `jobs` (one batch each) and the source of the figure."""
    tokens = sum(j.step_tokens for j in jobs)
    flops = sum(j.flops_per_example * j.batch for j in jobs)
    assumed = clock.assumed(flops, tokens, jobs[0].precision)
    bench = clock.bench
    p = bench.packing if bench else None
    if p is None or jobs[0].shape.seq2seq:
        return assumed
    ref = sum(bench.reference_flops(j, "prefix") * j.batch for j in jobs)
    rows = sum(j.batch for j in jobs)
    rate = p["tokens_per_s"] * min(1.0, rows / (p["runs"] * p["rows_per_run"]))
    label = f"measured: {bench.name} packing ({p['runs']:g} runs x {p['rows_per_run']:g} rows)"
    measured = tokens / rate * flops / ref, label
    return measured if jobs[0].precision == "bf16" else slower(assumed, measured)
