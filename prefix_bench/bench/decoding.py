"""Decoding contenders (ours batched, HF batched, one at a time, PEFT without cache) and scoring time."""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from .inputs import build_lm
from .measure import sync


def decode_worker(s, work: Path) -> dict:
    """Sources/s of each decoder on the same prompts and LM, and whether ours equals one-at-a-time."""
    from transformers import AutoTokenizer

    from ..config import GenerateOptions
    from ..generate import decode_prompts
    from ..methods import build_method
    from ..models.formatting import newline_token_ids
    from ..models.speedups import fuse_gelu

    device = torch.device(s.device)
    tok = AutoTokenizer.from_pretrained(work / "tokenizer")
    prompts = json.loads((work / "inputs.json").read_text())["prompts"]
    opts = GenerateOptions(num_beams=s.num_beams, max_new_tokens=s.max_new_tokens, batch_size=s.decode_sources)
    lm = build_lm(s, device, tok.eos_token_id).eval()  # bf16 on CUDA (GenerateOptions.precision)
    if opts.fused_gelu:  # as `generate` loads a run; every decoder below shares this LM
        fuse_gelu(lm)
    method = build_method("prefix", lm, {"length": s.prefix_length, "mid_dim": s.mid_dim}).to(device).eval()
    bad, eos, pad = newline_token_ids(tok), tok.eos_token_id, tok.pad_token_id

    def timed(o: GenerateOptions, ps: list) -> tuple[float, list]:
        sync(device)
        t0 = time.perf_counter()
        out = decode_prompts(method, ps, o, pad, eos, bad, device)
        sync(device)
        return len(ps) / (time.perf_counter() - t0), [x[: x.index(eos) + 1] if eos in x else x for x in out]

    batched, ours = timed(opts, prompts)
    hf_batched, _ = timed(replace(opts, beam_search="hf"), prompts)
    one = prompts[: s.one_at_a_time_sources]
    single, single_out = timed(replace(opts, beam_search="hf", batch_size=1), one)

    from peft import PrefixTuningConfig, get_peft_model

    peft_model = get_peft_model(lm, PrefixTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=s.prefix_length, prefix_projection=True,
        encoder_hidden_size=s.mid_dim)).eval()
    few = sorted(prompts[: s.peft_sources], key=len)
    width = max(map(len, few))
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in few], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in few], device=device)
    sync(device)
    t0 = time.perf_counter()
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    with torch.no_grad(), amp:
        peft_model.generate(input_ids=ids, attention_mask=mask, use_cache=False, num_beams=s.num_beams,
                            max_new_tokens=s.max_new_tokens, do_sample=False, early_stopping=False,
                            bad_words_ids=bad or None, pad_token_id=pad, eos_token_id=eos)
    sync(device)
    peft_rate = len(few) / (time.perf_counter() - t0)
    return {"batched_sources_per_s": batched, "hf_batched_sources_per_s": hf_batched,
            "one_at_a_time_sources_per_s": single, "peft_nocache_sources_per_s": peft_rate,
            "outputs_identical": ours[: len(one)] == single_out,
            "sources": {"batched": len(prompts), "one_at_a_time": len(one), "peft_nocache": len(few)},
            "mean_new_tokens": statistics.mean(len(x) for x in ours)}


def score_timing(data_dir: Path, note: str, work: Path) -> dict:
    """Seconds to score the full E2E test set with the official-parity scorers."""
    from ..score import score_task
    from ..score.io import read_references

    refs = data_dir / "testset_w_refs.csv"
    units = read_references(refs)
    hyps = work / "hyps.txt"
    hyps.write_text("".join(u[0] + "\n" for u in units.refs), encoding="utf-8")
    t0 = time.perf_counter()
    result = score_task("e2e", refs, hyps)
    seconds = time.perf_counter() - t0
    metrics = result.get("metrics", result) if isinstance(result, dict) else {}
    return {"e2e_test_seconds": seconds, "units": len(units), "data": note, "refs": str(refs),
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))}}
