"""ELIR: encode, coarse estimate plus noise, K Euler steps of the velocity field, decode.

Attribute names are readable (`encoder`, `coarse`, `velocity`, `decoder`); the checkpoint prefixes
(`enc.`, `mmse.`, `fmir.`, `dec.`) are a file format and are mapped in `checkpoint.py`.
"""

from __future__ import annotations

import torch
from torch import nn

from .autoencoder import Decoder, Encoder
from .coarse import CoarseEstimator
from .unet import VelocityUNet


class ELIR(nn.Module):
    """The reference sampler.  ``forward(x, noise)`` returns the decoder output before clamping."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        self.K = int(config["K"])
        self.sigma_s = float(config.get("sigma_s", 0.1))
        self.image_size = int(config["image_size"])
        # Registration order = the released file's key order (fmir, mmse, enc, dec).
        self.velocity = VelocityUNet(**config["fmir"], time_scale=float(config.get("time_scale", 1000)))
        self.coarse = CoarseEstimator(**config["mmse"])
        self.encoder = Encoder()
        self.decoder = Decoder()

    @property
    def step_times(self) -> list[float]:
        return [k / self.K for k in range(self.K)]

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        return (self.decoder.layers[0].in_channels, height // 8, width // 8)

    def draw_noise(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """sigma_s * N(0, I) in the latent shape of `x`."""
        shape = (x.shape[0], *self.latent_shape(x.shape[-2], x.shape[-1]))
        return self.sigma_s * torch.randn(shape, generator=generator, dtype=x.dtype).to(x.device)

    def trace(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Every intermediate the golden fixture records: enc, z0, z1..zK and y."""
        if noise is None:
            noise = self.draw_noise(x)
        out = {"enc": self.encoder(x)}
        z = self.coarse(out["enc"]) + noise
        out["z0"] = z
        dt = 1.0 / self.K
        for k, t in enumerate(self.step_times, start=1):
            z = z + dt * self.velocity(z, t)
            out[f"z{k}"] = z
        out["y"] = self.decoder(z)
        return out

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.trace(x, noise)["y"]
