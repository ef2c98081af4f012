"""Generation stage: decode every scoring unit of an eval split with a trained run.

Command: `prefix-bench generate --run-dir results/runs/RUN --eval-jsonl results/data/e2e/test.eval.jsonl
--out results/runs/RUN/predictions/test.txt`

Sources are deduplicated (a scorer's units may share a source), sorted by length and decoded in
batches with beam search (paper: beam 5, at most 100 new tokens, newlines banned, cut at the first
EOS). By default the search is our own `decoding.beam_search` (each prompt encoded once, finished
items leave the batch; same tokens as `transformers` `generate`, which `beam_search: hf` selects).
Outputs are mapped back to the official order: one line per unit, an explicit placeholder for an
empty output, written atomically. The batch loop (`decode_pooled`) also serves several runs of a
pack at once (`prefix-bench generate-pack`, generate_packed.py), each row under its own run's prefix.

The decoding settings come from `--generate-json` (the workflow passes the config's current ones),
else from the run's record. They are not part of the run's training identity: a decoding change
re-runs this stage and scoring, never training. The `.json` beside the outputs records both
identities (`config_hash` of the training, `decode_hash` of the decoding settings).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import ContextManager, Protocol

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from tqdm import tqdm

from . import precision
from .atomic import write_json, write_text
from .config import GenerateOptions, RunSpec, parse_run_spec
from .data.schema import read_jsonl
from .decoding import beam_search
from .errors import PrefixBenchError
from .methods import Method, build_method
from .models import load_lm
from .models.formatting import decode_output, newline_token_ids, text_format
from .models.speedups import fuse_gelu
from .options import from_dict
from .progress import ProgressLog
from .provenance import code_version, sha256_file
from .train import pick_device

log = logging.getLogger(__name__)


def load_run(run_dir: Path, generate: GenerateOptions | None = None) -> tuple[RunSpec, Method, object, torch.device]:
    """Rebuild a trained run from its run.json and trained.safetensors, on the run's device; the
    returned spec carries `generate` (else the record's decoding settings)."""
    spec = read_run_spec(run_dir, generate)
    device = pick_device(spec.train.device)
    lm, tokenizer = load_decoding_lm(spec, device)
    method = load_trained_method(spec, run_dir, lm, tokenizer, device)
    precision.apply(method, device, spec.generate.precision, spec.generate.tf32)
    return spec, method.eval(), tokenizer, device


def read_run_spec(run_dir: Path, generate: GenerateOptions | None = None) -> RunSpec:
    """A trained run's spec from its run.json (weights checked to come from the same training),
    carrying `generate` when given, else the record's decoding settings."""
    record_path, weights = run_dir / "run.json", run_dir / "trained.safetensors"
    for path in (record_path, weights):
        if not path.is_file():
            raise PrefixBenchError(f"{path}: not found; train the run first (`prefix-bench train`)")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise PrefixBenchError(f"{record_path}: not valid JSON ({err.msg}); retrain the run") from None
    raw = record.get("spec")
    if generate is not None and isinstance(raw, dict):
        # replaced below: decoding keys an older prefix_bench wrote (e.g. `bf16`) do not matter
        raw = {k: v for k, v in raw.items() if k != "generate"}
    try:
        spec = parse_run_spec(raw, str(record_path))
    except PrefixBenchError as err:
        if f"{record_path}.generate" not in str(err):
            raise
        raise PrefixBenchError(f"{err} (a record from another prefix_bench version? decode it under today's "
                               "settings with --generate-json, as the workflow does)") from None
    if generate is not None:
        spec = dataclasses.replace(spec, generate=generate)
    check_same_run(weights, record)
    return spec


def load_decoding_lm(spec: RunSpec, device: torch.device) -> tuple[object, object]:
    """The frozen LM and tokenizer a run decodes with (fused GELU when its decoding asks)."""
    lm, tokenizer = load_lm(spec.model_path, device, spec.trust_remote_code)
    if spec.generate.fused_gelu:
        fuse_gelu(lm)
    return lm, tokenizer


def load_trained_method(spec: RunSpec, run_dir: Path, lm, tokenizer, device: torch.device) -> Method:
    """The run's method over `lm` with its trained weights loaded."""
    weights = run_dir / "trained.safetensors"
    method = build_method(spec.method, lm, spec.method_options).to(device)
    method.initialize(tokenizer, fit=False)  # shapes only (e.g. the length of a word-initialised prefix)
    try:
        state = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError) as err:
        raise PrefixBenchError(f"{weights}: unreadable checkpoint ({err}); retrain the run") from None
    method.load_trainable_state_dict(state, str(weights))
    return method


def check_same_run(weights: Path, record: dict) -> None:
    """The weights and the run record must come from one training (a run directory mixed from two
    trainings would decode one run's weights under the other's settings)."""
    try:
        with safe_open(str(weights), "pt") as f:
            meta = json.loads((f.metadata() or {}).get("prefix_bench", "{}"))
    except (SafetensorError, OSError, json.JSONDecodeError) as err:
        raise PrefixBenchError(f"{weights}: unreadable checkpoint ({err}); retrain the run") from None
    stored, recorded = meta.get("config_hash"), record.get("config_hash")
    if stored != recorded:
        raise PrefixBenchError(f"{weights.parent}: files from different trainings (trained.safetensors "
                               f"{stored}, run.json {recorded}); retrain the run")


def search_used(method: Method | Decoder, opts: GenerateOptions) -> str:
    """The beam search that runs, as recorded: our own serves decoder-only models; an
    encoder-decoder (BART) decodes with `generate` whatever `beam_search` asks."""
    return "own" if opts.beam_search == "own" and text_format(method.lm).left_pad_prompts else "hf"


class Decoder(Protocol):
    """What the batch loop needs from whatever decodes: one run (`LoneRun`) or several runs'
    prefixes over one LM (`methods.prefix.packed.PackedPrefixes`). `run_of_row` names each row's
    run (index into the pool; all zeros alone)."""

    lm: torch.nn.Module
    name: str
    per_source_state: bool
    run_count: int

    def format_source(self, source: str) -> str: ...

    def generating(self) -> ContextManager[None]: ...

    def generation_kwargs(self, attention_mask: torch.Tensor, input_ids: torch.Tensor | None = None) -> dict: ...

    def prefix_in_cache(self, run_of_row: torch.Tensor) -> ContextManager[list | None]: ...

    def prefix_in_attention(self, run_of_row: torch.Tensor) -> ContextManager[None]: ...


class LoneRun:
    """One run's method as a `Decoder`: its state is the same for every row."""

    def __init__(self, method: Method) -> None:
        self.method, self.lm, self.name = method, method.lm, method.name
        self.per_source_state, self.run_count = method.per_source_state, 1

    def format_source(self, source: str) -> str:
        return self.method.format_source(source)

    def generating(self) -> ContextManager[None]:
        return self.method.generating()

    def generation_kwargs(self, attention_mask: torch.Tensor, input_ids: torch.Tensor | None = None) -> dict:
        return self.method.generation_kwargs(attention_mask, input_ids)

    def prefix_in_cache(self, run_of_row: torch.Tensor) -> ContextManager[list | None]:
        return self.method.prefix_in_cache()

    def prefix_in_attention(self, run_of_row: torch.Tensor) -> ContextManager[None]:
        return contextlib.nullcontext()  # generating() has made it visible already


@torch.no_grad()
def decode_prompts(method: Method, prompts: list[list[int]], opts: GenerateOptions, pad_id: int, eos_id: int,
                   bad_words_ids: list[list[int]] | None, device: torch.device) -> list[list[int]]:
    """Beam-search token prompts in length-sorted batches; return the new ids of each, in order."""
    return decode_pooled(LoneRun(method), [prompts], opts, pad_id, eos_id, bad_words_ids, device)[0]


@torch.no_grad()
def decode_pooled(decoder: Decoder, prompts_per_run: list[list[list[int]]], opts: GenerateOptions, pad_id: int,
                  eos_id: int, bad_words_ids: list[list[int]] | None, device: torch.device) -> list[list[list[int]]]:
    """Beam-search the prompts of every run of `decoder` in shared length-sorted batches of
    `batch_size` rows per run, each row under its own run's state; return each run's new ids, in
    order. Alone (one run) this is the plain batched decode."""
    fmt = text_format(decoder.lm)
    items = [(run, i) for run, prompts in enumerate(prompts_per_run) for i in range(len(prompts))]
    order = sorted(items, key=lambda item: (len(prompts_per_run[item[0]][item[1]]), item))  # less padding
    search = dict(num_beams=opts.num_beams, max_new_tokens=opts.max_new_tokens,
                  min_new_tokens=opts.min_new_tokens, length_penalty=opts.length_penalty,
                  no_repeat_ngram_size=opts.no_repeat_ngram_size, bad_words_ids=bad_words_ids or None,
                  pad_token_id=pad_id, eos_token_id=eos_id)
    own = search_used(decoder, opts) == "own"
    outputs: list[list[list[int]]] = [[[] for _ in prompts] for prompts in prompts_per_run]
    batch_rows = opts.batch_size * len(prompts_per_run)
    job_log = ProgressLog("generate", len(items), "sources")
    with decoder.generating(), precision.autocast(device, opts.precision):
        for start in tqdm(range(0, len(order), batch_rows), desc="generate", unit="batch",
                          disable=None, mininterval=5):
            idx = order[start : start + batch_rows]
            batch_prompts = [prompts_per_run[run][i] for run, i in idx]
            width = max(len(p) for p in batch_prompts)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, prompt in enumerate(batch_prompts):
                # decoder-only: left padding, generation continues from the right edge;
                # encoder-decoder: right padding, BART's positions count from the left edge
                cols = slice(width - len(prompt), width) if fmt.left_pad_prompts else slice(0, len(prompt))
                ids[row, cols] = torch.tensor(prompt)
                mask[row, cols] = 1
            ids, mask = ids.to(device), mask.to(device)
            run_of_row = torch.tensor([run for run, _ in idx], device=device)
            extra = decoder.generation_kwargs(mask, ids)
            if own and set(extra) - {"position_ids"}:
                raise PrefixBenchError(f"method {decoder.name!r} decodes with generate() arguments our beam "
                                       f"search does not take ({', '.join(sorted(set(extra) - {'position_ids'}))}); "
                                       "set generate.beam_search: hf")
            if own:
                with decoder.prefix_in_cache(run_of_row) as prefix_kv:  # written once, not concatenated per step
                    new = beam_search(decoder.lm, ids, mask, position_ids=extra.get("position_ids"),
                                      drop_finished=not decoder.per_source_state, prefix_kv=prefix_kv, **search)
            else:
                with decoder.prefix_in_attention(run_of_row):
                    out = decoder.lm.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                              early_stopping=False, **extra, **search)
                skip = 1 if fmt.strip_first_generated else width  # decoder start token / the prompt
                new = [out[row, skip:].tolist() for row in range(len(idx))]
            for row, (run, i) in enumerate(idx):
                outputs[run][i] = new[row]
            job_log.update(start + len(idx))
    return outputs


def decode_sources(method: Method, tokenizer, sources: list[str], opts: GenerateOptions,
                   max_source_tokens: int, device: torch.device) -> list[str]:
    """Beam-search each source once; return outputs in the order of `sources`."""
    return decode_sources_pooled(LoneRun(method), tokenizer, sources, opts, max_source_tokens, device)[0]


def decode_sources_pooled(decoder: Decoder, tokenizer, sources: list[str], opts: GenerateOptions,
                          max_source_tokens: int, device: torch.device) -> list[list[str]]:
    """Every run of `decoder` beam-searches each source once, in one pooled decode; return each
    run's outputs in the order of `sources`. The sources are encoded once: the runs of a decoder
    read a source alike (`format_source`)."""
    fmt = text_format(decoder.lm)
    prompts = [fmt.encode_prompt(tokenizer, decoder.format_source(s), max_source_tokens) for s in sources]
    bad = newline_token_ids(tokenizer) if opts.ban_newlines else None
    new = decode_pooled(decoder, [prompts] * decoder.run_count, opts, tokenizer.pad_token_id, tokenizer.eos_token_id,
                        bad, device)
    return [[decode_output(tokenizer, ids, opts.empty_placeholder) for ids in run] for run in new]


def generate_split(run_dir: Path, eval_jsonl: Path, out_path: Path, generate: GenerateOptions | None = None) -> dict:
    """Decode the units of `eval_jsonl` with the run in `run_dir` under `generate` (default: the
    run record's decoding settings); write one line per unit."""
    t0 = time.perf_counter()
    units = read_units(eval_jsonl)
    spec, method, tokenizer, device = load_run(run_dir, generate)
    if spec.train.threads:  # the run's thread budget holds for decoding too
        torch.set_num_threads(spec.train.threads)
    unique = unique_sources(units)
    decoded = dict(zip(unique, decode_sources(method, tokenizer, unique, spec.generate,
                                              spec.train.max_source_tokens, device)))
    return write_predictions(out_path, units, decoded, spec, search_used(method, spec.generate), device,
                             run_dir, eval_jsonl, time.perf_counter() - t0)


def read_units(eval_jsonl: Path) -> list[dict]:
    """The scoring units of an eval split; none is an error."""
    units = read_jsonl(eval_jsonl)
    if not units:
        raise PrefixBenchError(f"{eval_jsonl}: no evaluation units")
    return units


def unique_sources(units: list[dict]) -> list[str]:
    """Each source once (a scorer's units may share one), in first-appearance order."""
    return list(dict.fromkeys(u["source"] for u in units))


def write_predictions(out_path: Path, units: list[dict], decoded: dict[str, str], spec: RunSpec, search_ran: str,
                      device: torch.device, run_dir: Path, eval_jsonl: Path, seconds: float, **extra) -> dict:
    """One line per unit, in the official order, and the record beside it (`extra` adds fields)."""
    lines = [decoded[u["source"]] for u in units]
    write_text(out_path, "".join(line + "\n" for line in lines))
    info = {
        "units": len(units), "unique_sources": len(decoded), "seconds": seconds,
        "empty_outputs": sum(line == spec.generate.empty_placeholder for line in lines),
        "generate_options": spec.to_dict()["generate"], "beam_search_ran": search_ran,
        "eval_jsonl": str(eval_jsonl),
        "config_hash": spec.config_hash(), "decode_hash": spec.generate.identity(),
        "device": str(device), "precision": precision.describe(device, spec.generate.precision, spec.generate.tf32),
        "code": code_version(),
        "trained_sha256": sha256_file(run_dir / "trained.safetensors"),
        "eval_sha256": sha256_file(eval_jsonl),
        **extra,
    }
    write_json(out_path.with_suffix(".json"), info)
    return info


def parse_generate_json(text: str) -> GenerateOptions:
    """`--generate-json`: decoding settings as a JSON object, checked like the config's."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PrefixBenchError(f"--generate-json: not valid JSON ({err.msg})") from None
    return from_dict(GenerateOptions, data, "--generate-json")


def run(args: argparse.Namespace) -> int:
    generate = parse_generate_json(args.generate_json) if args.generate_json else None
    info = generate_split(Path(args.run_dir), Path(args.eval_jsonl), Path(args.out), generate)
    print(json.dumps({k: info[k] for k in ("units", "unique_sources", "empty_outputs", "seconds")}))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="decode an eval split with a trained run", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", required=True, help="trained run directory (run.json, trained.safetensors)")
    p.add_argument("--eval-jsonl", required=True, help="prepared <split>.eval.jsonl")
    p.add_argument("--out", required=True, help="output text file, one line per evaluation unit")
    p.add_argument("--generate-json",
                   help="decoding settings as JSON (default: those in the run record, else the paper's defaults)")
    p.set_defaults(func=run)
