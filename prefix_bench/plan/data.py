"""Pairs, mean tokens per pair and eval units of a config's datasets, without reading the data.

The plan must price a grid before its data is prepared, so the token counts are per-dataset
means stated here (`TOKENS`) and the pair counts come from the prepared data's manifest when it
matches the config, else from the config (subset sizes, fractions) and the official sizes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ..data.subsets import DEV_RATIO  # dev pairs of a low-data subset, as a share of its training pairs
from ..errors import PrefixBenchError
from ..experiments import RESULTS, dataset_adapter, dataset_entry, derived_parent

#: Mean tokens per training pair (source, target) in GPT-2's BPE, without separators.
#: e2e: measured on the 250 bundled sample pairs (resources/demo/e2e) with SmolLM2's 49k BPE, a
#: stand-in for GPT-2's 50k BPE (no GPT-2 tokenizer offline): 33.8 + 29.5.
#: webnlg, dart: ~14 tokens per linearized triple (the tests/data samples) x ~3 triples, references
#: of ~22 words x 1.3 tokens a word; rough (+-30%), and small next to XSum.
#: xsum: 431 words per article, 23.3 per summary (Narayan et al. 2018, Table 1) x 1.3 tokens a
#: word: ~560 article tokens, ~420 of them left on average after the 512-token truncation of the
#: paper (long-tailed lengths; an estimate, +-15%); the source never exceeds max_source_tokens.
TOKENS: dict[str, tuple[float, float]] = {"e2e": (34, 30), "webnlg": (42, 30), "dart": (45, 27),
                                          "xsum": (420, 30)}
#: official training pairs, as each adapter's docstring states (tasks/*.py); webnlg: "good" lexs
TRAIN_PAIRS = {"e2e": 42_061, "webnlg": 18_025, "dart": 62_659, "xsum": 204_045}
#: scoring units of the eval splits (tasks/*.py docstrings): the units a run decodes
EVAL_UNITS = {"e2e": {"dev": 547, "test": 630}, "webnlg": {"dev": 872, "test": 1_862},
              "dart": {"dev": 2_768, "test": 5_097}, "xsum": {"dev": 11_332, "test": 11_334}}
#: XSum topic splits (section 7.3), share of each split that is kept: (train and dev, test).
#: Estimates (BBC URL sections are not countable offline): news ~85% of XSum, sport ~12%, the
#: news categories world/uk/business ~60%; a prepared manifest gives the exact counts.
TOPIC_SHARES = {"news_to_sports": (0.85, 0.12), "within_news": (0.60, 0.25)}


@dataclass(frozen=True)
class Data:
    """What a run's dataset costs per pair and how many pairs and eval units it has."""

    train_pairs: int
    source_tokens: float
    target_tokens: float
    eval_units: dict[str, int]  # split -> scoring units
    origin: str  # where the pair count comes from (printed)


def dataset_data(config: dict, name: str) -> Data:
    """Pairs, mean token counts and eval units of dataset `name`, with where the counts come from."""
    adapter = dataset_adapter(config, name)
    if adapter not in TOKENS:
        raise PrefixBenchError(f"dataset {name!r}: no token counts for adapter {adapter!r} "
                               f"(known: {', '.join(TOKENS)}); add it to prefix_bench/plan/data.py TOKENS")
    src, tgt = TOKENS[adapter]
    counts = _manifest_counts(config, name)
    if counts is not None:
        units = {s: int(c.get("units", 0)) for s, c in counts.items() if isinstance(c, dict)}
        return Data(int(counts["train"]["pairs"]), src, tgt, units, f"{RESULTS}/data/{name}/manifest.json")
    parent = derived_parent(config, name)
    if parent is not None:
        return _derived_data(dataset_entry(config, name)["derive"], dataset_data(config, parent), parent)
    topic = (dataset_entry(config, name).get("options") or {}).get("topic_split", "none")
    if topic in TOPIC_SHARES:
        keep, test = TOPIC_SHARES[topic]
        units = {"dev": round(keep * EVAL_UNITS[adapter]["dev"]), "test": round(test * EVAL_UNITS[adapter]["test"])}
        return Data(round(keep * TRAIN_PAIRS[adapter]), src, tgt, units,
                    f"estimate: {keep:.0%} of {adapter}'s {TRAIN_PAIRS[adapter]:,} pairs ({topic})")
    return Data(TRAIN_PAIRS[adapter], src, tgt, dict(EVAL_UNITS[adapter]),
                f"official size, prefix_bench/tasks/{adapter}.py")


def _manifest_counts(config: dict, name: str) -> dict | None:
    """The prepared dataset's counts, when its manifest was written from the config's source
    (a manifest of other data, such as the demo sample under the paper's name, is ignored)."""
    path = Path(RESULTS) / "data" / name / "manifest.json"
    entry = dataset_entry(config, name)
    if entry.get("derive") or not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        source, counts = manifest["source"], manifest["counts"]
    except (ValueError, KeyError, TypeError):
        return None
    wanted = entry.get("source_dir")
    if wanted is None:
        same_source = source.get("mode") == "download"
    else:
        here, root = Path(wanted).resolve(), Path(str(source.get("dir", ""))).resolve()
        same_source = source.get("mode") == "local" and (root == here or here in root.parents)
    options = manifest.get("options") or {}
    same_options = all(options.get(k) == v for k, v in (entry.get("options") or {}).items())
    if not (same_source and same_options and manifest.get("dataset") == dataset_adapter(config, name)):
        return None
    return counts if isinstance(counts.get("train"), dict) else None


def _derived_data(derive: dict, parent: Data, parent_name: str) -> Data:
    """A low-data subset or a fraction, sized as data/subsets.py sizes it."""
    if derive.get("subset_size") is not None:
        pairs = int(derive["subset_size"])
        units = {"dev": round(DEV_RATIO * pairs), "test": parent.eval_units.get("test", 0)}
        origin = f"subset_size of {parent_name}"  # cli.py folds subsets of one parent by this text
    else:
        pairs = max(1, round(float(derive["fraction"]) * parent.train_pairs))
        units = dict(parent.eval_units)
        origin = f"{derive['fraction']:g} x {parent_name}"
    if derive.get("test_size") is not None:
        units["test"] = int(derive["test_size"])
    return replace(parent, train_pairs=pairs, eval_units=units, origin=origin)
