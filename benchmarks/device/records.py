"""Reading and validating benchmark records against result.schema.json."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jsonschema

from elir_mobile.errors import ElirError

from . import SCHEMA_PATH


@functools.cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validation_errors(record: object) -> list[str]:
    """Every schema violation as 'path: message' (empty when valid); date-time format is checked by pattern."""
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]


def load_record(path: Path) -> dict:
    """One validated record; bad input is an ElirError naming the file and the first problem."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except OSError as e:
        raise ElirError(f"cannot read {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ElirError(f"{path}: not JSON ({e})") from None
    errors = validation_errors(record)
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ElirError(f"{path}: not a valid benchmark record: {errors[0]}{more}")
    return record
