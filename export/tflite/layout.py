"""What the LiteRT converter is handed instead of two modules, so the graph is NHWC and every op is on the
delegates' lists and quantizable: GroupNorm (below) and the final clamp (`ReluDifferenceClamp`).

A GroupNorm that the LiteRT converter keeps in NHWC, as a short sequence of delegate-friendly builtins.

litert_torch's layout pass (OptimizeLayoutTransposesPass) moves convolutions to NHWC, but it computes
``aten.group_norm`` in NCHW: a TRANSPOSE pair plus RESHAPE / BROADCAST_TO around every norm (143 TRANSPOSE in the
full-size sr graph).  Its alternative, ``enable_group_norm_composite``, emits ``odml.group_norm`` composites that
GPU and NPU delegates do not list.

`ChannelsLastGroupNorm` writes the same math with ops the layout pass rewrites to NHWC without any transpose:
per-channel spatial means (MEAN over H, W), the mixing of channels within a group as a 1x1 convolution by a
constant block-diagonal averaging matrix (CONV_2D on a 1x1 map), and broadcasting SUB / MUL / ADD / RSQRT.  No
reshape touches the channel axis, so nothing ties the tensor to NCHW.  Variance is taken two-pass (of the centred
values) for the accuracy of quantized activations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from elir_mobile.baked_sampler import UnitClamp
from elir_mobile.graph_rewrites import replace_modules


class ChannelsLastGroupNorm(nn.Module):
    """`nn.GroupNorm` (affine) from MEAN, CONV_2D (1x1 on a 1x1 map), SUB, MUL, ADD and RSQRT."""

    def __init__(self, gn: nn.GroupNorm):
        super().__init__()
        c, g = gn.num_channels, gn.num_groups
        group = torch.arange(c) // (c // g)
        averaging = (group[:, None] == group[None, :]).float() / (c // g)
        self.register_buffer("group_average", averaging[:, :, None, None])
        self.eps = gn.eps
        weight = gn.weight.detach() if gn.affine else torch.ones(c)
        bias = gn.bias.detach() if gn.affine else torch.zeros(c)
        self.register_buffer("weight", weight.reshape(1, c, 1, 1).clone())
        self.register_buffer("bias", bias.reshape(1, c, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = F.conv2d(x.mean(dim=(2, 3), keepdim=True), self.group_average)
        centred = x - mean
        var = F.conv2d((centred * centred).mean(dim=(2, 3), keepdim=True), self.group_average)
        return centred * (torch.rsqrt(var + self.eps) * self.weight) + self.bias


class ReluDifferenceClamp(nn.Module):
    """``clamp(x, 0, 1)`` as ``relu(x) - relu(x - 1)``: RELU and SUB, where torch.clamp becomes RELU_0_TO_1, which
    the GPU and NNAPI delegates do not list and ai_edge_quantizer leaves float (the one float op int16x8 kept)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x) - F.relu(x - 1.0)


def _litert_friendly(m: nn.Module) -> nn.Module | None:
    if isinstance(m, nn.GroupNorm):
        return ChannelsLastGroupNorm(m)
    return ReluDifferenceClamp() if isinstance(m, UnitClamp) else None


def litert_rewrites(module: nn.Module) -> nn.Module:
    """A deep copy of `module` with every `nn.GroupNorm` and `UnitClamp` replaced (see the module doc)."""
    return replace_modules(module, _litert_friendly)
