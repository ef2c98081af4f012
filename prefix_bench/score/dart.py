"""DART v1.1.1 metrics as the official `run_eval_on_dart.sh` computes them.

- BLEU: multi-bleu.perl over the three official reference files (lowercased, split at non-word
  characters, empty line = no reference) and the raw, CASED system output = sacrebleu
  tokenize="none", lowercase=False, "" padding.
- METEOR 1.5 `-l en -norm -r 8`: up to 8 references per entry, "" padded.
- TER: our port of tercom 0.7.25 (`ter.py`; the official tool) against the same references as METEOR.
The official script's `prepare_files.py` actually passes only reference file 0 to METEOR and TER;
`single_ref=True` reproduces that. BERTScore, MoverScore and BLEURT need model weights that are
not available here: they are listed as not computed, never estimated.

References may be the test XML, the official reference directory, or the pipeline's eval JSONL;
XML/JSONL references are normalised like the official files (`text.dart_reference`).
"""

from __future__ import annotations

from .bmt import bleu_meteor_ter
from .io import Units
from .java import java_executable, shared_meteor
from .text import dart_reference

BLEU_REFS = 3  # the official script's three reference files
METEOR_REFS = 8  # METEOR -r 8
NOT_COMPUTED = "not computed: model weights not available"
MODEL_METRICS = ("BERTScore", "MoverScore", "BLEURT")


def score_dart(
    units: Units,
    hyps: list[str],
    *,
    paper_protocol: bool = False,
    single_ref: bool = False,
    model_weights: dict[str, str] | None = None,
) -> tuple[dict, dict]:
    """Return ({"BLEU", "METEOR", "TER"}, settings); settings["not_computed"] lists the rest."""
    if model_weights:
        from ..errors import PrefixBenchError

        raise PrefixBenchError(
            f"DART model-based metrics from local weights ({', '.join(sorted(model_weights))}) are "
            "not implemented yet; run without weights to get BLEU/METEOR/TER"
        )
    java_executable()
    if units.ref_sets is not None:
        # Official reference files are already normalised; keep their empty slots for BLEU.
        bleu_refs = [list(col) for col in zip(*units.ref_sets[:BLEU_REFS])]
        refs = units.refs
    else:
        refs = [[dart_reference(r) for r in unit] for unit in units.refs]
        bleu_refs = [unit[:BLEU_REFS] for unit in refs]
    n_meteor = 1 if single_ref else METEOR_REFS
    if single_ref:
        # What prepare_files.py feeds METEOR and TER: the lines of reference file 0.
        other_refs = [[unit[0] if unit else ""] for unit in bleu_refs]
    else:
        # An empty <lex> keeps its slot for BLEU (as in the official files) but is no reference.
        other_refs = [[r for r in unit if r][:n_meteor] or [""] for unit in refs]
    meteor = shared_meteor()
    scores = bleu_meteor_ter(
        hyps,
        bleu_refs,
        other_refs,
        other_refs,
        {"all": list(range(len(hyps)))},
        bleu_lowercase=False,
        meteor_n_refs=METEOR_REFS,
        meteor=meteor,
    )
    settings = {
        "bleu": f"sacrebleu tokenize=none lowercase=False (cased, as multi-bleu); {BLEU_REFS} "
        "reference files, missing as ''",
        "meteor": f"meteor-1.5 -l en -norm, {METEOR_REFS} references per segment ('' padded), "
        f"{'reference 0 only' if single_ref else f'up to {n_meteor} references'}",
        "ter": f"tercom 0.7.25 port, case-insensitive (tercom default), "
        f"{'reference 0 only' if single_ref else f'up to {n_meteor} references'}",
        "single_ref": single_ref,
        "not_computed": {name: NOT_COMPUTED for name in MODEL_METRICS},
    }
    return dict(scores["all"]), settings
