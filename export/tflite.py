"""LiteRT (TFLite) export: ``python -m export.tflite --task T [--precision ...] [--layout nhwc|nchw] ...``.

The baked sampler is converted once to a float `.tflite` with ``litert_torch.convert`` (channels-last I/O by
default, GroupNorm rewritten so the whole graph stays NHWC with no TRANSPOSE: see `export.tflite_layout`), then
quantized on the flatbuffer by ai_edge_quantizer for the other precisions (`export.tflite_quantize`).  The
pipeline (`export.pipeline`) checks the artifact with the real LiteRT interpreter (2 threads, XNNPACK) against the
eager float model and writes it with its model card.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from elir_mobile.errors import ElirError

from . import sensitivity
from .pipeline import Backend, Conversion, ExportJob, main
from .tflite_audit import DELEGATE_OPS, audit, conv_macs, require_builtin_only
from .tflite_layout import channels_last_group_norms
from .tflite_quantize import FULL_INTEGER, PRECISIONS, SIGNATURE, conv_scopes, needs_calibration, quantize

NUM_THREADS = 2
GATES_DB = {"fp32": 80.0, "fp16": 50.0, "dynamic-int8": 38.0, "int8": 32.0, "int16x8": 32.0}
# int8 precisions whose float convs are chosen by measured sensitivity, aiming this far above the gate: what the
# simulation leaves out cost 1.0 dB (dynamic-int8) and 3.6 dB (full-integer: every other op in int8) on full-size
# sr with the recipe weights.  Past MAX_FLOAT_MAC_SHARE of the MACs in float the gate reports the shortfall;
# dynamic-int8 of the recipe weights needs 31.5 % (39.6 dB), full-integer int8 7.6 % (33.2 dB).  int16x8 is
# simulated with int8 weights only (16-bit activations add ~0.2 dB on sr): without float convs bfr measured 30.9 dB.
SENSITIVITY_MARGIN_DB = {"dynamic-int8": 1.0, "int8": 4.0, "int16x8": 1.0}
SENSITIVITY_ACTIVATIONS = {"dynamic-int8": "affine-inputs", "int8": "affine-inputs", "int16x8": "none"}
MAX_FLOAT_MAC_SHARE = 0.35


def litert_module(module: nn.Module) -> nn.Module:
    """The module actually handed to the converter: `module` with channels-last-friendly GroupNorms."""
    return channels_last_group_norms(module).eval()


def convert_float(module: nn.Module, example_inputs: tuple[torch.Tensor, ...], *, progress: bool = False) -> bytes:
    """fp32 flatbuffer of `module` (already in the artifact's layout) traced on `example_inputs`."""
    import litert_torch

    litert_torch.config.show_progress = progress
    with torch.no_grad():
        edge_model = litert_torch.convert(litert_module(module), example_inputs)
    return edge_model.model_content()


def convert(module: nn.Module, example_inputs: tuple[torch.Tensor, ...], precision: str,
            calibration: Sequence[Sequence[np.ndarray]] | None = None, *, progress: bool = False,
            float_weights: dict[str, np.ndarray] | None = None) -> tuple[bytes, dict | None]:
    """(flatbuffer, quantization summary or None) of `module` at `precision` (see `export.tflite_quantize`);
    the convs in `float_weights` (module path -> weight) stay float."""
    if precision not in PRECISIONS:
        raise ElirError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if needs_calibration(precision) and not calibration:
        raise ElirError(f"precision {precision} needs calibration inputs")
    model = convert_float(module, example_inputs, progress=progress)
    if precision == "fp32":
        return model, None
    scopes = conv_scopes(model, float_weights) if float_weights else {}
    model, summary = quantize(model, precision, calibration, [s for found in scopes.values() for s in found])
    if float_weights:
        summary["fp32_convs"] = {name: len(found) for name, found in scopes.items()}
    return model, summary


def _interpreter(model: Path | str | bytes, threads: int = NUM_THREADS):
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(model, (bytes, bytearray)):
        return Interpreter(model_content=bytes(model), num_threads=threads)
    return Interpreter(model_path=str(model), num_threads=threads)


def _to_model_dtype(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float input -> the tensor's type; integer tensors are quantized with their own scale / zero point."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return np.ascontiguousarray(x, dtype=dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def _to_float(y: np.ndarray, detail: dict) -> np.ndarray:
    if np.issubdtype(y.dtype, np.floating):
        return y.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)


class Runner:
    """One loaded model in the LiteRT interpreter: float inputs in, float output out (quantized I/O converted
    with the model's own parameters)."""

    def __init__(self, model: Path | str | bytes, threads: int = NUM_THREADS):
        interpreter = _interpreter(model, threads)
        self.runner = interpreter.get_signature_runner(SIGNATURE)
        signature = interpreter.get_signature_list()[SIGNATURE]
        self.input_names, (self.output_name,) = signature["inputs"], signature["outputs"]
        self.input_details = self.runner.get_input_details()
        self.output_detail = self.runner.get_output_details()[self.output_name]

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        if len(inputs) != len(self.input_names):
            raise ValueError(f"the model takes {len(self.input_names)} inputs, got {len(inputs)}")
        feed = {n: _to_model_dtype(np.asarray(x), self.input_details[n]) for n, x in zip(self.input_names, inputs)}
        return _to_float(self.runner(**feed)[self.output_name], self.output_detail)

    def io_spec(self) -> list[dict]:
        """Name, type and quantization of each input and the output (for the card)."""
        details = [*(self.input_details[n] for n in self.input_names), self.output_detail]
        names = [*self.input_names, self.output_name]
        spec = []
        for name, d in zip(names, details):
            entry = {"name": name, "dtype": np.dtype(d["dtype"]).name, "shape": [int(s) for s in d["shape"]]}
            if not np.issubdtype(d["dtype"], np.floating):
                entry["scale"], entry["zero_point"] = float(d["quantization"][0]), int(d["quantization"][1])
            spec.append(entry)
        return spec


def run(model: Path | str | bytes, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """The model's float output for float `inputs` (artifact layout), from the LiteRT interpreter, 2 threads."""
    return Runner(model)(*inputs)


def op_placement(model: bytes) -> dict:
    """How much of the graph (ops and conv/matmul MACs) each mobile delegate accepts, by its published op list;
    ``delegated_mac_share`` is the GPU delegate's."""
    counts = audit(model)["op_counts"]
    macs = conv_macs(model)
    total_ops, total_macs = sum(counts.values()), sum(macs.values()) or 1
    per_delegate = {}
    for delegate, ops in DELEGATE_OPS.items():
        per_delegate[delegate] = {
            "accepted_op_share": round(sum(n for op, n in counts.items() if op in ops) / total_ops, 6),
            "accepted_mac_share": round(sum(m for op, m in macs.items() if op in ops) / total_macs, 6),
        }
    return {"cpu_runtime": "LiteRT interpreter + XNNPACK", "delegates": per_delegate,
            "delegated_mac_share": per_delegate["gpu"]["accepted_mac_share"], "delegated_mac_share_of": "gpu"}


class TFLiteBackend(Backend):
    name = "tflite"
    format = "tflite"
    suffix = ".tflite"
    runtime = f"ai_edge_litert.interpreter.Interpreter ({NUM_THREADS} threads, XNNPACK)"
    precisions = PRECISIONS
    layouts = ("nhwc", "nchw")
    description = ("Export the baked ELIR sampler to a LiteRT (.tflite) model with only builtin ops: fp32, fp16 "
                   "weights, dynamic-range int8, full-integer int8 or int16x8 (calibrated), NHWC I/O by default.")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        # Each calibration sample is one float interpreter run (about 1 s for sr, 4 s for bfr) and min/max
        # settle within a few: 8 keeps a full-integer bfr export within the 2-minute budget.
        parser.set_defaults(calibration_images=8)

    def validate(self, args: argparse.Namespace) -> None:
        if args.calibration_dir is not None and not needs_calibration(args.precision):
            raise ElirError(f"--calibration-dir is only used by the calibrated precisions "
                            f"({', '.join(FULL_INTEGER)}), not {args.precision}")

    def gate_db(self, precision: str) -> float:
        return GATES_DB[precision]

    def needs_calibration(self, args: argparse.Namespace) -> bool:
        return needs_calibration(args.precision)

    def convert(self, job: ExportJob) -> Conversion:
        calibration = None
        if needs_calibration(job.precision):
            calibration = [tuple(t.numpy() for t in sample) for sample in job.calibration()]
            job.log(f"calibrating on {len(calibration)} inputs (profiler-based, min/max per tensor)")
        chosen = None
        if job.precision in SENSITIVITY_MARGIN_DB:
            chosen = sensitivity.measure_job(
                job, target_db=self.gate_db(job.precision) + SENSITIVITY_MARGIN_DB[job.precision],
                max_float_share=MAX_FLOAT_MAC_SHARE, activations=SENSITIVITY_ACTIVATIONS[job.precision])
        weights = dict(job.model.named_parameters())
        model, quantization = convert(job.module, job.example_inputs, job.precision, calibration,
                                      progress=job.progress,
                                      float_weights={n: weights[f"{n}.weight"].detach().numpy()
                                                     for n in (chosen.float_layers if chosen else [])})
        if chosen is not None:
            quantization["sensitivity"] = chosen.card()
        report = audit(model)
        require_builtin_only(report["op_counts"])
        path = job.workdir / f"{job.stem}{self.suffix}"
        path.write_bytes(model)
        notes = [f"layout {job.layout.upper()}; GroupNorm as MEAN/CONV_2D(1x1 group average)/SUB/MUL/RSQRT/ADD "
                 f"so the graph has {report['op_counts'].get('TRANSPOSE', 0)} TRANSPOSE ops."]
        if job.precision in FULL_INTEGER:
            io = Runner(model).io_spec()
            if quantization is not None:
                quantization["io"] = io
            notes.append("Full-integer model: inputs and output are "
                         + ", ".join(f"{s['name']} {s['dtype']} (scale {s['scale']:.6g}, zero point "
                                     f"{s['zero_point']})" for s in io)
                         + "; quantize the float inputs with these and dequantize the output (the card's "
                           "'inputs' describe the float values).")
        if job.precision == "int16x8":
            notes.append("int16 activation kernels are reference kernels on CPUs (slow): meant for NPUs.")
        return Conversion(artifact=path, backend="litert", op_placement=op_placement(model),
                          op_audit=report, quantization=quantization, runtime_notes=" ".join(notes))

    def load(self, artifact: Path, threads: int = NUM_THREADS) -> Runner:
        return Runner(artifact, threads)


BACKEND = TFLiteBackend()

if __name__ == "__main__":
    sys.exit(main(BACKEND))
