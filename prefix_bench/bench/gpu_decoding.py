"""The GPU check's decoding and pipeline figures (see gpu_check.py): our batched beam search
against `generate` and PEFT, and one real train -> generate pass of the pipeline's own stages."""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from .gpu_setup import CheckSettings, Timer, build_lm, synthetic_prompts

# --- decoding --------------------------------------------------------------------------------
def check_decoding(s: CheckSettings, device: torch.device) -> dict:
    from peft import PrefixTuningConfig, get_peft_model

    from .. import precision
    from ..config import GenerateOptions
    from ..generate import decode_prompts
    from ..methods import build_method
    from ..models.speedups import fuse_gelu

    eos = pad = s.vocab - 1
    lm = build_lm(s, device).eval()
    fuse_gelu(lm)  # as `generate` loads a run
    torch.manual_seed(1)
    method = build_method("prefix", lm, {"length": s.prefix_length, "mid_dim": s.mid_dim}).to(device).eval()
    prompts = synthetic_prompts(s, s.decode_sources, seed=7)
    ours = GenerateOptions(num_beams=s.num_beams, max_new_tokens=s.max_new_tokens, batch_size=len(prompts))
    hf = replace(ours, beam_search="hf")
    single = replace(hf, batch_size=1)

    def decode(opts: GenerateOptions, ps: list[list[int]]) -> tuple[float, list[list[int]]]:
        with Timer(device) as t:
            out = decode_prompts(method, ps, opts, pad, eos, None, device)
        return len(ps) / t.seconds, out

    # Identity on every source in fp32 first (the search itself, free of bf16 rounding) ...
    _, fp32_ours = decode(replace(ours, precision="fp32"), prompts)
    _, fp32_single = decode(replace(single, precision="fp32"), prompts)
    same = [a == b for a, b in zip(fp32_ours, fp32_single)]

    # ... then every decoder timed in the pipeline's decoding precision, as `generate` loads a run.
    precision.apply(method, device, ours.precision, ours.tf32)
    for opts in (ours, hf, single):  # warm-up: CUDA context, kernels, allocator, for every decoder
        decode(replace(opts, max_new_tokens=4), prompts[:2])
    rate_ours, tokens_ours = decode(ours, prompts)
    rate_hf, _ = decode(hf, prompts)
    one = prompts[: s.one_at_a_time_sources]
    rate_single, tokens_single = decode(single, one)

    # PEFT wraps the LM (prompt learning leaves the LM's own modules as they are).
    peft_model = get_peft_model(lm, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=s.prefix_length,
                                                       prefix_projection=True, encoder_hidden_size=s.mid_dim)).eval()
    few = sorted(prompts[: s.peft_sources], key=len)
    width = max(map(len, few))
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in few], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in few], device=device)
    def peft_generate(n_new: int):
        with torch.no_grad(), precision.autocast(device):
            peft_model.generate(input_ids=ids, attention_mask=mask, use_cache=False, num_beams=s.num_beams,
                                max_new_tokens=n_new, do_sample=False, early_stopping=False,
                                pad_token_id=pad, eos_token_id=eos)

    peft_generate(2)
    with Timer(device) as t:
        peft_generate(s.max_new_tokens)
    rate_peft = len(few) / t.seconds
    return {
        "sources": len(prompts), "num_beams": s.num_beams, "max_new_tokens": s.max_new_tokens,
        "ours_batched_sources_per_s": rate_ours, "hf_batched_sources_per_s": rate_hf,
        "one_at_a_time_sources_per_s": rate_single, "peft_nocache_sources_per_s": rate_peft,
        "one_at_a_time_sources": len(one), "peft_sources": len(few),
        "speedup_vs_one_at_a_time": rate_ours / rate_single, "speedup_vs_hf_batched": rate_ours / rate_hf,
        "speedup_vs_peft_nocache": rate_ours / rate_peft,
        "fp32_identical_sources": sum(same),
        "fp32_first_mismatch": next((i for i, x in enumerate(same) if not x), None),
        "bf16_agreeing_sources": sum(a == b for a, b in zip(tokens_ours, tokens_single)),
        "mean_new_tokens": statistics.mean(len(x) for x in tokens_ours),
    }


# --- pooled decoding ---------------------------------------------------------------------------
def check_pooled_decoding(s: CheckSettings, device: torch.device) -> dict:
    """K prefix runs decoding the same sources (as a pack's members decode a test set): pooled
    batches (`generate.decode_pooled`, each run's batch side by side) against the K decodes one
    after another, with our search and with `generate`; tokens compared with the separate decodes
    in fp32, timed in the pipeline's decoding precision."""
    from .. import precision
    from ..config import GenerateOptions
    from ..generate import decode_pooled, decode_prompts
    from ..methods import build_method
    from ..methods.prefix.packed import PackedPrefixes
    from ..models.speedups import fuse_gelu

    eos = pad = s.vocab - 1
    lm = build_lm(s, device).eval()
    fuse_gelu(lm)
    runs = []
    for seed in range(s.packed_runs):
        torch.manual_seed(seed)
        runs.append(build_method("prefix", lm, {"length": s.prefix_length, "mid_dim": s.mid_dim}).to(device).eval())
    pool = PackedPrefixes(runs)
    prompts = synthetic_prompts(s, max(1, s.decode_sources // 2), seed=11)
    base = GenerateOptions(num_beams=s.num_beams, max_new_tokens=s.max_new_tokens, batch_size=len(prompts))

    def separate(opts: GenerateOptions) -> tuple[float, list]:
        with Timer(device) as t:
            out = [decode_prompts(run, prompts, opts, pad, eos, None, device) for run in runs]
        return len(runs) * len(prompts) / t.seconds, out

    def pooled(opts: GenerateOptions) -> tuple[float, list]:
        with Timer(device) as t:
            out = decode_pooled(pool, [prompts] * len(runs), opts, pad, eos, None, device)
        return len(runs) * len(prompts) / t.seconds, out

    searches = {"own": base, "hf": replace(base, beam_search="hf")}
    identical = {}
    for name, opts in searches.items():  # the search itself first, free of bf16 rounding
        fp32 = replace(opts, precision="fp32")
        a, b = separate(fp32)[1], pooled(fp32)[1]
        identical[name] = sum(x == y for run_a, run_b in zip(a, b) for x, y in zip(run_a, run_b))
    precision.apply(pool, device, base.precision, base.tf32)
    out = {"runs": len(runs), "sources_per_run": len(prompts), "num_beams": s.num_beams,
           "max_new_tokens": s.max_new_tokens, "precision": base.precision}
    for name, opts in searches.items():
        separate(replace(opts, max_new_tokens=4))  # warm-up, both ways
        pooled(replace(opts, max_new_tokens=4))
        rate_separate, tokens_separate = separate(opts)
        rate_pooled, tokens_pooled = pooled(opts)
        out[name] = {"pooled_sources_per_s": rate_pooled, "separate_sources_per_s": rate_separate,
                     "speedup": rate_pooled / rate_separate,
                     "fp32_identical": identical[name], "outputs": len(runs) * len(prompts),
                     "bf16_agreeing": sum(x == y for ra, rb in zip(tokens_separate, tokens_pooled)
                                          for x, y in zip(ra, rb))}
    return out


# --- the pipeline's own stages on the device ------------------------------------------------
def check_pipeline(s: CheckSettings, work: Path) -> dict:
    """`train_run` and `generate_split` end to end on the device (a tiny GPT-2 on the bundled E2E
    sample, prefix-tuning and fine-tuning): the code path every GPU job takes runs there."""
    import json

    from ..config import GenerateOptions, RunSpec, TrainOptions
    from ..data import prepare_dataset
    from ..generate import generate_split
    from ..models.tiny import build_tiny
    from ..train import train_run
    from .inputs import DEMO_DATA

    data, model = work / "data", work / "model"
    prepare_dataset("e2e", data, source_dir=DEMO_DATA)
    rows = [json.loads(line) for line in (data / "train.jsonl").open(encoding="utf-8")]
    build_tiny("tiny-gpt2", [t for r in rows for t in (r["source"], r["target"])], model)
    out = {}
    for method, options in (("prefix", {"length": 5}), ("finetune", {})):
        spec = RunSpec(run_id=f"gpu-check-{method}", experiment="gpu-check", dataset="e2e", model="tiny-gpt2",
                       model_path=str(model), method=method, method_options=options,
                       train=TrainOptions(device=s.device, max_steps=30, batch_size=5, lr=1e-3, log_every=10),
                       generate=GenerateOptions(max_new_tokens=20))
        run_dir = work / spec.run_id
        t0 = time.perf_counter()
        record = train_run(spec, data, run_dir)
        train_s = time.perf_counter() - t0
        decoded = generate_split(run_dir, data / "test.eval.jsonl", run_dir / "test.txt", spec.generate)
        out[method] = {"device": record["device"], "steps": record["training"]["steps"],
                       "final_loss": record["training"]["final_loss"], "dev_loss": record["training"]["dev_loss"],
                       "train_seconds": train_s, "units_decoded": decoded["units"],
                       "empty_outputs": decoded["empty_outputs"], "decode_seconds": decoded["seconds"],
                       "first_output": (run_dir / "test.txt").read_text(encoding="utf-8").splitlines()[0]}
    return out
