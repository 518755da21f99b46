"""The model card: one JSON document per artifact, the same fields for every target, checked against
`card.schema.json` before anything is published.

Metadata lives in the card rather than in the file name: an app reads shapes, layout, dtypes and quantization of
its inputs, the noise mode and the parity figures from it.  Readers (C++ `elir_bench`, the Kotlin and Swift cores,
`elir_mobile.artifacts`) read the same fields; their tests validate the cards they read with `validate`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
from functools import lru_cache
from pathlib import Path

from elir_mobile.errors import ElirError

SCHEMA_VERSION = 2
SCHEMA_PATH = Path(__file__).with_name("card.schema.json")
VERSIONED_PACKAGES = {"torch": "torch", "executorch": "executorch", "coremltools": "coremltools",
                      "litert_torch": "litert-torch", "ai_edge_litert": "ai-edge-litert",
                      "ai_edge_quantizer": "ai-edge-quantizer", "elir_mobile": "elir-mobile"}


class CardError(ElirError):
    """A card that does not follow the schema (a bug in whatever wrote it)."""


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate(card: dict) -> dict:
    """`card` if it follows the schema, else `CardError` naming the first offending field."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema()).iter_errors(card))
    if error is None:
        return card
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    raise CardError(f"model card field {where or '(top level)'}: {error.message}")


def versions() -> dict[str, str | None]:
    """Installed versions of the packages an artifact depends on (None where one is not installed)."""
    out = {}
    for key, dist in VERSIONED_PACKAGES.items():
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[key] = None
    return out


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, or of a directory's files' bytes in sorted relative-path order."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted((p for p in path.rglob("*") if p.is_file()),
                                                  key=lambda p: p.relative_to(path).as_posix())
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def size_of(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def tensor_spec(name: str, shape, layout: str, value_range, io: dict | None = None) -> dict:
    """A card tensor: float32 unless the target's `io` entry for `name` says otherwise (integer I/O, images)."""
    spec = {"name": name, "shape": [int(s) for s in shape], "layout": layout.upper(), "dtype": "float32",
            "kind": "tensor", "range": [round(float(v), 6) for v in value_range], "quantization": None}
    spec.update(io or {})
    return spec


def finite_or_none(x: float | None, digits: int = 4) -> float | None:
    """JSON has no infinity: an exact match (PSNR = inf) is recorded as null."""
    return None if x is None or not math.isfinite(x) else round(float(x), digits)
