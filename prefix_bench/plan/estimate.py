"""`plan()`: the cost of a config's grid per job, per experiment and in total (what `--json` writes
and the table prints), with the source of every time figure."""

from __future__ import annotations

from pathlib import Path

from ..errors import PrefixBenchError
from ..experiments import Run
from .jobs import Job, build_job, load_runs
from .packs import DEFAULT_PACK, group_packs, pack_seconds
from .rates import DEFAULT_MFU, Timed, make_clock

NOTES = ["hours: training only (decoding not timed), one device per job, no queueing or start-up",
         "FLOPs: forward 2N + activation backward 2N for a frozen LM (~4N), 6N full fine-tuning, FT-top2 "
         "backward through its top blocks only; N = non-embedding weights + LM-head matmul; attention's "
         "sequence term included; padding, optimizer and data loading not counted",
         "decode FLOPs: rough (beam x mean target length, prompt once per beam with generate)"]


def plan(configfile: Path, device: str = "h200", bench: str | None = None, pack: int = DEFAULT_PACK,
         mfu: float = DEFAULT_MFU, peak_tflops: float | None = None, precision: str = "config") -> dict:
    """The cost of a config's grid: per experiment and in total (the JSON `--json` writes)."""
    if pack < 1:
        raise PrefixBenchError(f"--pack must be >= 1, got {pack}")
    clock = make_clock(device, bench, mfu, peak_tflops)
    if clock.device == "cpu":
        precision = "fp32"  # the CPU trains in fp32 whatever train.precision says (config.py)
    config, runs = load_runs(Path(configfile))
    jobs = [build_job(config, run, precision) for run in runs if run.trained_in is None]
    timed = {j.run.run_id: clock.job_seconds(j) for j in jobs}
    packed = {rid: secs for rid, (secs, _) in timed.items()}
    pack_rows = []
    for members in group_packs(jobs, pack):
        alone = sum(timed[j.run.run_id][0] for j in members)
        seconds, label = pack_seconds(clock, members)
        for j in members:  # the pack's time, shared in proportion to each run's own time
            packed[j.run.run_id] = seconds * timed[j.run.run_id][0] / alone
        pack_rows.append({"runs": [j.run.run_id for j in members], "steps": max(j.steps for j in members),
                          "seconds": seconds, "seconds_unpacked": alone, "source": label})
    experiments = _experiment_rows(runs, jobs, timed, packed)
    return {
        "config": str(configfile), "device": clock.device, "peak_tflops": clock.peaks,
        "bench": bench, "mfu_assumed": mfu, "precision": precision, "pack": pack,
        "experiments": experiments, "total": _total(experiments),
        "sources": _sources(jobs, timed), "packs": pack_rows,
        "flops_per_token": _per_token(jobs), "datasets": _datasets(jobs),
        "jobs": [_job_row(j, timed, packed) for j in jobs],
        "cpu_pinned_jobs": sum(j.run.spec.train.device == "cpu" for j in jobs),
        "notes": NOTES,
    }


def _job_row(job: Job, timed: dict[str, Timed], packed: dict[str, float]) -> dict:
    seconds, source = timed[job.run.run_id]
    return {"run": job.run.run_id, "method": job.run.spec.method, "model": job.run.spec.model,
            "dataset": job.run.spec.dataset, "precision": job.precision, "batch": job.batch, "steps": job.steps,
            "examples": job.examples, "tokens": job.tokens, "train_flops": job.flops,
            "train_flops_per_token": job.flops / job.tokens, "decode_flops": job.decode,
            "seconds": seconds, "seconds_packed": packed[job.run.run_id], "source": source}


def _experiment_rows(runs: list[Run], jobs: list[Job], timed: dict[str, Timed], packed: dict[str, float]) -> list[dict]:
    rows: dict[str, dict] = {}
    for run in runs:
        row = rows.setdefault(run.experiment, {"experiment": run.experiment, "runs": 0, "jobs": 0, "tokens": 0.0,
                                               "train_flops": 0.0, "decode_flops": 0.0, "hours": 0.0,
                                               "hours_packed": 0.0, "sources": []})
        row["runs"] += 1
    for job in jobs:
        row = rows[job.run.experiment]
        seconds, source = timed[job.run.run_id]
        row["jobs"] += 1
        row["tokens"] += job.tokens
        row["train_flops"] += job.flops
        row["decode_flops"] += job.decode
        row["hours"] += seconds / 3600
        row["hours_packed"] += packed[job.run.run_id] / 3600
        if source not in row["sources"]:
            row["sources"].append(source)
    return list(rows.values())


def _total(rows: list[dict]) -> dict:
    keys = ("runs", "jobs", "tokens", "train_flops", "decode_flops", "hours", "hours_packed")
    return {k: sum(r[k] for r in rows) for k in keys}


def _sources(jobs: list[Job], timed: dict[str, Timed]) -> list[dict]:
    out: dict[str, dict] = {}
    for job in jobs:
        seconds, label = timed[job.run.run_id]
        entry = out.setdefault(label, {"source": label, "jobs": 0, "hours": 0.0})
        entry["jobs"] += 1
        entry["hours"] += seconds / 3600
    return list(out.values())


def _per_token(jobs: list[Job]) -> list[dict]:
    """Training FLOPs per token in units of N, per (model, method), token-weighted."""
    acc: dict[tuple, list[float]] = {}
    for job in jobs:
        a = acc.setdefault((job.run.spec.model, job.run.spec.method), [0.0, 0.0, 0.0])
        a[0] += job.flops
        a[1] += job.tokens * job.dense
        a[2] += job.tokens
    return [{"model": m, "method": meth, "flops_per_token": f / t, "times_n": f / n}
            for (m, meth), (f, n, t) in acc.items()]


def _datasets(jobs: list[Job]) -> dict:
    out = {}
    for job in jobs:
        d = job.data
        out.setdefault(job.run.spec.dataset, {"train_pairs": d.train_pairs, "source_tokens": d.source_tokens,
                                              "target_tokens": d.target_tokens, "origin": d.origin})
    return out
