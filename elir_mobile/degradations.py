"""Synthetic low-quality inputs per task (spec section "Degradations"), seeded and reproducible.

They make realistic calibration and reference inputs for the exporters: a quantizer calibrated on what the model
really sees (blurred, noisy, JPEG-blocky, upsampled images) picks better ranges than one calibrated on clean
photos.  Every function takes a clean image (3, H, W) float32 in [0, 1] and a ``numpy.random.Generator`` and
returns the model input (3, S, S) in [0, 1], S = `size` (the task's image size unless told otherwise).

``bsr`` uses a simplified second-order pipeline (documented at `bsr`), not the full Real-ESRGAN one: two rounds
of blur / random resize / noise / JPEG at x4 with the same parameter ranges as `bfr`'s single round.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import ElirError


def resize(img: torch.Tensor, size: int | tuple[int, int], mode: str = "bicubic") -> torch.Tensor:
    """(3, H, W) -> (3, h, w); bicubic/bilinear are antialiased when shrinking, and the result is clamped."""
    hw = (size, size) if isinstance(size, int) else size
    kwargs = {"antialias": True, "align_corners": False} if mode in ("bicubic", "bilinear") else {}
    return F.interpolate(img[None], size=hw, mode=mode, **kwargs)[0].clamp(0.0, 1.0)


def gaussian_blur(img: torch.Tensor, sigma: float, kernel: int = 41) -> torch.Tensor:
    """Isotropic Gaussian blur with a `kernel` x `kernel` window, reflect-padded."""
    r = kernel // 2
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    pad = min(r, img.shape[-1] - 1, img.shape[-2] - 1)
    x = F.pad(img[None], (pad, pad, pad, pad), mode="reflect")
    if pad < r:  # an image smaller than the window: crop the kernel to what reflect padding allows
        g = g[r - pad: r + pad + 1]
        g = g / g.sum()
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    x = F.conv2d(x, g.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    return x[0]


def add_noise(img: torch.Tensor, std255: float, rng: np.random.Generator, *, quantize: bool = False) -> torch.Tensor:
    """Additive Gaussian noise of std `std255` on the 0-255 scale, clipped (and rounded to 8 bits if asked)."""
    noise = torch.from_numpy(rng.standard_normal(img.shape).astype(np.float32)) * (std255 / 255.0)
    out = (img + noise).clamp(0.0, 1.0)
    return torch.round(out * 255.0) / 255.0 if quantize else out


def jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """A JPEG round trip at `quality` (PIL, 4:2:0 like most cameras)."""
    arr = (img.permute(1, 2, 0).clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    out = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(out).permute(2, 0, 1).contiguous()


def _blur_resize_noise_jpeg(img: torch.Tensor, rng: np.random.Generator, base: int) -> torch.Tensor:
    """One round of the blind degradation: blur sigma U[0.1, 15] (kernel 41), resize to U[base/32, 1.2*base],
    noise std U[0, 20] (rounded to 8 bits, clipped), JPEG quality U[30, 100]."""
    img = gaussian_blur(img, float(rng.uniform(0.1, 15.0)))
    side = int(round(rng.uniform(base / 32, 1.2 * base)))
    img = resize(img, max(side, 2))
    img = add_noise(img, float(rng.uniform(0.0, 20.0)), rng, quantize=True)
    return jpeg(img, int(rng.integers(30, 101)))


def bfr(img: torch.Tensor, rng: np.random.Generator, size: int = 512) -> torch.Tensor:
    """Blind face restoration: resize to `size`, one blind round (see `_blur_resize_noise_jpeg`), back to `size`."""
    img = resize(img, size)
    return resize(_blur_resize_noise_jpeg(img, rng, size), size)


def sr(img: torch.Tensor, rng: np.random.Generator, size: int = 256) -> torch.Tensor:
    """Face x8 super-resolution: bicubic down to size/8, noise std 12.8, back up nearest-exact."""
    lq = add_noise(resize(resize(img, size), size // 8), 12.8, rng)
    return resize(lq, size, mode="nearest-exact")


def denoising(img: torch.Tensor, rng: np.random.Generator, size: int = 256) -> torch.Tensor:
    """Face denoising: noise std 89.6 (0-255 scale), clipped."""
    return add_noise(resize(img, size), 89.6, rng)


def inpainting(img: torch.Tensor, rng: np.random.Generator, size: int = 256) -> torch.Tensor:
    """Face inpainting: 90% of pixel positions set to zero (all channels), then noise std 25.6."""
    img = resize(img, size)
    keep = torch.from_numpy(rng.random((1, size, size)) >= 0.9)
    return add_noise(img * keep, 25.6, rng)


def bsr(img: torch.Tensor, rng: np.random.Generator, size: int = 256) -> torch.Tensor:
    """Blind x4 super-resolution, simplified second-order pipeline: two blind rounds (as `bfr`'s), then a bicubic
    resize to the LQ size size/4 and bicubic x4 upscaling back to the model's input size.  (Real-ESRGAN also
    draws anisotropic/sinc kernels and Poisson noise; the ranges here match the spec's bfr round.)"""
    img = resize(img, size)
    img = _blur_resize_noise_jpeg(img, rng, size)
    img = _blur_resize_noise_jpeg(resize(img, size), rng, size // 2)
    return resize(resize(img, size // 4), size)


DEGRADATIONS: dict[str, Callable[..., torch.Tensor]] = {
    "bfr": bfr, "sr": sr, "denoising": denoising, "inpainting": inpainting, "bsr": bsr,
}


def degrade(kind: str, img: torch.Tensor, rng: np.random.Generator, size: int) -> torch.Tensor:
    """The degradation `kind` (a task's ``degradation``) of a clean (3, H, W) image, as a (3, size, size) input."""
    try:
        fn = DEGRADATIONS[kind]
    except KeyError:
        raise ElirError(f"unknown degradation {kind!r}; choose one of: {', '.join(DEGRADATIONS)}") from None
    if size % 8:
        raise ElirError(f"degradation size must be a multiple of 8, got {size}")
    return fn(img.float().clamp(0.0, 1.0), rng, size=size).contiguous()
