"""The model card: one JSON document per artifact, the same keys for every target (see CONTEXT / issue 3).

Metadata lives here rather than in the file name: an app reads shapes, layout, noise mode and the parity
figures from the card.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import math
from pathlib import Path

SCHEMA_VERSION = 1
VERSIONED_PACKAGES = {"torch": "torch", "executorch": "executorch", "coremltools": "coremltools",
                      "litert_torch": "litert-torch", "ai_edge_litert": "ai-edge-litert",
                      "elir_mobile": "elir-mobile"}


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


def tensor_spec(name: str, shape, layout: str) -> dict:
    return {"name": name, "shape": list(shape), "layout": layout.upper(), "dtype": "float32", "range": [0, 1]}


def finite_or_none(x: float | None) -> float | None:
    """JSON has no infinity: an exact match (PSNR = inf) is recorded as null with max_abs_err 0."""
    return None if x is None or not math.isfinite(x) else round(float(x), 4)
