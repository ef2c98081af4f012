"""Decoding contenders on the same sources: our batched beam search, HF `generate` on the same
batches, `generate` one source at a time (the paper's protocol), PEFT without a cache; scoring time."""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from .inputs import build_lm, load_prompts
from .measure import sync
from .settings import BenchSettings, Shape
from .training import rotated

WARMUP_TOKENS = 2  # a warm-up decode per decoder: one-time costs are paid before any timing


def decode_worker(s: BenchSettings, shape: Shape, work: Path, repeat: int) -> dict:
    """Sources/s of each decoder on the same sources and LM, and on how many sources our tokens
    equal the one-at-a-time tokens (every source: the one-at-a-time set is the batched set)."""
    from transformers import AutoTokenizer

    from ..config import GenerateOptions
    from ..generate import decode_prompts
    from ..methods import build_method
    from ..models.formatting import newline_token_ids
    from ..models.speedups import fuse_gelu

    device = torch.device(s.device)
    tok = AutoTokenizer.from_pretrained(work / "tokenizer")
    prompts = load_prompts(work)[: s.decode_sources]
    ours = GenerateOptions(num_beams=s.num_beams, max_new_tokens=s.max_new_tokens, batch_size=s.decode_batch)
    decoders = {"batched": ours, "hf_batched": replace(ours, beam_search="hf"),
                "one_at_a_time": replace(ours, beam_search="hf", batch_size=1)}
    lm = build_lm(s, shape, device, tok.eos_token_id).eval()  # bf16 on CUDA (GenerateOptions.precision)
    if ours.fused_gelu:  # as `generate` loads a run; every decoder below shares this LM
        fuse_gelu(lm)
    method = build_method("prefix", lm, {"length": s.prefix_length, "mid_dim": s.mid_dim}).to(device).eval()
    bad, eos, pad = newline_token_ids(tok), tok.eos_token_id, tok.pad_token_id

    def decode(opts: GenerateOptions, ps: list[list[int]]) -> tuple[float, list[list[int]]]:
        sync(device)
        t0 = time.perf_counter()
        out = decode_prompts(method, ps, opts, pad, eos, bad, device)
        sync(device)
        return len(ps) / (time.perf_counter() - t0), [x[: x.index(eos) + 1] if eos in x else x for x in out]

    for opts in decoders.values():
        decode(replace(opts, max_new_tokens=WARMUP_TOKENS), prompts[:2])
    rates, tokens = {}, {}
    for name in rotated(list(decoders), repeat):  # the order rotates over repeats
        rates[name], tokens[name] = decode(decoders[name], prompts)
    peft_rate, peft_n = peft_nocache_rate(s, lm, prompts[: s.peft_sources], bad, pad, eos, device)
    same = [a == b for a, b in zip(tokens["batched"], tokens["one_at_a_time"])]
    return {"batched_sources_per_s": rates["batched"], "hf_batched_sources_per_s": rates["hf_batched"],
            "one_at_a_time_sources_per_s": rates["one_at_a_time"], "peft_nocache_sources_per_s": peft_rate,
            "sources_compared": len(same), "identical_sources": sum(same), "outputs_identical": all(same),
            "first_mismatch": next((i for i, x in enumerate(same) if not x), None),
            "hf_batched_identical_sources": sum(a == b for a, b in zip(tokens["hf_batched"], tokens["one_at_a_time"])),
            "sources": {"batched": len(prompts), "batch_size": ours.batch_size, "one_at_a_time": len(prompts),
                        "peft_nocache": peft_n},
            "mean_new_tokens": statistics.mean(len(x) for x in tokens["batched"])}


def peft_nocache_rate(s: BenchSettings, lm, prompts: list[list[int]], bad: list, pad: int, eos: int,
                      device: torch.device) -> tuple[float, int]:
    """Sources/s of PEFT's `generate(use_cache=False)` on `prompts` in one batch (after a warm-up)."""
    from peft import PrefixTuningConfig, get_peft_model

    from ..precision import autocast

    peft_model = get_peft_model(lm, PrefixTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=s.prefix_length, prefix_projection=True,
        encoder_hidden_size=s.mid_dim)).eval()
    few = sorted(prompts, key=len)
    width = max(map(len, few))
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in few], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in few], device=device)

    def generate(new_tokens: int) -> None:
        with torch.no_grad(), autocast(device):
            peft_model.generate(input_ids=ids, attention_mask=mask, use_cache=False, num_beams=s.num_beams,
                                max_new_tokens=new_tokens, do_sample=False, early_stopping=False,
                                bad_words_ids=bad or None, pad_token_id=pad, eos_token_id=eos)

    generate(WARMUP_TOKENS)
    sync(device)
    t0 = time.perf_counter()
    generate(s.max_new_tokens)
    sync(device)
    return len(few) / (time.perf_counter() - t0), len(few)


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
