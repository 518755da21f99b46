"""Core ML: ``python -m export.coreml --task bfr [--precision fp16|fp32] [--compress none|int8|palettize6|palettize4|
w8a8] [--io tensor|image]`` writes ``elir_<task>_coreml_<precision>[_<compress>].mlpackage``.

The baked sampler is captured with `torch.export` and converted by `coremltools.convert` into an ML program (fp16
compute by default, iOS17; iOS18 where the compression needs it), optionally compressed with `coremltools.optimize`
(`export.coreml.compress`), each compressed weight kept fp16 where the shared sensitivity says the gate cannot
afford it (w8a8 keeps every weight in int8 and such a conv's activations in fp16 instead).  Core ML predicts only
on macOS: on Linux, parity is the saved package's own ML program evaluated op by op by `export.coreml.mil` (an
emulation, and the card says so).  This module imports no SDK.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from elir_mobile.errors import ElirError

from ..target import RuntimeInfo, SensitivityScheme, Target

COMPRESSIONS = ("none", "int8", "palettize6", "palettize4", "w8a8")
# Compressions that require iOS18 (palettes default to iOS18 for per-grouped-channel LUTs but also work on iOS17).
IOS18_ONLY = {"w8a8"}
IO_KINDS = ("tensor", "image")
# Aim this far above the gate with the measured fp16 choice.  The simulation leaves out the fp16 program itself and,
# for w8a8, the 8-bit activations of ops other than convs (coremltools quantizes conv inputs and outputs; adds stay
# fp16); on full-size sr it read 33.6 dB for a 6-bit palette that measured 33.0 dB, and >= 41 dB for an all-int8
# program that measured 39.9 dB.  w8a8 read 0.5-0.7 dB above the package on full-size sr (recipe and trained-like
# weights, gates 32 and 36) and 1.8-2.5 dB on bfr (recipe, gates 32 and 36), so it aims 2 dB high: every one of
# them passed (the gate refuses a package that does not).  It read 3.3-4.3 dB above while the convs whose weights
# coremltools leaves fp16 or rebuilds were simulated without their 8-bit activations.
# At most half the compressible parameters stay fp16 (past it, compression no longer pays).
MAX_FP16_SHARE = 0.5
# w8a8 keeps every weight in int8 and the convs it cannot afford at 8-bit activations in fp16 activations (w8a16:
# the Neural Engine's own precision, no fallback), at most this share of the MACs (as LiteRT's int8 for NPUs).
MAX_FP16_ACTIVATION_SHARE = 0.35
SCHEMES = {
    "int8": SensitivityScheme("none", 2.0, MAX_FP16_SHARE, cost="params", rounding=True),
    "palettize6": SensitivityScheme("none", 2.0, MAX_FP16_SHARE, cost="params"),
    "palettize4": SensitivityScheme("none", 2.0, MAX_FP16_SHARE, cost="params"),
    "w8a8": SensitivityScheme("symmetric-io", 2.0, MAX_FP16_ACTIVATION_SHARE, rounding=True, keep="w8a16"),
}


def deployment_target(args: argparse.Namespace) -> int:
    return args.min_ios or (18 if args.compress in IOS18_ONLY or args.compress.startswith("palettize") else 17)


class CoreMLTarget(Target):
    name = "coreml"
    format = "mlpackage"
    suffix = ".mlpackage"
    extra = "coreml"
    sdk = ("coremltools",)
    precisions = ("fp16", "fp32")
    description = "Export ELIR as a Core ML ML program (.mlpackage) for the Apple Neural Engine."
    placement_measure = "neural_engine_mac_share"
    placement_definition = ("share of the ML program's convolution MACs in ops the Neural Engine audit does not "
                            "flag (op types outside the Neural Engine's set, fp32 compute, rank above 5).  Expected "
                            "placement read from the program, not observed: Core ML assigns compute units when it "
                            "loads the model on a device.")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--compress", choices=COMPRESSIONS, default="none",
                            help="weight compression: int8 linear, 6/4-bit palettes (k-means), or w8a8 "
                                 "(int8 weights and activations, iOS18) (default: %(default)s)")
        parser.add_argument("--io", choices=IO_KINDS, default="tensor",
                            help="tensor: float arrays; image: RGB image input/output for CVPixelBuffer use")
        parser.add_argument("--min-ios", type=int, choices=(17, 18),
                            help="minimum deployment target (default: 17, or 18 for w8a8 and palettes)")

    def validate(self, args: argparse.Namespace) -> None:
        if args.compress in IOS18_ONLY and args.min_ios == 17:
            raise ElirError(f"--compress {args.compress} needs --min-ios 18 (the Neural Engine's int8 activation "
                            "path, on A17 Pro / M4 class chips, needs iOS18)")
        if args.compress != "none" and args.precision == "fp32":
            raise ElirError("compression applies to the fp16 program; use --precision fp16 with --compress")

    def compression(self, args: argparse.Namespace) -> str | None:
        return None if args.compress == "none" else args.compress

    def wider_variant(self, args: argparse.Namespace) -> str | None:
        return "--compress int8 (int8 weights, fp16 activations)" if args.compress == "w8a8" else None

    def needs_calibration(self, args: argparse.Namespace) -> bool:
        return args.precision == "fp16"  # the fp16 safety check, and compression calibration

    def sensitivity_scheme(self, args: argparse.Namespace) -> SensitivityScheme | None:
        return SCHEMES.get(args.compress)

    def float_key(self, args: argparse.Namespace) -> tuple:
        return args.precision, args.io, deployment_target(args)

    def convert_float(self, job):
        from .convert import convert_float

        return convert_float(job)

    weights_from_float_program = True

    def measured_weights(self, job, float_program) -> dict | None:
        from .convert import measured_weights

        return measured_weights(job, float_program)

    def finish(self, job, float_program):
        from .convert import finish

        return finish(job, float_program)

    def annotate(self, job, conversion, parity: dict) -> None:
        from .convert import annotate

        annotate(job, conversion, parity)

    def runtime(self, args: argparse.Namespace) -> RuntimeInfo:
        if sys.platform == "darwin":
            return RuntimeInfo("real", "Core ML MLModel.predict")
        return RuntimeInfo("emulated", "export.coreml.mil: the saved package's ML program evaluated op by op with "
                                       "torch, fp16 tensors rounded as declared (Core ML cannot predict on Linux)")

    def load(self, artifact: Path, threads: int = 2):
        from .convert import load

        return load(artifact)
