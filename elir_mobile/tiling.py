"""Running a fixed-size model over images of any size: overlapping tiles blended with fading weights.

Each tile's weight falls smoothly toward its borders across the overlap, so where two tiles disagree (their
borders see padding, not the neighbouring pixels) the result crossfades instead of jumping: no visible seams.
Tile positions are multiples of 8, so one latent noise field for the whole image can be sliced per tile and
overlapping tiles see the same noise.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

LATENT_STRIDE = 8


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile offsets covering [0, length) with at least `overlap` shared pixels; the last tile ends at length."""
    if length <= tile:
        return [0]
    stride = max(LATENT_STRIDE, (tile - overlap) // LATENT_STRIDE * LATENT_STRIDE)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def edge_weights(tile: int, overlap: int, *, fade_start: bool, fade_end: bool) -> torch.Tensor:
    """1-D tile weights: 1 in the middle, a raised-cosine fall to ~0 across `overlap` on each faded side.

    The outer quarter of the overlap, where convolution padding corrupts a tile most, gets (almost) no weight
    and the cosine is flat at both ends.  Sides on the image border are not faded: no other tile covers them.
    The small floor keeps every pixel's total weight positive.
    """
    pos = torch.arange(tile, dtype=torch.float32) + 0.5
    margin = overlap / 4

    def fade(distance: torch.Tensor) -> torch.Tensor:
        ramp = torch.clamp((distance - margin) / max(overlap - margin, 1), 0.0, 1.0)
        return torch.sin(0.5 * torch.pi * ramp) ** 2

    w = torch.ones(tile)
    if fade_start:
        w = w * fade(pos)
    if fade_end:
        w = w * fade(tile - pos)
    return w.clamp(min=1e-3)


def tile_window(tile: int, overlap: int, y: int, x: int, height: int, width: int) -> torch.Tensor:
    """(tile, tile) blend weights of the tile at (y, x) in an image of (height, width)."""
    wy = edge_weights(tile, overlap, fade_start=y > 0, fade_end=y + tile < height)
    wx = edge_weights(tile, overlap, fade_start=x > 0, fade_end=x + tile < width)
    return wy[:, None] * wx[None, :]


def pad_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Extend `image` at the bottom/right to (height, width): mirrored where it can, repeated otherwise."""
    pad_h, pad_w = height - image.shape[-2], width - image.shape[-1]
    if pad_h <= 0 and pad_w <= 0:
        return image
    mode = "reflect" if pad_h < image.shape[-2] and pad_w < image.shape[-1] else "replicate"
    return F.pad(image, (0, max(pad_w, 0), 0, max(pad_h, 0)), mode=mode)


def run_tiled(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], image: torch.Tensor,
              noise: torch.Tensor, *, tile: int, overlap: int, progress: bool = True) -> torch.Tensor:
    """Apply `fn(tile_image, tile_noise)` over `image` (1, 3, H, W) in overlapping tiles and blend.

    `noise` is the latent noise for the padded image: (1, C, ceil(H/8)... ) as made by `latent_noise_shape`.
    """
    height, width = image.shape[-2:]
    padded_h, padded_w = padded_size(height, width, tile)
    padded = pad_to(image, padded_h, padded_w)
    ys, xs = tile_starts(padded_h, tile, overlap), tile_starts(padded_w, tile, overlap)
    out = torch.zeros(1, 3, padded_h, padded_w)
    weight = torch.zeros(1, 1, padded_h, padded_w)
    s = LATENT_STRIDE
    with tqdm(total=len(ys) * len(xs), desc="tiles", unit="tile", disable=None if progress else True) as bar:
        for y in ys:
            for x in xs:
                crop = padded[..., y:y + tile, x:x + tile]
                crop_noise = noise[..., y // s:(y + tile) // s, x // s:(x + tile) // s]
                window = tile_window(tile, overlap, y, x, padded_h, padded_w)
                out[..., y:y + tile, x:x + tile] += fn(crop, crop_noise) * window
                weight[..., y:y + tile, x:x + tile] += window
                bar.update()
    return (out / weight)[..., :height, :width]


def padded_size(height: int, width: int, tile: int) -> tuple[int, int]:
    """The size tiles actually cover: at least one tile, and a multiple of the latent stride."""
    def grow(n: int) -> int:
        return max(tile, -(-n // LATENT_STRIDE) * LATENT_STRIDE)

    return grow(height), grow(width)


def latent_noise_shape(height: int, width: int, tile: int, channels: int = 16) -> tuple[int, ...]:
    padded_h, padded_w = padded_size(height, width, tile)
    return (1, channels, padded_h // LATENT_STRIDE, padded_w // LATENT_STRIDE)
