"""From the workers' figures to the JSON's per-shape summary, the ratios and the printed table."""

from __future__ import annotations

import statistics

from .settings import Shape
from .training import CONTENDERS, TRAIN_KINDS

DECODE_RATES = ("batched_sources_per_s", "hf_batched_sources_per_s", "one_at_a_time_sources_per_s",
                "peft_nocache_sources_per_s")


def median_of(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def div(a: float | None, b: float | None) -> float | None:
    """a / b, or None when a figure is missing: never a made-up ratio."""
    return a / b if a is not None and b else None


def ratios(speed: dict[str, float | None], memory: dict[str, float | None], decode: dict | None) -> dict:
    """Ours (`prefix`) over every other contender in tokens/s and in peak memory; decoding ratios."""
    out = {}
    for kind in TRAIN_KINDS[1:]:
        out[f"prefix_vs_{kind}"] = div(speed.get("prefix"), speed.get(kind))
        out[f"prefix_memory_vs_{kind}"] = div(memory.get("prefix"), memory.get(kind))
    if decode is not None:
        out["decode_batched_vs_one_at_a_time"] = div(decode["batched_sources_per_s"],
                                                     decode["one_at_a_time_sources_per_s"])
        out["decode_batched_vs_hf_batched"] = div(decode["batched_sources_per_s"], decode["hf_batched_sources_per_s"])
        out["decode_batched_vs_peft_nocache"] = div(decode["batched_sources_per_s"],
                                                    decode["peft_nocache_sources_per_s"])
    return out


def summarize_shape(shape: Shape, runs: dict) -> dict:
    """Medians over repeats of one shape's runs: `runs` holds "side_by_side" (one per repeat, or
    none), "alone" (kind -> one per repeat) and "decode" (one per repeat, or none)."""
    side, alone, decodes = runs["side_by_side"], runs["alone"], runs["decode"]
    train = {kind: _train_figures([r["contenders"][kind] for r in side], alone[kind]) for kind in TRAIN_KINDS}
    peaks = [p for r in side for p in r["matmul_peak_flops"]] + [
        p for k in TRAIN_KINDS for r in alone[k] for p in r["matmul_peak_flops"]]
    per_repeat = _ratios_per_repeat(side, alone, decodes)
    out = {"model": shape.dims, "steps": {"warmup": shape.warmup_steps, "timed": shape.train_steps},
           "ratios_from": "side_by_side" if side else "alone", "train": train,
           "flops_agree_across_processes": _flops_agree(side, alone, train),
           "matmul_peak_flops": median_of(peaks), "matmul_peak_flops_range": [min(peaks), max(peaks)],
           "ratios": {k: median_of(r[k] for r in per_repeat) for k in per_repeat[0]},
           "ratios_per_repeat": per_repeat}
    if decodes:
        out["decode"] = _decode_figures(decodes)
    out["runs"] = runs
    return out


def _train_figures(side: list[dict], alone: list[dict]) -> dict:
    """One contender's medians: tokens/s side by side (None without that run) and alone, peak
    memory and fraction of the matmul peak alone, the fraction side by side, its FLOPs per batch."""
    return {"tokens_per_s": median_of(r["tokens_per_s"] for r in side),
            "alone_tokens_per_s": median_of(r["tokens_per_s"] for r in alone),
            "peak_mb": median_of(r["peak_mb"] for r in alone),
            "fraction_of_peak_flops": median_of(r["fraction_of_peak_flops"] for r in alone),
            "fraction_of_peak_flops_side_by_side": median_of(r["fraction_of_peak_flops"] for r in side),
            "flops_per_batch": alone[0]["flops_per_batch"], "trainable": alone[0]["trainable"]}


def _decode_figures(decodes: list[dict]) -> dict:
    """Median rates over repeats; identity holds only if it held on every source of every repeat."""
    out = {k: median_of(d[k] for d in decodes) for k in DECODE_RATES}
    out.update(outputs_identical=all(d["outputs_identical"] for d in decodes),
               identical_sources=min(d["identical_sources"] for d in decodes),
               sources_compared=decodes[0]["sources_compared"], sources=decodes[0]["sources"],
               mean_new_tokens=decodes[0]["mean_new_tokens"])
    return out


def _ratios_per_repeat(side: list[dict], alone: dict[str, list[dict]], decodes: list[dict]) -> list[dict]:
    """Each repeat's ratios: speed from its side-by-side run (or, without one, its alone runs),
    memory from its alone runs."""
    per_repeat = []
    for i in range(len(alone[TRAIN_KINDS[0]])):
        speed = {k: (side[i]["contenders"][k] if side else alone[k][i])["tokens_per_s"] for k in TRAIN_KINDS}
        memory = {k: alone[k][i]["peak_mb"] for k in TRAIN_KINDS}
        per_repeat.append(ratios(speed, memory, decodes[i] if decodes else None))
    return per_repeat


def _flops_agree(side: list[dict], alone: dict[str, list[dict]], train: dict) -> bool:
    """FLOPs are deterministic per contender and batch: every process must have counted the same."""
    seen = [(k, r["flops_per_batch"]) for k in TRAIN_KINDS for r in alone[k]]
    seen += [(k, r["contenders"][k]["flops_per_batch"]) for r in side for k in TRAIN_KINDS]
    return all(counts == train[k]["flops_per_batch"] and all(counts) for k, counts in seen)


# --- the printed table -------------------------------------------------------------------------
def _f(x: float | None, spec: str = ".1f", scale: float = 1.0) -> str:
    return "n/a" if x is None else format(x * scale, spec)


def table(r: dict) -> str:
    """The figures as short text tables, one per shape; the title names the data."""
    s = r["settings"]
    lines = [f"prefix-bench bench on {r['machine']['device']}, {s['repeats']} repeat(s), medians; data: {r['data']}"]
    for name, sh in r["shapes"].items():
        lines += ["", _shape_title(name, sh, s), _train_table(sh)]
        if "decode" in sh:
            lines.append(_decode_table(sh["decode"], sh["ratios"], s))
    score = r["score"]
    lines += ["", f"E2E test scoring: {_f(score.get('e2e_test_seconds'))} s ({score.get('units', 'n/a')} MRs)"
              + (f"  [{score['error']}]" if score.get("error") else "")]
    return "\n".join(lines)


def _shape_title(name: str, sh: dict, s: dict) -> str:
    m, st = sh["model"], sh["steps"]
    where = ("side by side in one process" if sh["ratios_from"] == "side_by_side"
             else "each alone in its own process (no side-by-side run at this shape)")
    return (f"== GPT-2 {name} shape ({m['n_layer']} layers, d {m['n_embd']}, {m['n_head']} heads), batch "
            f"{s['batch_size']}, {st['warmup']} counted warm-up + {st['timed']} timed steps; ratios: {where}; "
            f"matmul peak {_f(sh['matmul_peak_flops'], '.0f', 1e-9)} GFLOP/s ==")


def _train_table(sh: dict) -> str:
    t, q = sh["train"], sh["ratios"]
    head = f"{'contender':<36}{'tok/s sbs':>10}{'tok/s alone':>12}{'% peak':>8}{'% sbs':>7}{'peak MB':>9}" \
           f"{'ours/this':>10}{'mem ours/this':>14}"
    rows = [head]
    for kind in TRAIN_KINDS:
        x = t[kind]
        rows.append(f"{CONTENDERS[kind]:<36}{_f(x['tokens_per_s']):>10}{_f(x['alone_tokens_per_s']):>12}"
                    f"{_f(x['fraction_of_peak_flops'], '.1f', 100):>8}"
                    f"{_f(x['fraction_of_peak_flops_side_by_side'], '.1f', 100):>7}{_f(x['peak_mb'], '.0f'):>9}"
                    f"{_f(q.get(f'prefix_vs_{kind}'), '.2f'):>10}{_f(q.get(f'prefix_memory_vs_{kind}'), '.2f'):>14}")
    return "\n".join(rows)


def _decode_table(d: dict, q: dict, s: dict) -> str:
    n = d["sources"]
    rows = [(f"ours batched (batches of {n['batch_size']})", d["batched_sources_per_s"]),
            ("HF generate, the same batches", d["hf_batched_sources_per_s"]),
            ("HF generate, one source at a time", d["one_at_a_time_sources_per_s"]),
            (f"PEFT use_cache=False (first {n['peft_nocache']})", d["peft_nocache_sources_per_s"])]
    return "\n".join(
        [f"decoding: the same {n['batched']} sources for each, beam {s['num_beams']}, {s['max_new_tokens']} new "
         "tokens, sources/s"]
        + [f"  {label:<36}{_f(rate, '.3f'):>8}" for label, rate in rows]
        + [f"  ours / one at a time {_f(q.get('decode_batched_vs_one_at_a_time'), '.2f')}x, / HF batched "
           f"{_f(q.get('decode_batched_vs_hf_batched'), '.2f')}x, / PEFT no cache "
           f"{_f(q.get('decode_batched_vs_peft_nocache'), '.2f')}x",
           f"  ours identical to one at a time: {d['identical_sources']}/{d['sources_compared']} sources "
           "(the fewest over repeats)"])
