"""The workflow config's structure check, with one-line errors.

Snakemake's own `validate` prints the whole schema (hundreds of lines) for one misspelt key. This
check runs first, on the same schema (`workflow/schemas/config.schema.yaml`), and reports the
single most relevant problem in one line: where it is, what is wrong, and for an unknown key the
nearest valid ones.
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

from .errors import PrefixBenchError

log = logging.getLogger(__name__)

#: the workflow's schema, in a repository checkout (a wheel installed without the repository has none)
SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "top level"


def problem(config: dict, schema: dict) -> str | None:
    """The most relevant violation of `schema` by `config` as one line, or None."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return None
    where = _where(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        if unknown and allowed:
            near = difflib.get_close_matches(unknown[0], allowed, n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(map(repr, near))}? " if near else ""
            return f"{where}: unknown key {unknown[0]!r}; {hint}valid keys: {', '.join(allowed)}"
    message = " ".join(error.message.split())
    if len(message) > 160:
        message = message[:157] + "..."
    return f"{where}: {message}"


def validate_config(config: dict, schema_path: str | Path, only: str | None = None) -> None:
    """Raise a one-line PrefixBenchError when `config` does not fit the workflow's schema (or,
    with `only`, when that one top-level key does not)."""
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    if only is not None:
        schema = {**schema, "required": [], "additionalProperties": True,
                  "properties": {only: schema["properties"][only]}}
    found = problem(config, schema)
    if found is not None:
        raise PrefixBenchError(f"config {found}")


def read_config_file(path: Path, schema_path: Path = SCHEMA, only: str | None = None) -> dict:
    """A workflow config file as the Snakefile would take it: found, YAML, a mapping, and checked
    against the schema (the whole config, or only the top-level key `only`; one-line errors).
    Commands that read a config outside Snakemake (`plan`, `check-scores`) use this, so a config
    fails there as it fails in the workflow."""
    import yaml

    if not path.is_file():
        raise PrefixBenchError(f"{path}: config not found")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise PrefixBenchError(f"{path}: not valid YAML ({' '.join(str(err).split())[:160]})") from None
    if not isinstance(config, dict):
        raise PrefixBenchError(f"{path}: not a config (expected a mapping with datasets, models, experiments)")
    if schema_path.is_file():
        validate_config(config, schema_path, only)
    else:
        log.warning("%s: not checked against the workflow schema (%s is missing: prefix_bench runs outside its "
                    "repository checkout)", path, schema_path)
    return config
