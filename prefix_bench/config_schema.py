"""The workflow config's structure check, with one-line errors.

Snakemake's own `validate` prints the whole schema (hundreds of lines) for one misspelt key. This
check runs first, on the same schema (`workflow/schemas/config.schema.yaml`), and reports the
single most relevant problem in one line: where it is, what is wrong, and for an unknown key the
nearest valid ones.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from .errors import PrefixBenchError


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


def validate_config(config: dict, schema_path: str | Path) -> None:
    """Raise a one-line PrefixBenchError when `config` does not fit the workflow's schema."""
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    found = problem(config, schema)
    if found is not None:
        raise PrefixBenchError(f"config {found}")
