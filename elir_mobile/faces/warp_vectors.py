"""The Python reference's warp, paste and whole-photo values, written as test source for the phone cores.

`FaceAlignVectors` (`elir_mobile.faces.vectors`) holds the phone ports of
`elir_mobile.faces.alignment` to the landmarks -> matrix -> mask numbers; this file adds what the apps need to
run the whole photo themselves: `alignment.warp` (bicubic, reflection padding, the antialiased path for a crop
smaller than its face), `alignment.paste` (inverse warp under the feathered mask) and `pipeline.restore_photo`
with `sr`'s 32 px crop.  The inputs are closed formulas (`photo`, `crop` below, repeated in the tests) so only the
outputs are stored.  `python -m elir_mobile.faces.vectors` rewrites these files with the alignment ones, and
tests/test_faces.py fails when they differ from what Python computes now.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..restoration import prepare_input
from ..tasks import TASKS
from .alignment import align, feather_mask, paste, template
from .landmarks import Face
from .pipeline import restore_photo
from .vectors import HEADER, REPO, doubles, floats

KOTLIN = REPO / "android_demo/core/src/test/kotlin/dev/elirmobile/core/FaceWarpVectors.kt"
SWIFT = REPO / "ios_demo/Tests/ELIRKitTests/FaceWarpVectors.swift"
PHOTO_H, PHOTO_W = 24, 32
# A 15 px face rotated 20 degrees near the photo's left edge: its crops reach outside the photo.
FACE_DEGREES, FACE_SCALE, FACE_CENTRE = 20.0, 0.03, (6.0, 12.0)


def photo() -> torch.Tensor:
    """(1, 3, 24, 32): 0.5 + 0.45 sin(0.37 x + 0.23 (c + 1) y + c), in float64, stored as float32."""
    c, y, x = np.meshgrid(np.arange(3), np.arange(PHOTO_H), np.arange(PHOTO_W), indexing="ij")
    return torch.from_numpy((0.5 + 0.45 * np.sin(0.37 * x + 0.23 * (c + 1) * y + c)).astype(np.float32))[None]


def crop(size: int) -> torch.Tensor:
    """(1, 3, size, size) stand-in for a restored face: 0.5 + 0.4 cos(0.9 x - 0.5 y + 2 c)."""
    c, y, x = np.meshgrid(np.arange(3), np.arange(size), np.arange(size), indexing="ij")
    return torch.from_numpy((0.5 + 0.4 * np.cos(0.9 * x - 0.5 * y + 2 * c)).astype(np.float32))[None]


def face_points() -> np.ndarray:
    a = math.radians(FACE_DEGREES)
    rot = FACE_SCALE * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (template(512) - 256.0) @ rot.T + np.array(FACE_CENTRE)


def cases() -> dict:
    """Aligned crops of 24 px (upsampled from the photo) and 8 px (shrunk, the antialiased path), each crop pasted
    back into the photo, and the whole `sr` photo with a restorer that inverts its prepared 256 px input."""
    points = face_points()
    out = {"points": points.ravel()}
    for name, size in (("up", 24), ("down", 8)):
        aligned, matrix = align(photo(), points, size)
        canvas = photo().clone()
        paste(canvas, crop(size), matrix, feather_mask(size))
        out[name] = {"size": size, "aligned": aligned.numpy().ravel(), "pasted": canvas.numpy().ravel()}
    task = TASKS["sr"]
    result = restore_photo(photo(), [Face(points, np.zeros((468, 2)), 1.0)], lambda x: 1 - prepare_input(x, task),
                           task)
    out["sr"] = result.image.numpy().ravel()
    return out


def kotlin() -> str:
    """One nested object per array: each has its own static initializer, which the JVM caps at 64 KB."""
    c = cases()
    lines = ["package dev.elirmobile.core", "", f"// {HEADER}", "object FaceWarpVectors {",
             f"    const val PHOTO_H = {PHOTO_H}", f"    const val PHOTO_W = {PHOTO_W}",
             f"    val points = doubleArrayOf({doubles(c['points'])})", ""]
    for name in ("up", "down"):
        case = c[name]
        lines += [f"    object {name.capitalize()} {{", f"        const val SIZE = {case['size']}",
                  f"        val aligned = floatArrayOf({floats(case['aligned'], 'f')})", "    }",
                  f"    object {name.capitalize()}Pasted {{",
                  f"        val canvas = floatArrayOf({floats(case['pasted'], 'f')})", "    }"]
    lines += ["    /** restore_photo for sr, the restorer returning 1 - its prepared 256 px input. */",
              "    object Sr {", f"        val photo = floatArrayOf({floats(c['sr'], 'f')})", "    }", "}", ""]
    return "\n".join(lines)


def swift() -> str:
    c = cases()
    lines = [f"// {HEADER}", "", "enum FaceWarpVectors {", f"    static let photoH = {PHOTO_H}",
             f"    static let photoW = {PHOTO_W}", f"    static let points: [Double] = [{doubles(c['points'])}]"]
    for name in ("up", "down"):
        case = c[name]
        lines += [f"    static let {name}Size = {case['size']}",
                  f"    static let {name}Aligned: [Float] = [{floats(case['aligned'], '')}]",
                  f"    static let {name}Pasted: [Float] = [{floats(case['pasted'], '')}]"]
    lines += ["    /// restore_photo for sr, the restorer returning 1 - its prepared 256 px input.",
              f"    static let sr: [Float] = [{floats(c['sr'], '')}]", "}", ""]
    return "\n".join(lines)
