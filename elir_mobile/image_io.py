"""Reading user images into model tensors and writing results, robust to the formats phones produce."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import write_bytes
from .errors import ElirError

# 16/32-bit integer grayscale modes and the value that maps to white.
_WIDE_GRAY = {"I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0, "I": 65535.0}


def read_image(path: str | Path) -> torch.Tensor:
    """An image file as (1, 3, H, W) float32 in [0, 1], upright (EXIF orientation applied).

    Grayscale is replicated to RGB, 16-bit grayscale keeps its precision, and transparency is composited
    over white (what a viewer shows).
    """
    path = Path(path)
    if not path.is_file():
        raise ElirError(f"input image {path} does not exist")
    if path.stat().st_size == 0:
        raise ElirError(f"input image {path} is empty (0 bytes)")
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ElirError(f"cannot decode {path} as an image ({exc}); use PNG, JPEG or WebP") from None
    if img.width == 0 or img.height == 0:
        raise ElirError(f"input image {path} has zero size ({img.width}x{img.height})")
    if img.mode in _WIDE_GRAY:
        gray = np.asarray(img, dtype=np.float32) / _WIDE_GRAY[img.mode]
        array = np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=2)
    else:
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, rgba)
        array = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]


def check_output_path(path: str | Path) -> Path:
    """Fail before any work when the result could not be written."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ElirError(f"output directory {path.parent} does not exist; create it first")
    if path.suffix.lower() not in Image.registered_extensions():
        raise ElirError(f"cannot tell the image format of {path.name}; use .png, .jpg or .webp")
    return path


def write_image(image: torch.Tensor, path: str | Path) -> Path:
    """Save (1, 3, H, W) in [0, 1] as 8-bit RGB; the file appears only when fully written."""
    path = check_output_path(path)
    array = (image[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    encoded = io.BytesIO()
    Image.fromarray(array).save(encoded, format=Image.registered_extensions()[path.suffix.lower()])
    return write_bytes(path, encoded.getvalue())
