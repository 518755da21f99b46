"""Full-size test weights made by the recipe in the fixtures README, so parity gates can be checked without the
released files.  Random weights check the arithmetic of an export, not restoration quality."""

from __future__ import annotations

import math

import torch

from .checkpoint import to_file_keys
from .model import ELIR
from .tasks import get_task


def tiny_config(image_size: int = 64) -> dict:
    """The golden fixture's small architecture (U-Net width 32, one RRDB of width 16): the same code paths as a
    released model at a fraction of the cost, for tests and quick exports."""
    return {
        "K": 3, "image_size": image_size, "latent_shape": [16, image_size // 8, image_size // 8],
        "t_emb_dim": 160, "time_scale": 1000, "sigma_s": 0.1,
        "fmir": {"ch_mult": [1, 2, 1, 2], "n_mid_blocks": 1, "in_channels": 16, "hid_channels": 32,
                 "out_channels": 16, "t_emb_dim": 160},
        "mmse": {"c_inout": 16, "c_hid": 16, "n_rrdb": 1},
    }


def smooth_test_image(size: int) -> torch.Tensor:
    """A fixed smooth RGB image (1, 3, size, size) in [0, 1]: ramps and a low-frequency wave."""
    ramp = torch.linspace(0.0, 1.0, size)
    yy, xx = torch.meshgrid(ramp, ramp, indexing="ij")
    wave = 0.5 + 0.5 * torch.sin(2 * math.pi * (xx + 0.5 * yy))
    return torch.stack((xx, yy, wave))[None]


def make_test_weights(task_or_config: str | dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """Released-layout state dict: seeded randn per key in file order, scaled, then the decoder's last conv
    rescaled per channel so the output sits mostly inside [0, 1]."""
    config = get_task(task_or_config).model_config() if isinstance(task_or_config, str) else task_or_config
    model = ELIR(config)
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, ref in to_file_keys(model.state_dict()).items():
        n = torch.randn(ref.shape, generator=generator)
        if n.dim() >= 2:
            state[key] = n / math.sqrt(math.prod(n.shape[1:]))
        else:
            state[key] = 1 + 0.1 * n if key.endswith("weight") else 0.1 * n
    model.load_state_dict({k: v for k, v in zip(model.state_dict(), state.values())})
    model.eval()
    image = smooth_test_image(model.image_size)
    with torch.no_grad():
        y = model(image, torch.zeros(1, *model.latent_shape(model.image_size, model.image_size)))
    mean, std = y.mean(dim=(0, 2, 3)), y.std(dim=(0, 2, 3))
    last = max((k for k in state if k.startswith("dec.layers.") and k.endswith(".weight")),
               key=lambda k: int(k.split(".")[2]))
    stem = last[: -len(".weight")]
    scale = 0.2 / std
    state[f"{stem}.weight"] = state[f"{stem}.weight"] * scale[:, None, None, None]
    state[f"{stem}.bias"] = state[f"{stem}.bias"] * scale + 0.5 - mean * scale
    return state
