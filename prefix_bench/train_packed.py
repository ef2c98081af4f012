"""Training stage, packed: several prefix-tuning runs in one job over one frozen LM.

Command (the Snakemake rule `train_pack_<id>` runs it when `packing.max_runs` > 1):
    prefix-bench train-pack --members-json '[{"spec": {...}, "data_dir": ..., "out_dir": ...}, ...]'

Each step puts one batch of every unfinished run side by side: each row carries its own run's
prefix (`methods/prefix/packed.py`), the summed loss gives each prefix exactly its own run's
gradient (the runs' parameters are disjoint), and each run keeps its own optimizer, schedule,
gradient clipping, data order, logging and checkpoints. A run leaves the pack when its own last
step is done, and writes exactly the files a lone `prefix-bench train` writes (plus `packing` in
`run.json`), so Snakemake sees one output set per run. Packed and separate runs end at the same
prefixes up to float rounding (rows padded to another width; tests/test_train_packed.py).

Resuming: every run checkpoints into its own run directory, as alone; a run that finishes keeps a
final checkpoint until the whole pack is done, because Snakemake deletes a failed job's outputs
before the rerun, and that rerun restores each run where it stopped, the finished ones included.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from . import checkpoint
from .atomic import exclusive
from .config import RunSpec, parse_run_spec
from .errors import PrefixBenchError
from .methods.prefix.packed import PackedPrefixes, per_run_losses
from .packing import pack_key
from .progress import ProgressLog
from .train import (
    NonFiniteWatch,
    Session,
    _batch_indices,
    _resume,
    build_initialized,
    finish_run,
    is_checkpoint_step,
    is_log_step,
    load_shared_lm,
    log_loss,
    make_session,
    prepare_lm,
    read_pairs,
    save_checkpoint,
    training_figures,
)
from .train_step import training_forward

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Member:
    """One run of a pack: what `prefix-bench train` would get for it alone."""

    spec: RunSpec
    data_dir: Path
    out_dir: Path


@dataclass
class Lane:
    """A run's place in the packed loop: its session and where it stands."""

    member: Member
    session: Session
    step: int
    history: list[dict]
    tokens_seen: int
    resumed_from: int | None
    watch: NonFiniteWatch
    lengths: list[int] = field(default_factory=list)
    tokens0: int = 0
    loss_value: float = float("nan")

    @property
    def done(self) -> bool:
        return self.step >= self.session.total_steps


def check_packable(members: list[Member]) -> None:
    """One line naming the runs that cannot share a pack (another model, prefix shape or LM-level
    switch, or training that draws random numbers), before any model loads."""
    if len(members) < 1:
        raise PrefixBenchError("a pack needs at least one run")
    keys = [pack_key(m.spec) for m in members]
    for member, key in zip(members, keys):
        if key is None:
            raise PrefixBenchError(f"{member.spec.run_id} cannot be packed (packing takes `prefix` runs without "
                                   "dropout or compile); train it alone with `prefix-bench train`")
    for member, key in zip(members[1:], keys[1:]):
        if key != keys[0]:
            raise PrefixBenchError(f"{member.spec.run_id} and {members[0].spec.run_id} cannot share a pack: they "
                                   "differ in model, prefix shape, objective or an LM-level train option")
    outs = [m.out_dir.resolve() for m in members]
    if len(set(outs)) != len(outs):
        raise PrefixBenchError("two runs of the pack write to the same --out-dir")


def train_pack(members: list[Member], dev: bool = True,
               after_step: Callable[[int], None] | None = None) -> list[dict]:
    """Train every member to its own last step; write each run's outputs; return their records.
    `after_step(i)` runs after the pack's i-th step and its checkpoints (tests inject kills)."""
    check_packable(members)
    with contextlib.ExitStack() as locks:
        for m in members:  # one writer per run directory, as `prefix-bench train`
            locks.enter_context(exclusive(m.out_dir, "`prefix-bench train`"))
            checkpoint.remove_partial(m.out_dir / "checkpoint")
        return _train_pack(members, dev, after_step)


def _train_pack(members: list[Member], dev: bool, after_step: Callable[[int], None] | None) -> list[dict]:
    started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    rows = [read_pairs(m.data_dir / "train.jsonl") for m in members]  # bad data fails before the LM loads
    loaded = load_shared_lm(members[0].spec)
    built = [build_initialized(m.spec, loaded) for m in members]  # each run's seed, as alone
    prepare_lm(loaded.lm, members[0].spec.train)  # the LM-level switches are equal across the pack
    lanes = []
    for m, (method, init_info), train_rows in zip(members, built, rows):
        s = make_session(m.spec, method, init_info, loaded, train_rows, m.out_dir)
        state = _resume(s)
        lanes.append(Lane(m, s, state["step"], state["history"], state["tokens_seen"], state["resumed_from"],
                          NonFiniteWatch(s.device, m.spec.run_id, s.ckpt_dir),
                          [len(e.input_ids) for e in s.examples], state["tokens_seen"]))
    pack = {"runs": [m.spec.run_id for m in members]}
    log.info("training %d runs in one pack over %s: %s", len(lanes), members[0].spec.model, ", ".join(pack["runs"]))
    records: dict[str, dict] = {}
    for lane in lanes:
        if lane.done:  # resumed from the final checkpoint of a run that had finished
            records[lane.member.spec.run_id] = _finish(lane, pack, dev, started, t0, t0)
    _packed_steps(lanes, pack, dev, started, t0, after_step, records)
    for lane in lanes:  # every run's outputs are complete: the resume states are spent
        checkpoint.remove(lane.session.ckpt_dir)
    return [records[m.spec.run_id] for m in members]


def _packed_steps(lanes: list[Lane], pack: dict, dev: bool, started: dt.datetime, t0: float,
                  after_step: Callable[[int], None] | None, records: dict[str, dict]) -> None:
    """Step every unfinished run together until each has done its own last step."""
    first = lanes[0].session
    opts, device, fmt = first.spec.train, first.device, first.fmt
    total = sum(lane.session.total_steps for lane in lanes)
    done = sum(lane.step for lane in lanes)
    what = f"train pack of {len(lanes)} ({first.spec.run_id}, ...)"
    progress = tqdm(total=total, initial=done, desc=what, unit="step", disable=None, mininterval=5)
    job_log = ProgressLog(what, total, "run-steps", start=done)
    loop_t0, pack_steps = time.perf_counter(), 0
    active = [lane for lane in lanes if not lane.done]
    packed = None
    for lane in active:
        lane.session.method.train()
    while active:
        if packed is None or len(packed.runs) != len(active):
            packed = PackedPrefixes([lane.session.method for lane in active])
        examples, rows = [], []
        for lane in active:
            s = lane.session
            _, chunk = _batch_indices(lane.step, len(s.examples), s.batches_per_epoch, s.spec.train, lane.lengths)
            examples += [s.examples[i] for i in chunk]
            rows.append(len(chunk))
            lane.tokens_seen += sum(lane.lengths[i] for i in chunk)
        batch = fmt.collate(examples, first.tokenizer.pad_token_id, device)
        losses = _packed_losses(packed, fmt, batch, rows, opts, device)
        for lane in active:
            lane.session.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        for k, lane in enumerate(active):
            lane.watch.note(lane.step, losses[k])
            _step_run(lane, losses[k])
        pack_steps += 1
        progress.update(len(active))
        done += len(active)
        tokens = sum(lane.tokens_seen - lane.tokens0 for lane in lanes)
        job_log.update(done, runs=f"{len(active)} active", loss="/".join(f"{lane.loss_value:.3f}" for lane in active),
                       tokens_per_s=f"{tokens / (time.perf_counter() - loop_t0):.0f}")  # a line every ~30 s
        for finished in [lane for lane in active if lane.done]:
            records[finished.member.spec.run_id] = _finish(finished, pack, dev, started, t0, loop_t0)
        if after_step is not None:
            after_step(pack_steps)
        active = [lane for lane in active if not lane.done]
    progress.close()


def _packed_losses(packed: PackedPrefixes, fmt, batch: dict, rows: list[int], opts, device: torch.device) -> torch.Tensor:
    """Each active run's loss [K] of the packed batch, under the precision and target-only head
    the runs share (`train_step.loss_of_batch` for one run)."""
    with training_forward(packed.lm, fmt, batch, opts, device):
        logits = packed(batch["input_ids"], batch["attention_mask"], rows)
    return per_run_losses(logits, batch["labels"], rows, packed.objective)


def _step_run(lane: Lane, loss: torch.Tensor) -> None:
    """One run's own update after the shared backward: its clipping, optimizer and schedule, then
    its logging and checkpoint at its own intervals (as `train._train_steps`)."""
    s, opts = lane.session, lane.session.spec.train
    if opts.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(s.params, opts.grad_clip)
    s.optimizer.step()
    s.scheduler.step()
    lane.step += 1
    if is_log_step(s, lane.step):
        lane.loss_value = log_loss(s, lane.step, loss, lane.history, lane.watch)
    if is_checkpoint_step(s, lane.step) or lane.done:
        lane.watch.check()  # never save weights that a non-finite loss has touched
        # the final state too: a rerun after a kill restores a finished run instead of retraining it
        save_checkpoint(s, lane.step, lane.history, lane.tokens_seen)


def _finish(lane: Lane, pack: dict, dev: bool, started: dt.datetime, t0: float, loop_t0: float) -> dict:
    """Write a finished run's outputs, as a lone run writes them, with the pack it trained in."""
    s = lane.session
    # tokens/s: this run's own tokens over the pack's time, what it got out of the shared job
    training = training_figures(s, lane.step, lane.loss_value, lane.history, lane.resumed_from, lane.tokens_seen,
                                lane.tokens0, time.perf_counter() - loop_t0)
    extra = {"packing": {**pack, "note": "trained in one job with these runs over one frozen LM; the "
                                         "same numbers as alone up to float rounding"}}
    record = finish_run(s, training, lane.member.data_dir, lane.member.out_dir, dev, started, t0, extra)
    log.info("%s: done at step %d (final loss %.4f)", s.spec.run_id, lane.step, lane.loss_value)
    return record


def parse_members(text: str, where: str = "--members-json") -> list[Member]:
    """The pack's runs from JSON: a list of {"spec", "data_dir", "out_dir"}."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as err:
        raise PrefixBenchError(f"{where}: not JSON ({err.msg} at char {err.pos})") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise PrefixBenchError(f"{where}: expected a list of {{spec, data_dir, out_dir}} objects")
    members = []
    for n, item in enumerate(items):
        missing = {"spec", "data_dir", "out_dir"} - set(item)
        if missing:
            raise PrefixBenchError(f"{where}[{n}]: missing {', '.join(sorted(missing))}")
        members.append(Member(parse_run_spec(item["spec"], f"{where}[{n}].spec"), Path(item["data_dir"]),
                              Path(item["out_dir"])))
    return members


def run(args: argparse.Namespace) -> int:
    if args.members:
        path = Path(args.members)
        if not path.is_file():
            raise PrefixBenchError(f"{path}: members file not found")
        members = parse_members(path.read_text(encoding="utf-8"), str(path))
    else:
        members = parse_members(args.members_json)
    records = train_pack(members)
    for member, record in zip(members, records):
        t = record["training"]
        print(json.dumps({"run": member.spec.run_id, "steps": t["steps"], "final_loss": t["final_loss"],
                          "dev_loss": t.get("dev_loss")}))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("train-pack", help="train several prefix-tuning runs in one job over one frozen LM",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--members", help="JSON file: a list of {spec, data_dir, out_dir}")
    src.add_argument("--members-json", help="the same list as a JSON string")
    p.set_defaults(func=run)

