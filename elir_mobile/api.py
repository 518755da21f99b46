"""The public entry points other code builds on: `load_model`, `restore`, `baked`."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from .checkpoint import load_into, normalize, read_checkpoint
from .errors import ElirError
from .model import ELIR
from .tasks import get_task


def load_model(task: str | None = None, checkpoint: str | Path | Mapping | None = None, *,
               config: dict | None = None) -> ELIR:
    """An ELIR model in eval mode.

    `task` picks a released configuration; `config` is an explicit architecture dict (the fixture's format,
    optionally with ``sigma_s``).  `checkpoint` is a file path (.pth, .ckpt, .safetensors) or an in-memory
    state dict; without one, a task's released weights are downloaded (and cached) and a bare `config` gives
    randomly initialised weights.
    """
    if (task is None) == (config is None):
        raise ElirError("pass exactly one of task= or config=")
    spec = get_task(task) if task is not None else None
    model = ELIR(spec.model_config() if spec else config)
    if checkpoint is None and spec is not None:
        from .download import released_checkpoint

        checkpoint = released_checkpoint(spec)
    if checkpoint is not None:
        if isinstance(checkpoint, Mapping):
            state, source = normalize(checkpoint), "the state dict"
        else:
            state, source = read_checkpoint(checkpoint), str(checkpoint)
        load_into(model, state, expected_task=task, source=source)
    return model.eval()


@torch.no_grad()
def restore(model: ELIR, x: torch.Tensor, *, seed: int | None = None) -> torch.Tensor:
    """Restored image(s) in [0, 1]; a `seed` makes the drawn latent noise, and so the output, reproducible."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return model(x, model.draw_noise(x, generator)).clamp(0.0, 1.0)


def baked(model: ELIR, noise: str = "fixed", *, seed: int = 0, image_size: int | None = None):
    """The fixed-step sampler as one export-ready module (see `elir_mobile.baked_sampler`)."""
    from .baked_sampler import BakedSampler

    return BakedSampler(model, noise=noise, seed=seed, image_size=image_size)
