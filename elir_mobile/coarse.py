"""The coarse latent estimator (RRDBNet, ``mmse`` in checkpoints): a residual-in-residual dense network that
maps the encoded low-quality latent to an MMSE-like estimate of the clean latent, the flow's starting point."""

from __future__ import annotations

import torch
from torch import nn


class DenseStage(nn.Module):
    """One conv3 of a residual dense block; ``block`` wraps it so keys read ``convN.block.0``."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class ResidualDenseBlock(nn.Module):
    """Five conv3 stages over the growing concatenation of input and earlier outputs; residual scaled by 0.2."""

    def __init__(self, c_inout: int, c_hid: int):
        super().__init__()
        self.conv1 = DenseStage(c_inout, c_hid)
        self.conv2 = DenseStage(c_inout + c_hid, c_hid)
        self.conv3 = DenseStage(c_inout + 2 * c_hid, c_hid)
        self.conv4 = DenseStage(c_inout + 3 * c_hid, c_hid)
        self.conv5 = DenseStage(c_inout + 4 * c_hid, c_inout)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.act(self.conv1(x))
        x2 = self.act(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.act(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.act(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks, residual scaled by 0.2."""

    def __init__(self, c_inout: int, c_hid: int):
        super().__init__()
        self.RDB1 = ResidualDenseBlock(c_inout, c_hid)
        self.RDB2 = ResidualDenseBlock(c_inout, c_hid)
        self.RDB3 = ResidualDenseBlock(c_inout, c_hid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.RDB3(self.RDB2(self.RDB1(x))) * 0.2 + x


class CoarseEstimator(nn.Module):
    """``z + lrm(z)`` with ``lrm`` a chain of RRDBs (key names follow the checkpoint)."""

    def __init__(self, c_inout: int = 16, c_hid: int = 96, n_rrdb: int = 3):
        super().__init__()
        self.lrm = nn.Sequential(*(RRDB(c_inout, c_hid) for _ in range(n_rrdb)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.lrm(z)
