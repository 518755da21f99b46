"""The velocity U-Net (``LUnet``, ``fmir`` in checkpoints) and its sinusoidal time embedding.

The network is split at the one place time enters it: `time_biases(t)` turns a time into one bias vector per
ResnetBlock, and `forward_biased(z, biases)` runs the convolutions.  The reference sampler calls both every
step; the baked sampler calls `time_biases` once per step at build time and keeps the results as constants.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: float, dim: int = 160, time_scale: float = 1000.0) -> torch.Tensor:
    """Sinusoidal embedding of one time, shape (1, dim): cosines first, then sines (reference order)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / (half - 1))
    angles = time_scale * t * freqs
    return torch.cat((torch.cos(angles), torch.sin(angles)))[None]


class TimeMLP(nn.Module):
    """Linear(160, 640) -> SiLU -> Linear(640, 640)."""

    def __init__(self, t_emb_dim: int, hidden: int):
        super().__init__()
        self.linear1 = nn.Linear(t_emb_dim, hidden)
        self.act = nn.SiLU()
        self.linear2 = nn.Linear(hidden, hidden)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.act(self.linear1(emb)))


class NormActConv(nn.Module):
    """GroupNorm(32) -> SiLU -> conv3, held in ``block`` so keys read ``block.0`` / ``block.2``."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.block = nn.Sequential(nn.GroupNorm(32, c_in, eps=1e-5), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))

    def forward(self, x: torch.Tensor, conv_bias: torch.Tensor | None = None) -> torch.Tensor:
        """`conv_bias` (C,) replaces the conv's own bias (a time-conditioned one: see ResnetBlock)."""
        norm, act, conv = self.block
        return F.conv2d(act(norm(x)), conv.weight, conv.bias if conv_bias is None else conv_bias, padding=1)


class ResnetBlock(nn.Module):
    """``block2(block1(x) + mlp(time_emb)) + conv1x1(x)``.

    The time term is folded into block1's conv bias (`time_bias` returns ``conv.bias + mlp(emb)``): the same sum,
    one op fewer, and a plain constant conv bias once the time is fixed.
    """

    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, c_out))
        self.block1 = NormActConv(c_in, c_out)
        self.block2 = NormActConv(c_out, c_out)
        self.conv2d = nn.Conv2d(c_in, c_out, 1)

    def time_bias(self, emb: torch.Tensor) -> torch.Tensor:
        return self.block1.block[2].bias + self.mlp(emb)[0]

    def forward(self, x: torch.Tensor, time_bias: torch.Tensor) -> torch.Tensor:
        return self.block2(self.block1(x, time_bias)) + self.conv2d(x)


class Downsample(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.convtr = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convtr(x)


class VelocityUNet(nn.Module):
    """v(z, t): the flow's velocity field on the latent.

    ``down_blocks[i]`` = [ResnetBlock, Downsample (when the level's multiplier is not 1)];
    ``up_blocks[i]`` = [Upsample or Identity, ResnetBlock over the concatenation (upsampled, skip)].
    """

    def __init__(self, ch_mult=(1, 2, 1, 2), n_mid_blocks: int = 1, in_channels: int = 16,
                 hid_channels: int = 128, out_channels: int = 16, t_emb_dim: int = 160,
                 time_scale: float = 1000.0):
        super().__init__()
        emb_dim = 4 * t_emb_dim
        self.t_emb_dim = t_emb_dim
        self.time_scale = time_scale
        self.time_mlp = TimeMLP(t_emb_dim, emb_dim)
        ch = hid_channels
        self.down_blocks = nn.ModuleList()
        for mult in ch_mult:
            level = nn.ModuleList([ResnetBlock(ch, ch, emb_dim)])
            if mult != 1:
                level.append(Downsample(ch, ch * mult))
                ch *= mult
            self.down_blocks.append(level)
        self.mid_blocks = nn.ModuleList(ResnetBlock(ch, ch, emb_dim) for _ in range(n_mid_blocks))
        self.up_blocks = nn.ModuleList()
        for mult in reversed(ch_mult):
            upsample: nn.Module = nn.Identity()
            if mult != 1:
                upsample = Upsample(ch, ch // mult)
                ch //= mult
            self.up_blocks.append(nn.ModuleList([upsample, ResnetBlock(2 * ch, ch, emb_dim)]))
        # Registered here, not first, so parameter order equals the released file's key order.
        self.first_proj = nn.Conv2d(in_channels, hid_channels, 1)
        self.final_block = NormActConv(hid_channels, hid_channels)
        self.final_proj = nn.Conv2d(hid_channels, out_channels, 1)

    def resnet_blocks(self) -> list[ResnetBlock]:
        """Every ResnetBlock in execution order (the order of `time_biases`)."""
        return ([level[0] for level in self.down_blocks] + list(self.mid_blocks)
                + [level[1] for level in self.up_blocks])

    def time_biases(self, t: float) -> list[torch.Tensor]:
        """block1 conv bias of every ResnetBlock at time `t` (each (C,)), in `resnet_blocks` order."""
        emb = self.time_mlp(timestep_embedding(t, self.t_emb_dim, self.time_scale))
        return [block.time_bias(emb) for block in self.resnet_blocks()]

    def forward_biased(self, z: torch.Tensor, biases: list[torch.Tensor]) -> torch.Tensor:
        bias = iter(biases)
        h = self.first_proj(z)
        skips = []
        for level in self.down_blocks:
            h = level[0](h, next(bias))
            skips.append(h)
            if len(level) > 1:
                h = level[1](h)
        for block in self.mid_blocks:
            h = block(h, next(bias))
        for upsample, block in self.up_blocks:
            h = block(torch.cat((upsample(h), skips.pop()), 1), next(bias))
        return self.final_proj(self.final_block(h))

    def forward(self, z: torch.Tensor, t: float) -> torch.Tensor:
        return self.forward_biased(z, self.time_biases(t))
