"""The tiny TAESD-style autoencoder ELIR works in: RGB <-> 16-channel latent at 1/8 resolution.

Layer indices match the checkpoint keys (``layers.N``): parameter-free layers (ReLU, Upsample) keep their slot.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3(c_in: int, c_out: int, *, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=bias)


class Block(nn.Module):
    """Residual block: conv3-ReLU-conv3-ReLU-conv3, plus the input, then ReLU (channels never change here)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Sequential(conv3(channels, channels), nn.ReLU(), conv3(channels, channels), nn.ReLU(),
                                  conv3(channels, channels))
        self.fuse = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.conv(x) + x)


class Encoder(nn.Module):
    """Image (N, 3, H, W) in [0, 1] -> latent (N, 16, H/8, W/8)."""

    def __init__(self, width: int = 64, latent_channels: int = 16):
        super().__init__()
        layers: list[nn.Module] = [conv3(3, width), Block(width)]
        for _ in range(3):
            layers += [conv3(width, width, stride=2, bias=False), Block(width), Block(width), Block(width)]
        layers.append(conv3(width, latent_channels))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    """Latent (N, 16, h, w) -> image (N, 3, 8h, 8w), not clamped."""

    def __init__(self, width: int = 64, latent_channels: int = 16):
        super().__init__()
        layers: list[nn.Module] = [conv3(latent_channels, width), nn.ReLU()]
        for _ in range(3):
            layers += [Block(width), Block(width), Block(width), nn.Upsample(scale_factor=2),
                       conv3(width, width, bias=False)]
        layers += [Block(width), conv3(width, 3)]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # Soft clamp of the latent to (-3, 3); float literals keep PT2E observers on float tensors.
        return self.layers(torch.tanh(z / 3.0) * 3.0)
