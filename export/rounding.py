"""Int8 weights rounded to minimise each conv's output error on calibration data (GPTQ), instead of to nearest.

Rounding every weight to its nearest int8 level minimises the weight's own error, not the conv's output error:
the errors of one output channel's weights add up over correlated inputs.  GPTQ (Frantar et al., "GPTQ: Accurate
Post-Training Quantization for Generative Pre-trained Transformers", ICLR 2023; the one-shot form of Optimal Brain
Quantization) rounds one input column at a time and moves each rounding error onto the columns not yet rounded,
weighted by the inverse of the inputs' second moment H = sum x x^T.  The float model is its own teacher: H comes
from the convs' inputs on calibration images, no label or download is needed.

The result stays on each backend's own grid: per output channel, scale = max|w| / 127 of the float weight (the
symmetric per-channel int8 of XNNPACK, LiteRT and `export.sensitivity.fake_int8_weight`), and the channel's
largest weight is kept at +-127, so a backend that quantizes the rounded float weights with its own min/max
observer gets exactly these integers back.

Measured in the float simulation (`export.sensitivity`), full-size sr, every conv's weights in int8, three photos
the rounding never saw, worst / mean PSNR against float: recipe weights, nearest 33.70 / 33.86 dB, nearest and bias
correction 39.87 / 40.69, GPTQ 47.25 / 47.62; trained-like weights 23.82 / 24.41, 34.68 / 34.99, 41.80 / 42.19.
With int8 activations too the activations' error dominates (recipe 29.43 -> 29.75 dB).

Columns are taken in decreasing order of their input energy (GPTQ's "act order") with 1 % damping of H's mean
diagonal, in float32 (float64 gave the same output error at 1.6-2.5x the time).  A transposed conv is the conv of
its zero-stuffed input with the flipped, transposed kernel; its H is taken in that form, where the kernel's stride
phases never meet at one position and are rounded as independent groups (`coupled_columns`).  Full-size sr, 149
convs, 187,211 columns, 2 threads (Intel Xeon, AVX-512): 33 s for the rounding itself before the phase split, the
single inverse factorisation and the numpy column loop, 24 s after, with the same output error.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

METHOD = "gptq-act-order-float32"  # part of the cache key: change it when the rounding changes
DAMPING = 0.01
BLOCK = 128
IMAGES = 2  # full-size calibration images for H; on sr, 4 gave the same held-out PSNR (47.20 against 47.25 dB)


def int8_scale(w: torch.Tensor, transposed: bool = False) -> torch.Tensor:
    """The symmetric int8 scale per output channel (dim 0 of a conv weight, dim 1 of a transposed conv's), shaped
    to broadcast against `w`: max|w| / 127, as every backend's per-channel weight observer computes it."""
    channel = 1 if transposed else 0
    dims = tuple(d for d in range(w.dim()) if d != channel)
    return (w.abs().amax(dim=dims, keepdim=True) / 127.0).clamp_min(1e-12)


def _conv_options(func, args: tuple, kwargs: dict) -> dict:
    """stride / padding / dilation / groups (and output_padding) of an F.conv2d / F.conv_transpose2d call."""
    names = (("stride", "padding", "dilation", "groups") if func is F.conv2d
             else ("stride", "padding", "output_padding", "groups", "dilation"))
    options = dict(zip(names, args[3:]))
    options.update({k: v for k, v in kwargs.items() if k in names})
    return {k: options.get(k, 1 if k in ("stride", "dilation", "groups") else 0) for k in names}


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _columns(func, x: torch.Tensor, w: torch.Tensor, options: dict) -> torch.Tensor | None:
    """The conv's input as (filter size, positions): what one output channel's filter multiplies at each output
    position (for a transposed conv, in its equivalent conv's kernel order); None where that form is not
    handled (grouped or string-padded convs), which then keep nearest rounding."""
    if options["groups"] != 1 or isinstance(options["padding"], str):
        return None
    kernel = tuple(w.shape[2:])
    if func is F.conv2d:
        cols = F.unfold(x, kernel, dilation=options["dilation"], padding=options["padding"], stride=options["stride"])
    else:
        if _pair(options["dilation"]) != (1, 1):
            return None
        (sh, sw), (ph, pw), (oh, ow) = (_pair(options[k]) for k in ("stride", "padding", "output_padding"))
        n, c, h, wd = x.shape
        stuffed = x.new_zeros(n, c, (h - 1) * sh + 1 + oh, (wd - 1) * sw + 1 + ow)
        stuffed[:, :, : (h - 1) * sh + 1: sh, : (wd - 1) * sw + 1: sw] = x
        cols = F.unfold(stuffed, kernel, padding=(kernel[0] - 1 - ph, kernel[1] - 1 - pw))
    return cols.transpose(0, 1).reshape(cols.shape[1], -1)


def as_rows(w: torch.Tensor, transposed: bool) -> torch.Tensor:
    """A conv weight as (output channels, filter): a transposed conv's as its equivalent conv's flipped kernel."""
    if transposed:
        w = w.flip(2, 3).transpose(0, 1)
    return w.reshape(w.shape[0], -1)


def from_rows(rows: torch.Tensor, like: torch.Tensor, transposed: bool) -> torch.Tensor:
    """`as_rows` undone: `rows` back in the layout of the weight `like`."""
    if not transposed:
        return rows.reshape(like.shape)
    return rows.reshape(like.shape[1], like.shape[0], *like.shape[2:]).transpose(0, 1).flip(2, 3).contiguous()


class _Hessians(TorchFunctionMode):
    """Sums x x^T of every named conv's input columns over all its calls (all Euler steps of a U-Net conv)."""

    def __init__(self, names: dict[int, str]):
        super().__init__()
        self.names = names
        self.sums: dict[str, torch.Tensor] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = self.names.get(id(args[1])) if func in (F.conv2d, F.conv_transpose2d) and len(args) > 1 else None
        if name is not None:
            cols = _columns(func, args[0], args[1], _conv_options(func, args, kwargs))
            if cols is not None:
                self.sums[name] = self.sums.get(name, 0) + cols @ cols.T
        return out


def coupled_columns(hessian: torch.Tensor, taps: int) -> list[torch.Tensor]:
    """The filter's columns (channel-major, `taps` kernel taps per channel) in groups that share no input position:
    H is zero between groups, so each can be rounded alone.  A stride-s transposed conv's zero-stuffed input splits
    its kernel into s x s phases (a 4x4 stride-2 kernel: four groups of a quarter of the columns, each a 64th of
    the inverse's work); a plain conv's taps all overlap and stay one group."""
    channels = hessian.shape[0] // taps
    link = hessian.reshape(channels, taps, channels, taps).ne(0).any(dim=2).any(dim=0).float()
    reach = link + torch.eye(taps)
    for _ in range(max(taps, 2).bit_length()):                # transitive closure by repeated squaring
        reach = (reach @ reach > 0).float()
    phase = reach.argmax(dim=1)                               # each tap's group: the first tap it reaches
    index = torch.arange(hessian.shape[0]).reshape(channels, taps)
    return [index[:, phase == p].reshape(-1) for p in phase.unique()]


def _inverse_factor(h: torch.Tensor) -> torch.Tensor:
    """Upper U with U^T U = h^-1, GPTQ's row-wise view of the inverse: the lower Cholesky factor of h with its
    order reversed, inverted and reversed back (one factorisation instead of factor, invert, factor again)."""
    lower = torch.linalg.cholesky(h.flip(0, 1))
    return torch.linalg.solve_triangular(lower, torch.eye(h.shape[0], dtype=h.dtype), upper=False).flip(0, 1)


def _gptq(w: torch.Tensor, h: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """GPTQ int8 levels of `w` (rows, columns) for the damped second moment `h`, per-row `scale`.

    The column loop runs in numpy on the transposed weight (a column is then one contiguous row): the same float32
    arithmetic as torch, bit for bit, at a third of the per-call overhead, which is what a column costs."""
    order = torch.argsort(torch.diagonal(h), descending=True)   # act order: the columns that carry most energy first
    inverse = _inverse_factor(h[order][:, order]).numpy()
    work, step = w[:, order].T.contiguous().numpy(), scale.numpy()
    q = np.empty_like(work)
    for start in range(0, len(work), BLOCK):
        end = min(start + BLOCK, len(work))
        block, inv = work[start:end], inverse[start:end, start:end]
        errors = np.empty_like(block)
        for i in range(end - start):
            q[start + i] = np.clip(np.round(block[i] / step), -127, 127)
            errors[i] = (block[i] - q[start + i] * step) / inv[i, i]
            block[i:] -= inv[i, i:, None] * errors[i]
        work[end:] -= inverse[start:end, end:].T @ errors
    levels = torch.empty_like(w)
    levels[:, order] = torch.from_numpy(q).T
    return levels


def rounded_rows(w: torch.Tensor, hessian: torch.Tensor, taps: int = 1) -> torch.Tensor:
    """GPTQ int8 levels (integers, in float32) of `w` (output channels, filter of `taps` kernel taps per input
    channel) for inputs with second moment `hessian`, on the per-channel grid max|w| / 127, the channel's largest
    weight kept at +-127."""
    w = w.float()
    scale = int8_scale(w)[:, 0]
    h = hessian.float().clone()
    diag = torch.diagonal(h)
    diag[diag == 0] = 1.0                            # an input that is always 0: its column just rounds to nearest
    diag += DAMPING * torch.mean(diag)
    groups = coupled_columns(h, taps)
    if len(groups) == 1:
        levels = _gptq(w, h, scale)
    else:
        levels = torch.empty_like(w)
        for cols in groups:
            levels[:, cols] = _gptq(w[:, cols], h[cols][:, cols], scale)
    rows = torch.arange(w.shape[0])
    peak = w.abs().argmax(dim=1)
    levels[rows, peak] = torch.sign(w[rows, peak]) * 127.0   # keeps the backend's scale max|w| / 127
    return levels


@torch.no_grad()
def int8_levels(model: nn.Module, samples: Sequence[tuple[torch.Tensor, ...]],
                progress: bool = False) -> dict[str, torch.Tensor]:
    """Module path -> GPTQ int8 levels (int8, the weight's layout; times the channel's max|w| / 127 they are the
    rounded weight) for every conv of `model` (called as ``model(*sample)``) whose inputs `samples` reached."""
    from tqdm import tqdm

    convs = {name: m for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))}
    with _Hessians({id(m.weight): name for name, m in convs.items()}) as hessians:
        for s in tqdm(samples, desc="weight rounding: inputs", leave=False, disable=None if progress else True):
            model(*s)
    out = {}
    for name in tqdm(list(hessians.sums), desc="weight rounding", leave=False, disable=None if progress else True):
        w, transposed = convs[name].weight.detach(), isinstance(convs[name], nn.ConvTranspose2d)
        levels = rounded_rows(as_rows(w, transposed), hessians.sums.pop(name), taps=w[0, 0].numel())
        out[name] = from_rows(levels, w, transposed).to(torch.int8)
    return out
