"""Whole-image restoration: prepare a user's image the way the task's model expects, then run it tiled."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ElirError
from .model import ELIR
from .noise import latent_noise
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

    The latent noise is drawn once for the whole image from `seed` with `noise.latent_noise`, the generator the
    phone apps implement too, so results are reproducible, overlapping tiles share it, and a phone restoring the
    same photo with the same seed draws the same noise.
    """
    x = prepare_input(image, task)
    tile = model.image_size
    overlap = tile // 4 if overlap is None else overlap
    noise = torch.from_numpy(latent_noise(latent_noise_shape(*x.shape[-2:], tile), seed, model.sigma_s))
    return run_tiled(lambda crop, eps: model(crop, eps).clamp(0.0, 1.0), x, noise, tile=tile,
                     overlap=overlap, progress=progress)


class ArtifactModel:
    """An exported artifact in its host runtime, shaped like the float model for `restore_image`: its card gives
    the tile size and sigma_s, and calling it with (tile, latent noise) returns the restored tile.  So
    ``restore --artifact`` shows on a user's own photo what the phone computes."""

    def __init__(self, artifact, task: Task, threads: int = 2):
        card = artifact.card
        if card["task"] != task.name:
            raise ElirError(f"{artifact.name} is an artifact of task {card['task']}, not {task.name}: pass "
                            f"--task {card['task']} or an artifact exported with --task {task.name}")
        self.image_size, self.sigma_s, self.noise_mode = card["image_size"], card["sigma_s"], card["noise_mode"]
        self.input_layouts = [spec["layout"] for spec in card["inputs"]]
        self.output_layout = card["outputs"][0]["layout"]
        self.run = artifact.load(threads)

    def __call__(self, image: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        inputs = [image, noise] if self.noise_mode == "input" else [image]
        feed = [np.ascontiguousarray((x.permute(0, 2, 3, 1) if layout == "NHWC" else x).numpy(), dtype=np.float32)
                for x, layout in zip(inputs, self.input_layouts)]
        out = torch.from_numpy(np.ascontiguousarray(self.run(*feed)))
        return (out.permute(0, 3, 1, 2) if self.output_layout == "NHWC" else out).contiguous()
