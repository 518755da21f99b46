"""Parity of a harness's output against the reference vectors the export pipeline writes beside an artifact.

PSNR is computed on both tensors clamped to [0, 1] (data range 1), as the pipeline's gate is; identical
outputs would give +inf, which JSON cannot carry, so PSNR is capped at PSNR_CAP_DB.  Mirrored in
native/src/parity.cpp, android_demo .../Parity.kt and ios_demo .../Parity.swift."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from elir_mobile.errors import ElirError

PSNR_CAP_DB = 200.0


def psnr_db(output: np.ndarray, expected: np.ndarray) -> float:
    a = np.clip(np.asarray(output, dtype=np.float64).ravel(), 0.0, 1.0)
    b = np.clip(np.asarray(expected, dtype=np.float64).ravel(), 0.0, 1.0)
    if a.shape != b.shape:
        raise ElirError(f"output has {a.size} values, the reference has {b.size}")
    mse = float(np.mean((a - b) ** 2))
    return PSNR_CAP_DB if mse <= 10 ** (-PSNR_CAP_DB / 10) else min(PSNR_CAP_DB, -10.0 * math.log10(mse))


def max_abs_err(output: np.ndarray, expected: np.ndarray) -> float:
    """On the raw (unclamped) values: a runtime that overshoots the clamp shows here, not in PSNR."""
    a = np.asarray(output, dtype=np.float64).ravel()
    b = np.asarray(expected, dtype=np.float64).ravel()
    return float(np.max(np.abs(a - b)))


def read_vector(path: Path, shape: list[int]) -> np.ndarray:
    """Raw little-endian float32 of exactly prod(shape) values."""
    if not path.is_file():
        raise ElirError(f"reference vector not found: {path}")
    data = np.fromfile(path, dtype="<f4")
    if data.size != math.prod(shape):
        raise ElirError(f"{path.name}: {data.size} float32 values, the card's shape {shape} needs {math.prod(shape)}")
    return data.reshape(shape)


def load_card(path: Path) -> dict:
    try:
        card = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ElirError(f"cannot read model card {path}: {e}") from None
    if "reference_vectors" not in card:
        raise ElirError(f"model card {path} has no reference_vectors")
    return card


def reference_vectors(card_path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """(inputs, expected output) as float32 arrays shaped as the card says; files resolve beside the card."""
    card_path = Path(card_path)
    rv = load_card(card_path)["reference_vectors"]
    if rv.get("dtype") != "float32" or rv.get("byte_order") != "little":
        raise ElirError(f"{card_path.name}: reference vectors must be little-endian float32")
    inputs = [read_vector(card_path.parent / i["file"], i["shape"]) for i in rv["inputs"]]
    expected = read_vector(card_path.parent / rv["output"]["file"], rv["output"]["shape"])
    return inputs, expected
