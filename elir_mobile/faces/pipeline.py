"""A whole photo in, a whole photo out: find the faces, align each, restore it, paste it back.

The restorer is any callable from an aligned crop to the restored crop (the float model through
`restoration.restore_image`, or an exported artifact), so the CLI, the Python API and the benchmark share these
steps.  Each stage is timed on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ElirError
from ..tasks import Task
from .alignment import align, compose, feather_mask, paste, scaling, template_error
from .landmarks import Face, FaceFinder

# The released models trained on aligned faces; bsr restores general images and has no face step.
FACE_TASKS = ("bfr", "sr", "denoising", "inpainting")
WHICH_FACES = ("all", "largest")


class NoFaceFound(ElirError):
    """The photo has no face the detector can see at the asked size."""


def input_size(task: Task) -> int:
    """Side of the aligned crop handed to the restorer: `sr` sees its face at 32 px, as in training (its restore
    path upsamples x8), the others at the model's size."""
    return task.image_size // 8 if task.prepare == "upsample8" else task.image_size


def to_uint8(photo: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W, 3) uint8, what the detector reads."""
    return (photo[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


def find_faces(photo: torch.Tensor, finder: FaceFinder, *, min_face: int = 32, which: str = "all") -> list[Face]:
    """The faces to restore in `photo`, largest first; `which` = "largest" keeps one."""
    if which not in WHICH_FACES:
        raise ElirError(f"--faces must be one of {', '.join(WHICH_FACES)}, not {which!r}")
    faces = finder.find(to_uint8(photo), min_face)
    if not faces:
        raise NoFaceFound(f"no face found (looked for faces at least {min_face} px wide); to restore an aligned "
                          "face crop as it is, pass --aligned, or look for smaller faces with --min-face")
    return faces[:1] if which == "largest" else faces


@dataclass
class FaceCrop:
    face: Face
    aligned: torch.Tensor  # what the restorer got, (1, 3, s, s)
    restored: torch.Tensor  # what it returned, (1, 3, S, S)
    matrix: np.ndarray  # photo pixels -> aligned-crop pixels

    @property
    def template_error(self) -> float:
        return template_error(self.face.points, self.matrix, self.aligned.shape[-1])


@dataclass
class PhotoResult:
    image: torch.Tensor  # (1, 3, upscale * H, upscale * W)
    crops: list[FaceCrop]
    seconds: dict[str, float] = field(default_factory=dict)  # align, restore, background, paste


def restore_photo(photo: torch.Tensor, faces: list[Face], restore_face: Callable[[torch.Tensor], torch.Tensor],
                  task: Task, *, upscale: int = 1,
                  background: Callable[[torch.Tensor], torch.Tensor] | None = None) -> PhotoResult:
    """`photo` (1, 3, H, W) with every face in `faces` restored by `restore_face` and pasted back.

    The result is `upscale` times larger: the rest of the photo is `background(photo)` (resized to fit) or a
    bicubic upscale, and each face is pasted from its restored crop at that scale, so its detail is kept.
    """
    if task.name not in FACE_TASKS:
        raise ElirError(f"task {task.name} restores general images, not faces; pass --aligned to run it on the "
                        f"whole image, or use one of: {', '.join(FACE_TASKS)}")
    if upscale < 1:
        raise ElirError(f"--upscale must be at least 1, not {upscale}")
    seconds = {}
    start = time.perf_counter()
    aligned = [align(photo, face.points, input_size(task)) for face in faces]
    seconds["align"] = time.perf_counter() - start

    start = time.perf_counter()
    restored = [restore_face(crop) for crop, _ in aligned]
    seconds["restore"] = time.perf_counter() - start
    crops = [FaceCrop(face, crop, out, matrix) for face, (crop, matrix), out in zip(faces, aligned, restored)]

    start = time.perf_counter()
    size = (photo.shape[-2] * upscale, photo.shape[-1] * upscale)
    canvas = photo.float() if background is None else background(photo)
    if canvas.shape[-2:] != size:
        canvas = F.interpolate(canvas, size=size, mode="bicubic", antialias=True, align_corners=False)
    canvas = canvas.clamp(0.0, 1.0).contiguous()
    seconds["background"] = time.perf_counter() - start

    start = time.perf_counter()
    for crop in reversed(crops):  # largest last, on top where faces overlap
        out_size = crop.restored.shape[-1]
        to_crop = compose(scaling(out_size / crop.aligned.shape[-1]), compose(crop.matrix, scaling(1.0 / upscale)))
        paste(canvas, crop.restored.float(), to_crop, feather_mask(out_size))
    seconds["paste"] = time.perf_counter() - start
    return PhotoResult(canvas, crops, seconds)
