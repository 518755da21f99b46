"""The FFHQ five-point template, the similarity that maps a face onto it, the warps both ways, the feathered mask.

The face models were trained on FFHQ-style crops: eyes, nose tip and mouth corners at fixed places.  A face is
aligned by the least-squares similarity (rotation, uniform scale, translation; Umeyama's solution without
reflection) from its five points to the template, and pasted back by the inverse warp under a mask that fades to
zero before the crop's border, so neither the border nor the padding outside the photo shows.

Matrices are 2 x 3 affines on continuous pixel coordinates (pixel (i, j) covers [i, i+1) x [j, j+1)), mapping
source to destination.  A warp that shrinks (a large face into a small crop, a large restored crop onto a small
face) samples at the source's resolution and then resizes with antialiasing, so it does not alias.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# The FFHQ template at 512 px, in image order: eye on the left of the picture, the other eye, nose tip, mouth
# corners left then right (the one GFPGAN and CodeFormer align to).
FFHQ_TEMPLATE_512 = np.array([[192.98, 239.95], [318.90, 240.19], [256.63, 314.02],
                              [201.26, 371.41], [313.09, 371.15]])
FEATHER_FRACTION = 0.1  # the mask rises from 0 to 1 over this share of the crop's side


def template(size: int) -> np.ndarray:
    """The template's five points for a `size` x `size` crop."""
    return FFHQ_TEMPLATE_512 * (size / 512.0)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2 x 3 similarity minimising sum |M src_i - dst_i|^2 (points (N, 2), N >= 2).

    In complex numbers the similarities are z -> a z + b, and the least-squares a is the normalised
    cross-covariance of the centred point sets (Umeyama 1991 in 2-D, where a rotation never needs a reflection).
    """
    z = src[:, 0] + 1j * src[:, 1]
    w = dst[:, 0] + 1j * dst[:, 1]
    zc, wc = z - z.mean(), w - w.mean()
    a = np.vdot(zc, wc) / np.vdot(zc, zc).real
    b = w.mean() - a * z.mean()
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert(matrix: np.ndarray) -> np.ndarray:
    linear = np.linalg.inv(matrix[:, :2])
    return np.concatenate([linear, -(linear @ matrix[:, 2])[:, None]], axis=1)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The affine `outer` after `inner`."""
    return np.concatenate([outer[:, :2] @ inner[:, :2], (outer[:, :2] @ inner[:, 2] + outer[:, 2])[:, None]], axis=1)


def scaling(fx: float, fy: float | None = None) -> np.ndarray:
    return np.array([[fx, 0.0, 0.0], [0.0, fx if fy is None else fy, 0.0]])


def scale_of(matrix: np.ndarray) -> float:
    return math.sqrt(abs(np.linalg.det(matrix[:, :2])))


def template_error(points: np.ndarray, matrix: np.ndarray, size: int) -> float:
    """RMS distance, in 512-template pixels, between the aligned five points and the template."""
    residual = apply(matrix, points) - template(size)
    return float(np.sqrt((residual ** 2).sum(1).mean()) * 512.0 / size)


# A size that is whole in exact arithmetic (25 px from 16 / 0.64) must not round up on a CPU whose last bit
# differs (25.000000000000007): the phone ports use the same tolerance.
SIZE_TOLERANCE = 1e-9


def _ceil(x: float) -> int:
    return math.ceil(x - SIZE_TOLERANCE)


def warp(image: torch.Tensor, matrix: np.ndarray, size: tuple[int, int], *, mode: str = "bicubic",
         padding: str = "reflection") -> torch.Tensor:
    """`image` (1, C, H, W) warped by `matrix` (source -> destination pixels) into a (1, C, *size) image.

    Outside the source, `padding` is grid_sample's: "reflection" mirrors the photo (as FFHQ's crops did at photo
    borders), "zeros" for masks.  Values are clamped to [0, 1].
    """
    height, width = size
    scale = scale_of(matrix)
    if scale < 1.0:
        fine = (_ceil(height / scale), _ceil(width / scale))
        sharp = warp(image, compose(scaling(fine[1] / width, fine[0] / height), matrix), fine, mode=mode,
                     padding=padding)
        return F.interpolate(sharp, size=size, mode=mode, antialias=True, align_corners=False).clamp(0.0, 1.0)
    inverse = torch.from_numpy(invert(matrix)).float()
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32) + 0.5,
                            torch.arange(width, dtype=torch.float32) + 0.5, indexing="ij")
    source = torch.stack([xs, ys], -1) @ inverse[:, :2].T + inverse[:, 2]
    grid = torch.stack([2 * source[..., 0] / image.shape[-1] - 1, 2 * source[..., 1] / image.shape[-2] - 1], -1)
    return F.grid_sample(image.float(), grid[None], mode=mode, padding_mode=padding,
                         align_corners=False).clamp(0.0, 1.0)


def align(photo: torch.Tensor, points: np.ndarray, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """The `size` x `size` aligned crop of the face with five `points` in `photo`, and its photo -> crop matrix."""
    matrix = similarity(points, template(size))
    return warp(photo, matrix, (size, size)), matrix


def feather_mask(size: int, feather: float | None = None) -> torch.Tensor:
    """(1, 1, size, size) paste weights: 1 inside, a raised cosine down to 0 at the border over `feather` px.

    It is the product of two 1-D ramps sin^2(pi/2 * d / feather), d the distance of a pixel centre from the edge,
    so it is smooth everywhere and zero just outside the crop, where the warp pads masks with zeros.
    """
    feather = FEATHER_FRACTION * size if feather is None else feather
    centre = torch.arange(size, dtype=torch.float32) + 0.5
    distance = torch.minimum(centre, size - centre)
    ramp = torch.sin(0.5 * math.pi * torch.clamp(distance / feather, 0.0, 1.0)) ** 2
    return (ramp[:, None] * ramp[None, :])[None, None]


def paste(canvas: torch.Tensor, crop: torch.Tensor, matrix: np.ndarray, mask: torch.Tensor) -> torch.Tensor:
    """Blend `crop` into `canvas` (1, 3, H, W), in place, where `matrix` maps canvas pixels to crop pixels.

    Only the box the crop covers is warped; outside the mask the canvas is untouched.
    """
    to_canvas = invert(matrix)
    size = crop.shape[-1]
    corners = apply(to_canvas, np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64))
    x0, y0 = np.floor(corners.min(0)).astype(int).clip(0, [canvas.shape[-1], canvas.shape[-2]])
    x1, y1 = np.ceil(corners.max(0)).astype(int).clip(0, [canvas.shape[-1], canvas.shape[-2]])
    if x1 <= x0 or y1 <= y0:
        return canvas
    to_box = compose(np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]]), to_canvas)  # crop -> box pixels
    face = warp(crop, to_box, (y1 - y0, x1 - x0), padding="border")
    weight = warp(mask, to_box, (y1 - y0, x1 - x0), mode="bilinear", padding="zeros")
    region = canvas[..., y0:y1, x0:x1]
    canvas[..., y0:y1, x0:x1] = region * (1 - weight) + face * weight
    return canvas
