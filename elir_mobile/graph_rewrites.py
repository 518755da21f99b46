"""Export-friendly, numerically equivalent rewrites of the baked sampler, in plain torch.

Mobile delegates (XNNPACK in particular) have no kernel for ``native_group_norm`` or for a nearest upsample
node, and every such op splits the graph into another partition with a CPU fallback between them.  The same
math written with ops they do support keeps the whole network in one delegate:

* GroupNorm as reshape to (N, G, C/G, H*W) + mean over the last two dims + rsqrt + per-channel affine;
* x2 nearest upsample as ``cat`` of two distinct views + reshape (XNNPACK rejects ``cat([x, x])`` of one node).

`rewrite_for_export(module)` returns a copy with those modules replaced; the original is untouched.  Outputs
match the original to float rounding (~1e-6).
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
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


def upsample_nearest_2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 upsample of (N, C, H, W) from 4-D reshapes and concatenations."""
    n, c, h, w = x.shape
    # Columns: (N, C*H, W, 1) twice along the last dim -> (N, C, H, 2W).  Two reshape nodes, not one reused.
    cols = torch.cat([x.reshape(n, c * h, w, 1), x.reshape(n, c * h, w, 1)], dim=3).reshape(n, c, h, 2 * w)
    # Rows: (N, C*H, 1, 2W) twice along dim 2 -> (N, C, 2H, 2W).
    rows = torch.cat([cols.reshape(n, c * h, 1, 2 * w), cols.reshape(n, c * h, 1, 2 * w)], dim=2)
    return rows.reshape(n, c, 2 * h, 2 * w)


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
