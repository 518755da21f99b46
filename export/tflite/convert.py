"""LiteRT conversion: the float flatbuffer from ``litert_torch.convert``, then the precision's quantization and the
op audit (see the package docstring)."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from elir_mobile.errors import ElirError
from elir_mobile.quiet import native_output
from elir_mobile.runtimes import LiteRTRunner

from ..target import Conversion
from . import FULL_INTEGER, PRECISIONS, needs_calibration
from .audit import DELEGATE_OPS, audit, conv_macs, require_builtin_only
from .layout import litert_rewrites
from .quantize import conv_scopes, kept_as, quantize


def litert_module(module: nn.Module) -> nn.Module:
    """The module actually handed to the converter: `module` with `layout.litert_rewrites`."""
    return litert_rewrites(module).eval()


def convert_float(module: nn.Module, example_inputs: tuple[torch.Tensor, ...],
                  log: Callable[[str], None] = lambda _: None) -> bytes:
    """fp32 flatbuffer of `module` (already in the artifact's layout) traced on `example_inputs`."""
    import litert_torch

    litert_torch.config.show_progress = False  # its stage tree; our log line says what runs
    log("litert_torch.convert (torch.export, FX passes, MLIR lowering)")
    with torch.no_grad(), native_output():
        edge_model = litert_torch.convert(litert_module(module), example_inputs)
    return edge_model.model_content()


def quantized(float_model: bytes, precision: str, calibration: Sequence[Sequence[np.ndarray]] | None = None,
              kept_weights: dict[str, np.ndarray] | None = None) -> tuple[bytes, dict | None]:
    """(flatbuffer, quantization summary or None) at `precision`; the convs in `kept_weights` (module path ->
    float weight) stay out of int8 (float, or int16 activations: `quantize.kept_as`)."""
    if precision not in PRECISIONS:
        raise ElirError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if needs_calibration(precision) and not calibration:
        raise ElirError(f"precision {precision} needs calibration inputs")
    if precision == "fp32":
        return float_model, None
    scopes = conv_scopes(float_model, kept_weights) if kept_weights else {}
    model, summary = quantize(float_model, precision, calibration, [s for found in scopes.values() for s in found])
    if kept_weights:
        summary[f"{'fp32' if kept_as(precision) == 'float' else 'int16'}_convs"] = {
            name: len(found) for name, found in scopes.items()}
    return model, summary


def placement(model: bytes) -> dict:
    """The card's placement: the GPU delegate's share of conv MACs, with the other delegates' op lists beside it."""
    counts = audit(model)["op_counts"]
    macs = conv_macs(model)
    total_ops, total_macs = sum(counts.values()), sum(macs.values()) or 1
    per_delegate = {}
    for delegate, ops in DELEGATE_OPS.items():
        per_delegate[delegate] = {
            "accepted_op_share": round(sum(n for op, n in counts.items() if op in ops) / total_ops, 6),
            "accepted_mac_share": round(sum(m for op, m in macs.items() if op in ops) / total_macs, 6),
        }
    return {"share": per_delegate["gpu"]["accepted_mac_share"],
            "details": {"cpu_runtime": "LiteRT interpreter + XNNPACK", "delegates": per_delegate}}


def finish(job, float_model: bytes) -> Conversion:
    calibration = None
    if needs_calibration(job.precision):
        calibration = [tuple(t.numpy() for t in sample) for sample in job.calibration()]
        job.log(f"calibrating on {len(calibration)} inputs (profiler-based, a range per tensor)")
    chosen = job.sensitivity
    weights = dict(job.converted_model.named_parameters())  # as in the flatbuffer, where conv_scopes finds them
    model, quantization = quantized(float_model, job.precision, calibration,
                                    kept_weights={n: weights[f"{n}.weight"].detach().numpy()
                                                  for n in (chosen.kept if chosen else [])})
    if chosen is not None:
        quantization["sensitivity"] = chosen.card()
    report = audit(model)
    require_builtin_only(report["op_counts"])
    path = job.workdir / f"{job.stem}.tflite"
    path.write_bytes(model)
    notes = [f"layout {job.layout.upper()}; GroupNorm as MEAN/CONV_2D(1x1 group average)/SUB/MUL/RSQRT/ADD "
             f"so the graph has {report['op_counts'].get('TRANSPOSE', 0)} TRANSPOSE ops."]
    io = None
    if job.precision in FULL_INTEGER:
        spec = LiteRTRunner(model).io_spec()
        io = list(spec.values())
        if quantization is not None:
            quantization["io"] = spec
        notes.append("Full-integer model: inputs and output are integer tensors (the card's inputs / outputs give "
                     "dtype, scale and zero point); quantize the float values with them and dequantize the output.")
    if job.precision in ("int16x8", "int8-mixed-int16"):
        notes.append("int16 activation kernels are reference kernels on CPUs (slow): meant for NPUs.")
    return Conversion(artifact=path, backend="litert", placement=placement(model), op_audit=report,
                      quantization=quantization, io=io, runtime_notes=" ".join(notes))
