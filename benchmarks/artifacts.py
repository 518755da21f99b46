"""Finding exported artifacts by their model cards and loading them in their host runtimes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from elir_mobile.errors import ElirError

# card "artifact.format" -> the export module whose BACKEND can load it here (Core ML predicts only on macOS).
HOST_RUNTIMES = {"pte": "export.executorch", "tflite": "export.tflite"}


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
    def label(self) -> str:
        a = self.card["artifact"]
        parts = [a["format"], a.get("backend"), a["precision"], a.get("compression")]
        return " ".join(str(p) for p in parts if p and p != "none")

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
        if self.card["artifact"]["format"] not in HOST_RUNTIMES:
            return f"no {self.card['artifact']['format']} runtime on this host (Core ML predicts only on macOS)"
        return None

    def load(self, threads: int) -> Callable[..., np.ndarray]:
        """A callable running the artifact in its real runtime with `threads` CPU threads."""
        import importlib

        module = importlib.import_module(HOST_RUNTIMES[self.card["artifact"]["format"]])
        return module.BACKEND.load(self.path, threads=threads)


def find_artifacts(directory: str | Path, task: str | None = None) -> list[Artifact]:
    """Every artifact in `directory` or below (export.all writes one folder per target) that has a model card
    (``<stem>.json`` naming an existing file)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ElirError(f"artifact directory {directory} does not exist")
    found = []
    for card_path in sorted(directory.rglob("*.json")):
        try:
            card = json.loads(card_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(card, dict) or "artifact" not in card or "reference_vectors" not in card:
            continue
        artifact = Artifact(card_path, card)
        if artifact.path.exists() and (task is None or card.get("task") == task):
            found.append(artifact)
    return found
