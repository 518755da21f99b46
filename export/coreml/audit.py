"""Checks on a converted ML program that need no Core ML runtime: the MIL op audit (what would leave the Neural
Engine), MAC counts per op, and the fp16 safety check (activation magnitudes against fp16's range)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from coremltools.proto import MIL_pb2

from elir_mobile.errors import ElirError

from .mil import MILProgram, Op

FP16_MAX = 65504.0

# MIL ops that Core ML runs on the CPU or GPU instead of the Neural Engine (data-dependent indexing, control
# flow, recurrent layers, dynamic shapes, sorting); none should appear in an ELIR program.
NON_ANE_OPS = {
    "gather", "gather_nd", "gather_along_axis", "scatter", "scatter_nd", "scatter_along_axis",
    "non_maximum_suppression", "topk", "argsort", "cumsum", "while_loop", "cond", "einsum", "lstm", "gru", "rnn",
    "band_part", "one_hot", "range_1d", "fill", "shape", "random_bernoulli", "random_categorical",
    "random_normal", "random_uniform", "crop_resize", "resize_bilinear", "non_zero", "argmax", "argmin",
}
# The Neural Engine computes in fp16; fp32 compute ops run on the GPU / CPU.
_COMPUTE_EXEMPT = {"const", "cast", "quantize", "dequantize"}


def flagged_ops(program: MILProgram) -> list[tuple[Op, str]]:
    """Every op expected to leave the Neural Engine, with the reason."""
    flagged = []
    for o in program.body:
        if o.type in NON_ANE_OPS:
            flagged.append((o, "op type not supported by the Neural Engine"))
        elif o.type not in _COMPUTE_EXEMPT and any(dt == MIL_pb2.FLOAT32 for _, dt, _ in o.outputs):
            flagged.append((o, "fp32 compute (the Neural Engine runs fp16 only)"))
        elif any(len(shape) > 5 for _, _, shape in o.outputs):
            flagged.append((o, "tensor rank above 5"))
    return flagged


def op_audit(program: MILProgram) -> dict:
    """MIL op types with counts, and the ops flagged as leaving the Neural Engine, one entry per (op type,
    reason) with a count and up to 5 op names (an fp32 program flags every compute op)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for o, reason in flagged_ops(program):
        groups.setdefault((o.type, reason), []).append(o.name)
    flagged = [{"op": t, "reason": r, "count": len(names), "names": names[:5]} for (t, r), names in groups.items()]
    return {"op_counts": program.op_counts(), "flagged": flagged}


def op_macs(o: Op, env_shapes: dict[str, tuple[int, ...]]) -> int:
    """Multiply-accumulates of a conv / conv_transpose op from the program's declared shapes."""
    if o.type not in ("conv", "conv_transpose"):
        return 0
    weight = env_shapes.get(o.inputs["weight"][0][1]) if o.inputs["weight"][0][0] == "var" else None
    if weight is None:
        return 0
    if o.type == "conv":
        return math.prod(o.outputs[0][2]) * math.prod(weight[1:])
    x_shape = env_shapes[o.inputs["x"][0][1]]
    return math.prod(x_shape) * math.prod(weight[1:])


def op_placement(program: MILProgram) -> dict:
    """Expected compute unit and the share of MACs in ops the audit does not flag."""
    shapes = {name: tuple(v.shape) for name, v in program.constants.items() if isinstance(v, torch.Tensor)}
    for name, (_, shape) in program.input_types.items():
        shapes[name] = shape
    for o in program.body:
        for name, _, shape in o.outputs:
            shapes[name] = shape
    flagged_names = {o.name for o, _ in flagged_ops(program)}
    total = ane = 0
    for o in program.body:
        macs = op_macs(o, shapes)
        total += macs
        ane += 0 if o.name in flagged_names else macs
    return {"expected_compute_unit": "neural_engine" if not flagged_names else "mixed (see op_audit.flagged)",
            "program_macs": total, "delegated_mac_share": (ane / total) if total else None,
            "delegated_to": "Apple Neural Engine (expected; placement is decided by Core ML at load time)"}


def _extrema(t: torch.Tensor) -> tuple[float, float]:
    """Min and max in one pass over `t` in its memory order: torch reduces a channels-last tensor (the
    interpreter's conv outputs) strided, 40x slower."""
    lo, hi = torch.aminmax(t.permute(sorted(range(t.dim()), key=lambda d: -t.stride(d))))
    return float(lo), float(hi)


def activation_ranges(program: MILProgram, batches: Sequence[dict[str, np.ndarray]]) -> dict[str, dict]:
    """Per op output, of the program evaluated with fp16 tensors kept in fp32: min / max over all `batches`
    (``rmin`` / ``rmax``, what fp16 must hold) and the mean over the batches of each one's min / max
    (``mean_rmin`` / ``mean_rmax``, what 8-bit activations are quantized with: `export.coreml.compress`)."""
    if program.emulate_fp16:
        raise ValueError("activation ranges need the program evaluated without fp16 rounding")
    stats: dict[str, dict] = {}

    def observe(o: Op, results: list[torch.Tensor], env) -> None:
        for (name, _, _), value in zip(o.outputs, results):
            if not value.is_floating_point():
                continue
            lo, hi = _extrema(value)
            s = stats.setdefault(name, {"op": o.type, "rmin": lo, "rmax": hi, "mean_rmin": 0.0, "mean_rmax": 0.0})
            s["rmin"], s["rmax"] = min(s["rmin"], lo), max(s["rmax"], hi)
            s["mean_rmin"] += lo / len(batches)
            s["mean_rmax"] += hi / len(batches)

    for inputs in batches:
        program.run(inputs, observer=observe)
    return stats


def fp16_safety(stats: dict[str, dict], output: np.ndarray | None = None, *, margin: float = 1.0) -> dict:
    """Fail (ElirError) if an fp16 activation would overflow (|x| >= 65504 / margin) or the fp16 output is not
    finite; otherwise the largest magnitudes, for the model card."""
    peaks = sorted(((max(abs(s["rmin"]), abs(s["rmax"])), name, s["op"]) for name, s in stats.items()), reverse=True)
    over = [(p, n, op) for p, n, op in peaks if not p < FP16_MAX / margin]
    if over:
        listing = ", ".join(f"{n} ({op}) {p:.3g}" for p, n, op in over[:5])
        raise ElirError(f"fp16 overflow: {len(over)} activation(s) exceed fp16's max {FP16_MAX:g} on calibration "
                        f"data: {listing}; export with --precision fp32")
    if output is not None and not np.all(np.isfinite(output)):
        raise ElirError("fp16 output is not finite on the reference input; export with --precision fp32")
    return {"fp16_max": FP16_MAX, "largest_activation": peaks[0][0] if peaks else 0.0,
            "headroom": (FP16_MAX / peaks[0][0]) if peaks and peaks[0][0] else None,
            "top": [{"var": n, "op": op, "max_abs": round(p, 4)} for p, n, op in peaks[:5]]}
