"""The baked sampler's stages as modules of their own, for torch.export: the .pte's methods and the parts that
int8 quantization calibrates separately.  `sampler` is a `BakedSampler` or a `QuantizedBaked` (same methods)."""

from __future__ import annotations

import torch
from torch import nn


class Encode(nn.Module):
    """image[, noise] (artifact layout) -> the flow's starting latent (NCHW)."""

    def __init__(self, sampler: nn.Module, layout: str):
        super().__init__()
        self.sampler, self.nhwc = sampler, layout == "nhwc"

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.nhwc:
            inputs = tuple(t.permute(0, 3, 1, 2) for t in inputs)
        return self.sampler.encode(*inputs)


class Step(nn.Module):
    """latent -> latent after Euler step `k` (its time baked in)."""

    def __init__(self, sampler: nn.Module, k: int):
        super().__init__()
        self.sampler, self.k = sampler, k

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.sampler.step(z, self.k)


class Decode(nn.Module):
    """latent -> restored image (artifact layout), clamped to [0, 1]."""

    def __init__(self, sampler: nn.Module, layout: str):
        super().__init__()
        self.sampler, self.nhwc = sampler, layout == "nhwc"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.sampler.decode(z)
        return y.permute(0, 2, 3, 1) if self.nhwc else y
