"""The fixed-step sampler as a single export-ready module: image in, restored image out.

The step times k/K are fixed, so everything that depends on time alone (sinusoidal embedding, the U-Net's time
MLP, every ResnetBlock's projection) is evaluated once here and kept as per-step constant conv biases.  What is
left is convolutions, norms and activations: no Linear, no sin/cos, no loop state and no RNG.  The U-Net's
weights are shared by all K unrolled steps.  Every exporter consumes this module.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import ElirError
from .model import ELIR
from .tasks import NOISE_MODES
from .unet import VelocityUNet


class EulerStep(nn.Module):
    """``z + dt * v(z)`` for one step, its time entering only through the given block1 conv biases."""

    def __init__(self, velocity: VelocityUNet, dt: float):
        super().__init__()
        self.velocity = velocity
        self.dt = dt

    def forward(self, z: torch.Tensor, *time_biases: torch.Tensor) -> torch.Tensor:
        return z + self.dt * self.velocity.forward_biased(z, list(time_biases))


class UnitClamp(nn.Module):
    """``clamp(x, 0, 1)``, the sampler's last op, as a module so an exporter can write it in its runtime's ops
    (LiteRT: `export.tflite.layout.ReluDifferenceClamp`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, 0.0, 1.0)


class BakedSampler(nn.Module):
    """``forward(x[, noise]) -> clamp(decode(K Euler steps from coarse(encode(x)) + noise)), 0, 1)``.

    `noise`: ``"fixed"`` bakes one seeded sigma_s * N(0, I) tensor for `image_size`; ``"input"`` takes it as the
    second argument (already scaled by sigma_s); ``"zero"`` adds none.  Methods `encode`, `step` and `decode` are
    the same pipeline in pieces, for callers that want per-step progress.
    """

    def __init__(self, model: ELIR, noise: str = "fixed", *, seed: int = 0, image_size: int | None = None):
        super().__init__()
        if noise not in NOISE_MODES:
            raise ElirError(f"unknown noise mode {noise!r}; choose one of: {', '.join(NOISE_MODES)}")
        self.noise_mode = noise
        self.K = model.K
        self.sigma_s = model.sigma_s
        self.image_size = image_size or model.image_size
        self.encoder = model.encoder
        self.coarse = model.coarse
        self.decoder = model.decoder
        self.euler = EulerStep(model.velocity, 1.0 / model.K)
        self.clamp = UnitClamp()
        self.n_blocks = len(model.velocity.resnet_blocks())
        with torch.no_grad():
            for k, t in enumerate(model.step_times):
                for j, bias in enumerate(model.velocity.time_biases(t)):
                    self.register_buffer(f"time_bias_{k}_{j}", bias.detach().clone())
            if noise == "fixed":
                generator = torch.Generator().manual_seed(seed)
                shape = (1, *model.latent_shape(self.image_size, self.image_size))
                self.register_buffer("noise", model.sigma_s * torch.randn(shape, generator=generator))

    def step_biases(self, k: int) -> list[torch.Tensor]:
        return [getattr(self, f"time_bias_{k}_{j}") for j in range(self.n_blocks)]

    def encode(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """The flow's starting latent z0 = coarse(encoder(x)) + noise."""
        z = self.coarse(self.encoder(x))
        if self.noise_mode == "fixed":
            return z + self.noise
        if self.noise_mode == "input":
            return z + noise
        return z

    def step(self, z: torch.Tensor, k: int) -> torch.Tensor:
        return self.euler(z, *self.step_biases(k))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.clamp(self.decoder(z))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        z = self.encode(x, noise)
        for k in range(self.K):
            z = self.step(z, k)
        return self.decode(z)

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        """Inputs of the right shapes for tracing/export (a mid-grey image, zero noise)."""
        x = torch.full((batch, 3, self.image_size, self.image_size), 0.5)
        if self.noise_mode != "input":
            return (x,)
        return (x, torch.zeros(batch, self.decoder.layers[0].in_channels, self.image_size // 8,
                               self.image_size // 8))
