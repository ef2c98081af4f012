"""`prefix-bench plan`: what a config's grid costs, before its ~900 jobs are submitted.

Command: `prefix-bench plan --configfile config/config.yaml [--device h200]
[--bench results/bench/gpu-h200.json] [--pack 8] [--precision config|bf16|fp32] [--json OUT]`.

The config is read as the Snakefile reads it (YAML, the workflow schema, `experiments.expand_runs`),
so the runs are the DAG's runs; a run identical to an earlier one (`Run.trained_in`) is no job of
its own. Per experiment it prints runs, training jobs, training tokens, training FLOPs, decoding
FLOPs (rough) and the wall hours of training on one device, without and with packing; then the
total and which source every time figure came from.

FLOP model (per training example; N = the weights a token passes through, embeddings excluded,
the LM head's matmul included whether tied or not, at target positions only with
`train.target_only_head`):
- forward 2N per token; attention adds 4 x d x layers x (keys it attends to) per token, the
  prefix's L keys included; its backward costs twice its forward for every method;
- frozen LM (prefix, prefix_bart, prefix_emb, infix, adapter, lora): backward through the
  activations 2N, no weight gradients of the LM: ~4N, plus 6 per trained weight a token passes
  (adapters, LoRA), plus the prefix MLP once a step (INFIX-k runs source + k through the LM once
  more; EMB-k runs its k tokens through the LM once a step);
- full fine-tuning: 6N;
- FT-top2: 2N forward; backward and weight gradients only through the LM head and the top
  blocks (autograd stops below the lowest trained block);
- BART: the encoder (and the decoder's cross-attention K/V) over the source, the decoder and the
  head over the target.
Not counted: padding, the optimizer, data loading, the real-word initialisation fit.

Tokens per pair are per-dataset means (`TOKENS`, estimates stated there); train pair counts come
from the prepared data's manifest when it matches the config, else from the config (subset
sizes, fractions) and the official sizes (`TRAIN_PAIRS`).

Wall time (training only; decoding is not timed):
- `--bench` (a `prefix-bench gpu-check` JSON): the measured tokens/s of the row of the run's
  family and precision (GPT-2: `prefix_lm_bf16` or, in newer checks, `prefix`; `finetune`; BART:
  `prefix_bart`, `finetune` at XSum's shape) at the largest measured batch not above the run's
  (a smaller batch keeps the measured step time: small steps are launch-bound), scaled by the
  FLOP model from the row's model and method to the run's (FT-top2, adapters, LoRA, EMB-k and
  INFIX-k use the frozen-LM row). A precision the check did not measure (fp32) takes the slower
  of the measured bf16 row and the assumed MFU against that precision's peak.
- otherwise an assumed MFU (`--mfu`, default 35%) of the device's datasheet peak for the run's
  precision, scaled down linearly below `SATURATION_TOKENS` tokens a step (the H200 check
  measured 1.3% of the datasheet at 10 E2E-sized rows and 13% at 64: small steps are
  launch-bound).
Packing (`--pack K`, default 8 as the gpu-check measured): `prefix` runs that share the model,
the prefix shape and the LM-level switches (precision, device, ...) train up to K at a time over
one frozen LM, grouped as the workflow groups them (`packing.plan_packs`; the runs may differ in
dataset, seed, learning rate and length). Each packed step runs one batch of every unfinished
member (`train_packed.py`), so a pack costs, segment by segment up to its longest member's
steps, the step of the members still running: the measured `packing` row of the bench when
given, else the FLOP model at the assumed MFU, and never more than the members' own steps
(so packing never costs more).
"""
# Layout, in the order a plan runs:
#   jobs.py     the config's runs (as the Snakefile reads them) and the job of each run that trains
#   data.py     pairs, mean tokens and eval units per dataset (manifest, config, official sizes)
#   shapes.py   the weights a token passes, counted on a meta-device model
#   flops.py    the FLOP model per method and model shape
#   bench.py    the measured rows of a `prefix-bench gpu-check` JSON
#   rates.py    seconds per job: measured rows or the assumed MFU of a device's datasheet peak
#   packs.py    seconds per pack of prefix runs, packed as the workflow packs them
#   estimate.py plan(): per job, per experiment and in total
#   cli.py      `prefix-bench plan`: the table and the JSON

from __future__ import annotations

from .cli import render
from .estimate import plan

__all__ = ["plan", "render"]
