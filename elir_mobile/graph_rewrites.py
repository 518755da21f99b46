"""Export-friendly, numerically equivalent rewrites of the baked sampler, in plain torch.

Mobile delegates (XNNPACK in particular) have no kernel for ``native_group_norm`` or for a nearest upsample
node, and every such op splits the graph into another partition with a CPU fallback between them.  The same
math written with ops they do support keeps the whole network in one delegate:

* GroupNorm as reshape to (N, G, C/G, H*W) + mean over the last two dims + rsqrt + per-channel affine;
* x2 nearest upsample as ``cat`` of two distinct views + reshape (XNNPACK rejects ``cat([x, x])`` of one node).

`rewrite_for_export(module)` returns a copy with those modules replaced; the original is untouched.  Outputs
match the original to float rounding (~1e-6).

`subpixel_conv_transposes(module)` is a rewrite for speed, not coverage: XNNPACK runs the U-Net's
``ConvTranspose2d(k=4, s=2, p=1)`` with its Deconvolution kernel at 2.5-3.3x eager's time on the same CPU
(`benchmarks.profile` located it: 25 of ExecuTorch's 382 ms on full-size sr).  `SubpixelConvTranspose` computes the
same output as one ordinary 2x2 convolution that yields the four output phases (the same MACs), then interleaves
them.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class ReshapeGroupNorm(nn.Module):
    """`nn.GroupNorm` (affine) computed with reshape / mean / rsqrt only; shares the original's parameters."""

    def __init__(self, gn: nn.GroupNorm):
        super().__init__()
        self.num_groups = gn.num_groups
        self.eps = gn.eps
        self.weight = gn.weight
        self.bias = gn.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = x.reshape(n, self.num_groups, c // self.num_groups, h * w)
        centered = g - g.mean(dim=(2, 3), keepdim=True)
        var = (centered * centered).mean(dim=(2, 3), keepdim=True)
        y = (centered * torch.rsqrt(var + self.eps)).reshape(n, c, h, w)
        if self.weight is None:
            return y
        return y * self.weight.reshape(1, c, 1, 1) + self.bias.reshape(1, c, 1, 1)


# 4-D reshapes and concatenations only (XNNPACK has no pixel shuffle); each input gets its own reshape node, since
# XNNPACK rejects ``cat([x, x])`` of one node.


def _columns_interleaved(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """(N, C, H, 2W) whose column 2j is column j of `left` and 2j + 1 that of `right`."""
    n, c, h, w = left.shape
    return torch.cat([left.reshape(n, c * h, w, 1), right.reshape(n, c * h, w, 1)], dim=3).reshape(n, c, h, 2 * w)


def _rows_interleaved(top: torch.Tensor, bottom: torch.Tensor) -> torch.Tensor:
    """(N, C, 2H, W) whose row 2i is row i of `top` and 2i + 1 that of `bottom`."""
    n, c, h, w = top.shape
    return torch.cat([top.reshape(n, c * h, 1, w), bottom.reshape(n, c * h, 1, w)], dim=2).reshape(n, c, 2 * h, w)


def interleave_2x(p00: torch.Tensor, p01: torch.Tensor, p10: torch.Tensor, p11: torch.Tensor) -> torch.Tensor:
    """(N, C, 2H, 2W) whose pixel (2i + a, 2j + b) is pixel (i, j) of `p<a><b>`."""
    return _rows_interleaved(_columns_interleaved(p00, p01), _columns_interleaved(p10, p11))


def upsample_nearest_2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 upsample of (N, C, H, W): `interleave_2x` of four copies of `x`, with the column
    interleave computed once."""
    cols = _columns_interleaved(x, x)
    return _rows_interleaved(cols, cols)


# Output row 2i + a of a ConvTranspose2d(k=4, s=2, p=1) reads input rows i - 1 + a and i + a through these kernel
# rows (the same holds for columns).
_PHASE_TAPS = ((3, 1), (2, 0))


class SubpixelConvTranspose(nn.Module):
    """`nn.ConvTranspose2d(k=4, s=2, p=1)` as one 2x2 convolution (padding 1) whose 4 * C_out outputs are the four
    output phases, each read at its own offset and interleaved; shares nothing with the original (its weights
    are rearranged copies)."""

    def __init__(self, ct: nn.ConvTranspose2d):
        super().__init__()
        w = ct.weight.detach()   # (C_in, C_out, 4, 4)
        phases = [w[:, :, list(_PHASE_TAPS[a])][:, :, :, list(_PHASE_TAPS[b])] for a in (0, 1) for b in (0, 1)]
        self.register_buffer("weight", torch.cat([p.transpose(0, 1) for p in phases]).contiguous())
        bias = ct.bias.detach() if ct.bias is not None else torch.zeros(w.shape[1])
        self.register_buffer("bias", bias.repeat(4).clone())
        self.out_channels = w.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        c = self.out_channels
        y = F.conv2d(x, self.weight, self.bias, padding=1)   # (N, 4 C, H + 1, W + 1)
        phases = [y[:, (2 * a + b) * c:(2 * a + b + 1) * c, a:a + h, b:b + w] for a in (0, 1) for b in (0, 1)]
        return interleave_2x(*phases)


def _is_subpixel_ready(m: nn.Module) -> bool:
    return (isinstance(m, nn.ConvTranspose2d) and m.kernel_size == (4, 4) and m.stride == (2, 2)
            and m.padding == (1, 1) and m.output_padding == (0, 0) and m.dilation == (1, 1) and m.groups == 1)


def subpixel_conv_transposes(module: nn.Module) -> nn.Module:
    """A deep copy of `module` with every k=4, s=2, p=1 `nn.ConvTranspose2d` replaced (see the module doc)."""
    return replace_modules(module, lambda m: SubpixelConvTranspose(m) if _is_subpixel_ready(m) else None)


class NearestUpsample2x(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample_nearest_2x(x)


def _is_nearest_2x(m: nn.Module) -> bool:
    return (isinstance(m, nn.Upsample) and m.mode == "nearest" and m.size is None
            and m.scale_factor in (2, 2.0, (2, 2), (2.0, 2.0)))


def replace_modules(module: nn.Module, replacement: Callable[[nn.Module], nn.Module | None]) -> nn.Module:
    """A deep copy of `module` in which every submodule that `replacement` maps to a module is swapped for it."""
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            new = replacement(child)
            if new is not None:
                setattr(parent, name, new)
    return module


def _export_friendly(m: nn.Module) -> nn.Module | None:
    if isinstance(m, nn.GroupNorm):
        return ReshapeGroupNorm(m)
    return NearestUpsample2x() if _is_nearest_2x(m) else None


def rewrite_for_export(module: nn.Module) -> nn.Module:
    """A deep copy of `module` with every GroupNorm and x2 nearest nn.Upsample replaced (see module doc)."""
    return replace_modules(module, _export_friendly)
