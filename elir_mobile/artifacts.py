"""Exported artifacts found by their model cards, and run in their host runtimes (`elir_mobile.runtimes`).

A card (``<stem>.json`` beside the artifact, schema ``export/card.schema.json``) says what the artifact is: task,
size, layout, inputs and their dtypes, noise mode.  Readers read the fields they need strictly; the exporter
validated the whole card before it wrote it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ElirError
from .runtimes import RuntimeUnavailable

CARD_SCHEMA_VERSION = 2


@dataclass
class Artifact:
    card_path: Path
    card: dict

    @property
    def path(self) -> Path:
        return self.card_path.parent / self.card["artifact"]["file"]

    @property
    def name(self) -> str:
        return self.card["artifact"]["file"]

    @property
    def format(self) -> str:
        return self.card["artifact"]["format"]

    @property
    def label(self) -> str:
        a = self.card["artifact"]
        parts = [a["format"], a.get("backend"), a["precision"], a.get("compression")]
        return " ".join(str(p) for p in parts if p and p != "none")

    @property
    def layout(self) -> str:
        return self.card["inputs"][0]["layout"]

    def reference_inputs(self) -> list[np.ndarray]:
        """The artifact's own reference input vectors (its layout, float32)."""
        vectors = self.card["reference_vectors"]
        return [np.fromfile(self.card_path.parent / v["file"], dtype="<f4").reshape(v["shape"])
                for v in vectors["inputs"]]

    def expected_output(self) -> np.ndarray:
        v = self.card["reference_vectors"]["output"]
        return np.fromfile(self.card_path.parent / v["file"], dtype="<f4").reshape(v["shape"])

    def host_runtime_missing(self) -> str | None:
        """Why this artifact cannot run on this host, or None when it can."""
        if self.format == "mlpackage" and sys.platform != "darwin":
            return "Core ML predicts only on macOS"
        if self.format == "pte" and self.card["artifact"]["backend"] != "xnnpack":
            from .runtimes import executorch_backends_available

            backend = {"coreml": "CoreMLBackend", "vulkan": "VulkanBackend", "qnn": "QnnBackend"}.get(
                self.card["artifact"]["backend"], self.card["artifact"]["backend"])
            if not executorch_backends_available([backend])[backend]:
                return f"this machine's ExecuTorch runtime has no {backend}"
        return None

    def load(self, threads: int = 2) -> Callable[..., np.ndarray]:
        """A callable running the artifact in its real runtime with `threads` CPU threads (float32 in and out,
        the artifact's layout; integer I/O is quantized by the runtime wrapper)."""
        from . import runtimes

        reason = self.host_runtime_missing()
        if reason:
            raise RuntimeUnavailable(f"{self.name} cannot run here: {reason}")
        if self.format == "pte":
            return runtimes.load_pte(self.path, threads=threads)
        if self.format == "tflite":
            return runtimes.LiteRTRunner(self.path, threads)
        return runtimes.load_mlpackage(self.path)


def read_card(card_path: str | Path) -> Artifact:
    """The card at `card_path` (one line naming the problem if it is not a readable model card)."""
    card_path = Path(card_path)
    try:
        card = json.loads(card_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ElirError(f"cannot read model card {card_path}: {e}") from None
    if not isinstance(card, dict) or "artifact" not in card or "reference_vectors" not in card:
        raise ElirError(f"{card_path} is not an ELIR model card (no artifact / reference_vectors)")
    if card.get("schema_version") != CARD_SCHEMA_VERSION:
        raise ElirError(f"{card_path} is a version {card.get('schema_version')} model card; this elir-mobile reads "
                        f"version {CARD_SCHEMA_VERSION}: export the artifact again")
    artifact = Artifact(card_path, card)
    if not artifact.path.exists():
        raise ElirError(f"{card_path} describes {artifact.name}, which is not beside it")
    return artifact


def card_for(path: str | Path) -> Artifact:
    """The artifact at `path` (the artifact itself or its card): its card is ``<stem>.json`` beside it."""
    path = Path(path)
    card_path = path if path.suffix == ".json" else path.with_suffix(".json")
    if not card_path.is_file():
        raise ElirError(f"no model card {card_path.name} beside {path.name}: the exporter writes one with every "
                        "artifact; copy it along")
    return read_card(card_path)


def find_artifacts(directory: str | Path, task: str | None = None) -> list[Artifact]:
    """Every artifact in `directory` or below that has a model card (``<stem>.json`` naming an existing file);
    other JSON files are skipped."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ElirError(f"artifact directory {directory} does not exist")
    found = []
    for card_path in sorted(directory.rglob("*.json")):
        try:
            artifact = read_card(card_path)
        except ElirError:
            continue
        if task is None or artifact.card.get("task") == task:
            found.append(artifact)
    return found
