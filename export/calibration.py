"""Calibration and reference inputs: random crops of real photos, degraded the way the task's inputs are.

Images come from the user's ``--calibration-dir`` or, by default, from the sample photos that scikit-image ships
inside its wheel (no download).  Everything is seeded, so two exports with the same options see the same data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from elir_mobile.degradations import degrade
from elir_mobile.errors import ElirError

# scikit-image sample photos bundled in the package itself (the others need pooch and a download).
SKIMAGE_SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
                   "camera", "brick")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    """HxW, HxWx3 or HxWx4 uint8 -> (3, H, W) float32 in [0, 1]."""
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    arr = arr[..., :3].astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous()


def source_images(calibration_dir: str | Path | None) -> list[tuple[str, torch.Tensor]]:
    """(name, clean image) pairs from `calibration_dir`, else scikit-image's shipped samples."""
    if calibration_dir is None:
        import skimage.data

        return [(name, _to_tensor(getattr(skimage.data, name)())) for name in SKIMAGE_SAMPLES]
    root = Path(calibration_dir)
    if not root.is_dir():
        raise ElirError(f"--calibration-dir {root} is not a directory")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ElirError(f"--calibration-dir {root} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    images = []
    for p in files:
        try:
            with Image.open(p) as im:
                images.append((p.name, _to_tensor(np.asarray(im.convert("RGB")))))
        except (UnidentifiedImageError, OSError) as e:
            raise ElirError(f"cannot read calibration image {p}: {e}") from None
    return images


def random_crop(img: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A random square crop covering 50-100% of the image's shorter side."""
    _, h, w = img.shape
    side = max(8, int(min(h, w) * rng.uniform(0.5, 1.0)))
    top = int(rng.integers(0, h - side + 1))
    left = int(rng.integers(0, w - side + 1))
    return img[:, top: top + side, left: left + side]


def degraded_samples(degradation: str, size: int, count: int, seed: int,
                     calibration_dir: str | Path | None = None, progress: bool = True) -> list[tuple[str, torch.Tensor]]:
    """`count` (source name, model input (1, 3, size, size)) pairs: random crops of the source images in turn,
    each degraded."""
    from tqdm import tqdm

    sources = source_images(calibration_dir)
    rng = np.random.default_rng(seed)
    out = []
    bar = tqdm(range(count), desc="calibration images", unit="img", disable=None if progress else True, leave=False)
    for i in bar:
        name, img = sources[i % len(sources)]
        out.append((name, degrade(degradation, random_crop(img, rng), rng, size)[None]))
    return out


def degraded_images(degradation: str, size: int, count: int, seed: int,
                    calibration_dir: str | Path | None = None, progress: bool = True) -> list[torch.Tensor]:
    """The model inputs of `degraded_samples`."""
    return [x for _, x in degraded_samples(degradation, size, count, seed, calibration_dir, progress)]


def latent_noise(shape: tuple[int, ...], sigma_s: float, seed: int) -> torch.Tensor:
    """sigma_s * N(0, I) of `shape`, seeded (the second input of ``--noise input`` artifacts)."""
    return sigma_s * torch.randn(shape, generator=torch.Generator().manual_seed(seed))
