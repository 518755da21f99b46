"""Full-size test weights made by the recipe in the fixtures README, so parity gates can be checked without the
released files.  Random weights check the arithmetic of an export, not restoration quality.

Two families, both seeded:

* ``recipe``: the fixtures README's recipe, Gaussian values at 1/sqrt(fan-in).  Every channel of a layer has the
  same spread, the kindest case for per-tensor activation quantization.
* ``trained-like``: what trained convolution weights look like to a quantizer, with the same mean gain per layer:
  heavy-tailed values (Student's t, 3 degrees of freedom: a few weights far out, as after training) and a 10x
  log-uniform spread of per-output-channel scales (so each layer's activations have channels of very different
  ranges, which per-tensor activation scales serve worst).  Biases get the channel spread too.  Integer
  exports are tested on both, so a quantization scheme tuned on the first is caught failing the second.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .tasks import get_task

if TYPE_CHECKING:  # torch loads when weights are made, not when the CLI reads FAMILIES
    import torch


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
    import torch

    ramp = torch.linspace(0.0, 1.0, size)
    yy, xx = torch.meshgrid(ramp, ramp, indexing="ij")
    wave = 0.5 + 0.5 * torch.sin(2 * math.pi * (xx + 0.5 * yy))
    return torch.stack((xx, yy, wave))[None]


FAMILIES = ("recipe", "trained-like")
CHANNEL_SPREAD = 10.0    # trained-like: largest / smallest per-output-channel scale
TAIL_DOF = 3             # trained-like: Student's t degrees of freedom (lower is heavier-tailed)


def _heavy_tailed(shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    """Student's t draws with `TAIL_DOF` degrees of freedom, scaled to unit variance."""
    import torch

    chi2 = torch.randn((TAIL_DOF, *shape), generator=generator).pow(2).sum(0)
    t = torch.randn(shape, generator=generator) / torch.sqrt(chi2 / TAIL_DOF)
    return t / math.sqrt(TAIL_DOF / (TAIL_DOF - 2.0))


def _channel_scales(n: int, generator: torch.Generator) -> torch.Tensor:
    """Log-uniform factors over `CHANNEL_SPREAD`, normalised to unit mean square."""
    import torch

    scale = CHANNEL_SPREAD ** (torch.rand(n, generator=generator) - 0.5)
    return scale / scale.pow(2).mean().sqrt()


def make_test_weights(task_or_config: str | dict, seed: int = 0, family: str = "recipe") -> dict[str, torch.Tensor]:
    """Released-layout state dict: seeded randn per key in file order, scaled (and, for ``trained-like``, made
    heavy-tailed with a spread of channel scales), then the decoder's last conv rescaled per channel so the
    output sits mostly inside [0, 1]."""
    import torch

    from .checkpoint import to_file_keys
    from .model import ELIR

    if family not in FAMILIES:
        raise ValueError(f"unknown test-weight family {family!r}: one of {', '.join(FAMILIES)}")
    config = get_task(task_or_config).model_config() if isinstance(task_or_config, str) else task_or_config
    model = ELIR(config)
    generator = torch.Generator().manual_seed(seed)
    state, scales = {}, {}
    for key, ref in to_file_keys(model.state_dict()).items():
        if family == "recipe":
            n, scale = torch.randn(ref.shape, generator=generator), 1.0
        else:  # a bias or norm weight shares its module's channel scales, where the lengths match
            n = _heavy_tailed(ref.shape, generator)
            stem = key.rsplit(".", 1)[0]
            scale = scales.get(stem) if ref.dim() == 1 else None
            if scale is None or scale.shape[0] != ref.shape[0]:
                scale = scales[stem] = _channel_scales(ref.shape[0], generator)
            scale = scale.reshape(-1, *[1] * (ref.dim() - 1))
        if n.dim() >= 2:
            state[key] = n * scale / math.sqrt(math.prod(n.shape[1:]))
        else:
            state[key] = (1 + 0.1 * n if key.endswith("weight") else 0.1 * n) * scale
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
