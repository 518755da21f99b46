"""Whole-photo face restoration: find faces, align each to the FFHQ template, restore it, paste it back.

`landmarks.FaceFinder` (MediaPipe BlazeFace + Face Mesh under LiteRT, models bundled in ``models/``) gives five
points per face; `alignment` holds the template, the similarity fit, the warps and the feathered mask;
`pipeline.find_faces` and `pipeline.restore_photo` run a whole photo.  The package imports lazily (PEP 562), so
importing it loads neither torch nor LiteRT.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {"FaceFinder": "landmarks", "Face": "landmarks", "find_faces": "pipeline", "restore_photo": "pipeline",
            "NoFaceFound": "pipeline", "FACE_TASKS": "pipeline"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
