"""LiteRT (TFLite): ``python -m export.tflite --task T
[--precision fp32|fp16|dynamic-int8|int8|int16x8|int8-mixed-int16] [--layout nhwc|nchw]`` writes
``elir_<task>_tflite_<precision>.tflite`` with only builtin ops.

The baked sampler is converted once to a float flatbuffer with ``litert_torch.convert`` (channels-last I/O by
default, GroupNorm rewritten so the graph stays NHWC with no TRANSPOSE: `export.tflite.layout`), then quantized on
the flatbuffer by ai_edge_quantizer (`export.tflite.quantize`).  Parity: the real LiteRT interpreter (XNNPACK).
This module imports no SDK; `convert`, `quantize` and `audit` do.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from elir_mobile.errors import ElirError

from ..target import RuntimeInfo, SensitivityScheme, Target

FULL_INTEGER = ("int8", "int16x8", "int8-mixed-int16")
PRECISIONS = ("fp32", "fp16", "dynamic-int8", *FULL_INTEGER)
NUM_THREADS = 2
# The int8 precisions keep float the convs the measured sensitivity chooses (every quantized conv's weights rounded
# by GPTQ, `export.rounding`, and its bias corrected),
# aiming this far above the gate: what the simulation leaves out.  Full-integer int8 is simulated with every conv's
# int8 input and output: on full-size sr with the recipe weights it read 33.8 dB and measured 33.1 dB with 4.4 % of
# the MACs float (3.6 dB apart and 7.6 % float when only conv inputs were simulated, without bias correction).
# dynamic-int8 quantizes only conv inputs (1.0 dB apart).  int16x8 is simulated with int8 weights only: with each
# tensor calibrated to its widest range (`quantize.RANGES`) its 16-bit activations cost full-size sr 1.5 dB
# (recipe weights: 48.1 simulated, 46.6 measured) to 1.7 dB (trained-like: 44.3, 42.6).
MAX_FLOAT_MAC_SHARE = 0.35
SCHEMES = {
    "dynamic-int8": SensitivityScheme("affine-inputs", 1.0, MAX_FLOAT_MAC_SHARE, rounding=True),
    "int8": SensitivityScheme("affine-io", 1.5, MAX_FLOAT_MAC_SHARE, rounding=True),
    "int16x8": SensitivityScheme("none", 1.0, MAX_FLOAT_MAC_SHARE, rounding=True),
    # int8 for NPUs: the layers int8 keeps float keep int8 weights and 16-bit activations instead.
    "int8-mixed-int16": SensitivityScheme("affine-io", 1.5, MAX_FLOAT_MAC_SHARE, rounding=True,
                                          keep="w8a16"),
}


def needs_calibration(precision: str) -> bool:
    return precision in FULL_INTEGER


class TFLiteTarget(Target):
    name = "tflite"
    format = "tflite"
    suffix = ".tflite"
    extra = "tflite"
    sdk = ("litert_torch", "ai_edge_litert", "ai_edge_quantizer")
    precisions = PRECISIONS
    layouts = ("nhwc", "nchw")
    # Each calibration sample is one float interpreter run (about 1 s for sr, 4 s for bfr) and min/max settle
    # within a few: 8 keeps a full-integer bfr export within the 2-minute budget.
    default_calibration_images = 8
    description = ("Export the baked ELIR sampler to a LiteRT (.tflite) model with only builtin ops: fp32, fp16 "
                   "weights, dynamic-range int8, full-integer int8, int16x8 or int8 mixed with int16 for NPUs "
                   "(calibrated), NHWC I/O by default.")
    placement_measure = "gpu_delegate_mac_share"
    placement_definition = ("share of the model's convolution MACs (CONV_2D, TRANSPOSE_CONV, DEPTHWISE_CONV_2D, "
                            "FULLY_CONNECTED) in ops whose type the LiteRT GPU delegate's published op list "
                            "accepts; details give the same share for the NNAPI and QNN op lists.  An op list, "
                            "not a run: per-op constraints are checked on the device.  On the CPU, XNNPACK runs "
                            "every op.")

    def validate(self, args: argparse.Namespace) -> None:
        if args.calibration_dir is not None and not needs_calibration(args.precision):
            raise ElirError(f"--calibration-dir is only used by the calibrated precisions "
                            f"({', '.join(FULL_INTEGER)}), not {args.precision}")

    def needs_calibration(self, args: argparse.Namespace) -> bool:
        return needs_calibration(args.precision)

    def wider_variant(self, args: argparse.Namespace) -> str | None:
        return {"int8": "--precision dynamic-int8 (CPU) or int16x8 (NPU)",
                "int8-mixed-int16": "--precision int16x8 (int16 activations throughout)"}.get(args.precision)

    def sensitivity_scheme(self, args: argparse.Namespace) -> SensitivityScheme | None:
        return SCHEMES.get(args.precision)

    def float_key(self, args: argparse.Namespace) -> tuple:
        return ()  # every precision is quantized from one float flatbuffer

    def convert_float(self, job) -> bytes:
        from .convert import convert_float

        return convert_float(job.module, job.example_inputs, log=job.log)

    def finish(self, job, float_program: bytes):
        from .convert import finish

        return finish(job, float_program)

    def runtime(self, args: argparse.Namespace) -> RuntimeInfo:
        return RuntimeInfo("real", f"ai_edge_litert.interpreter.Interpreter ({NUM_THREADS} threads, XNNPACK)")

    def load(self, artifact: Path, threads: int = NUM_THREADS):
        from elir_mobile.runtimes import LiteRTRunner

        return LiteRTRunner(artifact, threads)
