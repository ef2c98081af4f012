"""`prefix-bench plan`: argparse, the printed table and the `--json` file.

The table is rendered from the JSON `plan()` returns, so the two never disagree.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..atomic import write_json
from . import __doc__ as DESCRIPTION
from .estimate import plan
from .packs import DEFAULT_PACK
from .rates import DEFAULT_MFU, DEVICES


def render(p: dict) -> str:
    """The plan as a table with its sources."""
    peaks = ", ".join(f"{k} {v:g}" for k, v in p["peak_tflops"].items())
    total = p["total"]
    lines = [f"plan of {p['config']}: {total['runs']} runs, {total['jobs']} training jobs, on {p['device']} "
             f"(peak TFLOP/s {peaks}); precision {p['precision']}; packing K={p['pack']}"]
    tags = {s["source"]: i + 1 for i, s in enumerate(p["sources"])}
    head = f"{'experiment':<28}{'runs':>6}{'jobs':>6}{'train tokens':>14}{'train FLOP':>12}{'decode FLOP':>13}" \
           f"{'hours':>9}{'packed':>9}  time from"
    lines += [head, "-" * len(head)]
    for r in p["experiments"]:
        lines.append(_table_row(r["experiment"], r) + "  " + " ".join(f"[{tags[s]}]" for s in r["sources"]))
    lines += ["-" * len(head), _table_row("total", total)]
    lines.append("time from:")
    lines += [f"  [{tags[s['source']]}] {s['source']} ({s['jobs']} jobs, {_hours(s['hours'])} h)" for s in p["sources"]]
    packs = p["packs"]
    if packs:
        before, after = sum(x["seconds_unpacked"] for x in packs) / 3600, sum(x["seconds"] for x in packs) / 3600
        labels = sorted({x["source"] for x in packs})
        lines.append(f"packing: {len(packs)} packs of {sum(len(x['runs']) for x in packs)} prefix runs, "
                     f"{_hours(before)} h -> {_hours(after)} h; packed step from {'; '.join(labels)}")
    else:
        lines.append("packing: no packs (no prefix runs sharing a model, prefix shape and switches, or --pack 1)")
    per = "; ".join(f"{x['model']} {x['method']} {x['times_n']:.1f}N" for x in p["flops_per_token"])
    lines.append(f"training FLOPs per token: {per}")
    lines.append("data (pairs x mean source+target tokens, where the pair count comes from):")
    lines += [f"  {name}: {_count(d['train_pairs'])} x {d['source_tokens']:g}+{d['target_tokens']:g} ({d['origin']})"
              for name, d in _summarised(p["datasets"]).items()]
    if p["cpu_pinned_jobs"]:
        lines.append(f"note: {p['cpu_pinned_jobs']} jobs are pinned to the CPU (train.device: cpu); planned as if "
                     f"on {p['device']}")
    lines += [f"note: {n}" for n in p["notes"]]
    return "\n".join(lines)


def _summarised(datasets: dict) -> dict:
    """Datasets for the text output, low-data subsets of one parent folded into one entry."""
    out: dict[str, dict] = {}
    for name, d in datasets.items():
        if not d["origin"].startswith("subset_size of "):  # data.py's origin of a low-data subset
            out[name] = d
            continue
        parent = d["origin"].removeprefix("subset_size of ")
        entry = out.setdefault(f"{parent} subsets", {**d, "sizes": []})
        entry["sizes"].append(d["train_pairs"])
    for d in out.values():
        if "sizes" in d:
            sizes = sorted(d.pop("sizes"))
            d["origin"] = f"{len(sizes)} subsets"
            d["train_pairs"] = f"{sizes[0]}-{sizes[-1]}" if sizes[0] != sizes[-1] else sizes[0]
    return out


def _count(n: int | str) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def _si(x: float) -> str:
    """3 significant digits with an SI prefix: 53.8G, 46.5E."""
    for exp, prefix in ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k")):
        if x >= 10**exp:
            return f"{x / 10**exp:.3g}{prefix}"
    return f"{x:.3g}"


def _hours(h: float) -> str:
    return f"{h:,.0f}" if h >= 100 else f"{h:.1f}" if h >= 1 else f"{h:.2g}"


def _table_row(name: str, r: dict) -> str:
    return (f"{name:<28}{r['runs']:>6}{r['jobs']:>6}{_si(r['tokens']):>14}{_si(r['train_flops']):>12}"
            f"{_si(r['decode_flops']):>13}{_hours(r['hours']):>9}{_hours(r['hours_packed']):>9}")


def run(args: argparse.Namespace) -> int:
    """Print the plan of `args.configfile`; with `--json`, also write its figures."""
    p = plan(Path(args.configfile), args.device, args.bench, args.pack, args.mfu, args.peak_tflops, args.precision)
    print(render(p))
    if args.json:
        write_json(args.json, p)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `prefix-bench plan` (its --help is the package docstring)."""
    p = sub.add_parser("plan", help="estimate a config's cost: runs, tokens, FLOPs and GPU hours per experiment",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configfile", default="config/config.yaml", help="pipeline config (default: config/config.yaml)")
    p.add_argument("--device", default="h200", help=f"device whose datasheet peak applies: {', '.join(DEVICES)} "
                   "(default h200); another name (or cpu) needs --peak-tflops")
    p.add_argument("--bench", help="a `prefix-bench gpu-check` JSON of that device: measured rates instead of the "
                   "assumed MFU (e.g. results/bench/gpu-h200.json)")
    p.add_argument("--pack", type=int, default=DEFAULT_PACK,
                   help=f"prefix runs per packed job (default {DEFAULT_PACK}; 1 = no packing)")
    p.add_argument("--precision", choices=("config", "bf16", "fp32"), default="config",
                   help="train precision of every run: the config's (default), or all bf16 / fp32")
    p.add_argument("--mfu", type=float, default=DEFAULT_MFU,
                   help=f"assumed share of the peak where nothing is measured (default {DEFAULT_MFU})")
    p.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s, for every precision")
    p.add_argument("--json", help="also write the figures (per experiment, per job, sources) to this JSON file")
    p.set_defaults(func=run)
