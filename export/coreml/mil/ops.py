"""Torch implementations of the MIL operations an exported ELIR program uses, following the MIL op reference
(coremltools.converters.mil.mil.ops.defs).  Each takes the op's named inputs (torch tensors, or Python values
for string/scalar parameters) and returns its outputs; the interpreter rounds them to the declared dtypes.

Only ops whose semantics are implemented here can be verified: anything else raises `UnknownOp`.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from elir_mobile.errors import ElirError


class UnknownOp(ElirError):
    """The ML program uses an op this verifier has no implementation of: it cannot vouch for the package."""


OPS: dict[str, Callable[..., tuple]] = {}


def op(*names: str):
    def register(fn):
        for name in names:
            OPS[name] = fn
        return fn
    return register


def _ints(v) -> list[int]:
    return [int(i) for i in torch.as_tensor(v).flatten().tolist()]


def _f(t: torch.Tensor) -> torch.Tensor:
    """Compute dtype: floats in float32 (fp16 storage is emulated by the interpreter's rounding)."""
    return t.float() if t.is_floating_point() else t


def _spatial_padding(pad_type: str, pad, x_hw, kernel_hw, strides, dilations) -> list[int]:
    """[top, bottom, left, right] for a conv's pad_type."""
    if pad_type == "custom":
        return _ints(pad)
    if pad_type == "valid":
        return [0, 0, 0, 0]
    if pad_type in ("same", "same_lower"):
        out = []
        for size, k, s, d in zip(x_hw, kernel_hw, strides, dilations):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            out += [big, small] if pad_type == "same_lower" else [small, big]
        return out
    raise UnknownOp(f"conv pad_type {pad_type!r} is not supported by the verifier")


# ------------------------------------------------------------------------------------------- convolutions


@op("conv")
def conv(x, weight, bias=None, strides=None, pad_type="valid", pad=None, dilations=None, groups=1):
    if x.dim() != 4:
        raise UnknownOp(f"conv of rank {x.dim()} is not supported by the verifier (2-D only)")
    strides = _ints(strides) if strides is not None else [1, 1]
    dilations = _ints(dilations) if dilations is not None else [1, 1]
    top, bottom, left, right = _spatial_padding(pad_type, pad, x.shape[2:], weight.shape[2:], strides, dilations)
    # Channels-last takes oneDNN's NHWC kernels: 15 % faster over a whole bfr program on 2 threads (AVX2), and the
    # layout carries through the elementwise ops that follow.
    x = _f(x).contiguous(memory_format=torch.channels_last)
    if top == bottom and left == right:
        padding = (top, left)
    else:
        x, padding = F.pad(x, (left, right, top, bottom)), (0, 0)
    y = F.conv2d(x, _f(weight), None if bias is None else _f(bias), stride=strides, padding=padding,
                 dilation=dilations, groups=int(groups))
    return (y,)


@op("conv_transpose")
def conv_transpose(x, weight, bias=None, pad=None, output_shape=None, pad_type="valid", strides=None,
                   dilations=None, groups=1):
    if x.dim() != 4:
        raise UnknownOp("conv_transpose of rank other than 4 is not supported by the verifier")
    if pad_type not in ("custom", "valid"):
        raise UnknownOp(f"conv_transpose pad_type {pad_type!r} is not supported by the verifier")
    strides = _ints(strides) if strides is not None else [1, 1]
    dilations = _ints(dilations) if dilations is not None else [1, 1]
    # The full transposed convolution, then the "custom" padding cropped from its borders.
    y = F.conv_transpose2d(_f(x), _f(weight), None if bias is None else _f(bias), stride=strides,
                           dilation=dilations, groups=int(groups))
    top, bottom, left, right = _ints(pad) if pad_type == "custom" and pad is not None else [0, 0, 0, 0]
    y = y[:, :, top:y.shape[2] - bottom, left:y.shape[3] - right]
    if output_shape is not None and list(y.shape) != _ints(output_shape):
        raise UnknownOp(f"conv_transpose output_shape {_ints(output_shape)} != computed {list(y.shape)}")
    return (y,)


# ------------------------------------------------------------------------------------------- elementwise


def _binary(fn):
    return lambda x, y: (fn(_f(x), _f(y)),)


op("add")(_binary(torch.add))
op("sub")(_binary(torch.sub))
op("mul")(_binary(torch.mul))
op("real_div")(_binary(torch.div))
op("maximum")(_binary(torch.maximum))
op("minimum")(_binary(torch.minimum))
op("pow")(_binary(torch.pow))


def _unary(fn):
    return lambda x: (fn(_f(x)),)


op("relu")(_unary(torch.relu))
op("silu")(_unary(F.silu))
op("sigmoid")(_unary(torch.sigmoid))
op("tanh")(_unary(torch.tanh))
op("sqrt")(_unary(torch.sqrt))
op("rsqrt")(lambda x, epsilon=1e-12: (torch.rsqrt(_f(x) + float(epsilon)),))
op("square")(_unary(torch.square))
op("exp")(_unary(torch.exp))
op("abs")(_unary(torch.abs))
op("identity")(lambda x: (x,))


@op("clip")
def clip(x, alpha, beta):
    return (torch.clamp(_f(x), float(alpha), float(beta)),)


@op("cast")
def cast(x, dtype):
    if dtype not in ("fp16", "fp32", "int32", "int8", "uint8", "bool"):
        raise UnknownOp(f"cast to {dtype!r} is not supported by the verifier")
    # The interpreter rounds to the declared output dtype; floats stay float here.
    return (_f(x) if dtype in ("fp16", "fp32") else x.to({"int32": torch.int32, "int8": torch.int8,
                                                          "uint8": torch.uint8, "bool": torch.bool}[dtype]),)


# ------------------------------------------------------------------------------------------- shape / reduce


@op("reshape")
def reshape(x, shape):
    return (x.reshape(_ints(shape)),)


@op("transpose")
def transpose(x, perm):
    return (x.permute(_ints(perm)),)


@op("concat")
def concat(values, axis, interleave=False):
    if bool(interleave):
        raise UnknownOp("interleaved concat is not supported by the verifier")
    return (torch.cat([_f(v) for v in values], dim=int(axis)),)


@op("reduce_mean")
def reduce_mean(x, axes=None, keep_dims=False):
    dims = _ints(axes) if axes is not None else list(range(x.dim()))
    return (_f(x).mean(dim=dims, keepdim=bool(keep_dims)),)


@op("upsample_nearest_neighbor")
def upsample_nearest_neighbor(x, scale_factor_height=1, scale_factor_width=1):
    sh, sw = float(scale_factor_height), float(scale_factor_width)
    if sh != int(sh) or sw != int(sw):
        raise UnknownOp("non-integer nearest upsampling is not supported by the verifier")
    return (_f(x).repeat_interleave(int(sh), dim=2).repeat_interleave(int(sw), dim=3),)


# ------------------------------------------------------------------------------------------- normalization


@op("batch_norm")
def batch_norm(x, mean, variance, gamma=None, beta=None, epsilon=1e-5):
    return (F.batch_norm(_f(x), _f(mean), _f(variance), None if gamma is None else _f(gamma),
                         None if beta is None else _f(beta), training=False, eps=float(epsilon)),)


# ------------------------------------------------------------------------------------------- quantization


def _along(param, rank: int, axis) -> torch.Tensor:
    """A scale / zero point (scalar, or a vector along `axis`) shaped to broadcast against rank-`rank` data."""
    param = torch.as_tensor(param)
    if param.dim() == 0 or axis is None:
        return param
    shape = [1] * rank
    shape[int(axis) % rank] = -1
    return param.reshape(shape)


_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255)}


@op("quantize")
def quantize(input, scale, output_dtype, zero_point=None, axis=None):
    """``clip(round(x / scale) + zero_point)`` to int8 / uint8 (iOS17)."""
    if output_dtype not in _INT_RANGES:
        raise UnknownOp(f"quantize to {output_dtype!r} is not supported by the verifier")
    lo, hi = _INT_RANGES[output_dtype]
    q = torch.round(_f(input) / _along(scale, input.dim(), axis).float())
    if zero_point is not None:
        q = q + _along(zero_point, input.dim(), axis).float()
    return (torch.clamp(q, lo, hi).to(torch.int8 if output_dtype == "int8" else torch.uint8),)


@op("dequantize")
def dequantize(input, scale, zero_point=None, axis=None):
    """``(q - zero_point) * scale`` (iOS17)."""
    q = input.float()
    if zero_point is not None:
        q = q - _along(zero_point, input.dim(), axis).float()
    return (q * _along(scale, input.dim(), axis).float(),)


# Compile-time (constexpr_*) ops: compressed weights, decompressed once when the program is loaded.


@op("constexpr_affine_dequantize")
def constexpr_affine_dequantize(quantized_data, zero_point, scale, axis):
    """iOS16 linear weight quantization: ``(q - zero_point) * scale`` along `axis`."""
    rank = quantized_data.dim()
    return ((quantized_data.float() - _along(zero_point, rank, axis).float()) * _along(scale, rank, axis).float(),)


def _repeat_blocks(param: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Expand a per-block parameter to the data's shape (each entry covers shape[i] / param.shape[i])."""
    for axis, (n, m) in enumerate(zip(shape, param.shape)):
        if n % m:
            raise UnknownOp(f"block size does not divide the data along axis {axis} ({n} vs {m})")
        if n != m:
            param = param.repeat_interleave(n // m, dim=axis)
    return param


@op("constexpr_blockwise_shift_scale")
def constexpr_blockwise_shift_scale(data, scale, offset=None):
    """iOS18 (block-wise) linear weight quantization: ``scale * (data - offset)``."""
    values = data.float()
    if offset is not None:
        values = values - _repeat_blocks(offset.float(), data.shape)
    return (_repeat_blocks(_f(scale), data.shape) * values,)


@op("constexpr_lut_to_dense")
def constexpr_lut_to_dense(lut, indices, shape=None, vector_axis=None):
    """Palettized weights.  iOS16 form: a flat LUT, packed byte indices and the output `shape`.  iOS18 form:
    `indices` already has the output shape and `lut` is (grid..., n_palette, vector_size): each LUT of the grid
    covers a block of the output (per-grouped-channel palettization)."""
    if shape is not None:  # iOS16: indices are uint8 bytes holding log2(len(lut))-bit entries
        from .values import unpack_bits

        nbits = int(lut.numel()).bit_length() - 1
        count = int(torch.as_tensor(shape).prod())
        flat = unpack_bits(indices.numpy().astype("uint8"), nbits, count)
        return (lut.flatten()[torch.from_numpy(flat).long()].reshape(_ints(shape)),)
    if vector_axis is not None or lut.shape[-1] != 1:
        raise UnknownOp("vector palettization is not supported by the verifier")
    rank = indices.dim()
    grid = lut.shape[:rank]
    idx = indices.long()
    # Which LUT of the grid each element uses: its position divided by the block size, per axis.
    lut_index = torch.zeros(indices.shape, dtype=torch.long)
    for axis in range(rank):
        block = indices.shape[axis] // grid[axis]
        pos = torch.arange(indices.shape[axis]).div(block, rounding_mode="floor")
        view = [1] * rank
        view[axis] = -1
        lut_index = lut_index * grid[axis] + pos.reshape(view)
    table = lut.reshape(-1, lut.shape[rank])  # (n_luts, n_palette)
    return (table[lut_index, idx],)
