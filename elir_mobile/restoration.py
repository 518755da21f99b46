"""Whole-image restoration: prepare a user's image the way the task's model expects, then run it tiled."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import ELIR
from .tasks import Task
from .tiling import latent_noise_shape, run_tiled


def prepare_input(image: torch.Tensor, task: Task) -> torch.Tensor:
    """Model input for `task` from a (1, 3, H, W) image in [0, 1] (see `Task.prepare`)."""
    size = task.image_size
    if task.prepare == "resize":  # aligned face crop -> the model's square input
        out = F.interpolate(image, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    elif task.prepare == "upsample8":  # tiny LQ face -> 256, as the sr degradation scales back up
        out = F.interpolate(image, size=(size, size), mode="nearest-exact")
    elif task.prepare == "upsample4":  # general LQ image -> bicubic x4, restored in tiles
        out = F.interpolate(image, scale_factor=4, mode="bicubic", align_corners=False)
    else:
        out = image
    return out.clamp(0.0, 1.0)


@torch.no_grad()
def restore_image(model: ELIR, image: torch.Tensor, task: Task, *, seed: int = 0, overlap: int | None = None,
                  progress: bool = True) -> torch.Tensor:
    """The restored image in [0, 1]; larger-than-model inputs run as blended overlapping tiles.

    The latent noise is drawn once for the whole image from `seed`, so results are reproducible and
    overlapping tiles share it.
    """
    x = prepare_input(image, task)
    tile = model.image_size
    overlap = tile // 4 if overlap is None else overlap
    generator = torch.Generator().manual_seed(seed)
    noise = model.sigma_s * torch.randn(latent_noise_shape(*x.shape[-2:], tile), generator=generator)
    return run_tiled(lambda crop, eps: model(crop, eps).clamp(0.0, 1.0), x, noise, tile=tile,
                     overlap=overlap, progress=progress)
