"""ExecuTorch: ``python -m export.executorch --task T [--backend xnnpack|coreml|vulkan|qnn]
[--precision fp32|int8|dynamic-int8]`` writes ``elir_<task>_executorch-<backend>_<precision>.pte`` (method
``forward``; with ``--stages`` also ``encode``, ``step_0`` .. ``step_<K-1>``, ``decode``, weights stored once) and a
BundledProgram ``.bpte`` carrying the parity cases.

The baked sampler is first rewritten (`elir_mobile.graph_rewrites`) so GroupNorm and the decoder's upsample are
ops the delegates implement: one partition instead of ~60-120 (`export.executorch.lower`).  int8 and
dynamic-int8 (XNNPACK only) quantize the shared U-Net once (`export.executorch.quantize`).  Parity: ExecuTorch's
Python runtime, where it has the delegate built in (XNNPACK here); the other delegates are lowered and written, and
the card says they were not run.  This module imports no SDK.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from elir_mobile.errors import ElirError

from ..target import RuntimeInfo, SensitivityScheme, Target

# --backend -> the delegate's backend id in ExecuTorch's runtime registry.
DELEGATES = {"xnnpack": "XnnpackBackend", "coreml": "CoreMLBackend", "vulkan": "VulkanBackend",
             "qnn": "QnnBackend"}
# int8: simulated with every conv's int8 input and output and bias correction; what it still leaves out
# (concatenations, the scalar multiplies) costs a little in the real int8 graph, so aim this far above the gate;
# past a quarter of the MACs in float the artifact is no longer an int8 model and the gate reports the rest.
INT8 = SensitivityScheme("affine-io", margin_db=1.0, max_float_share=0.25, rounding=True)
# dynamic-int8: only each conv's input is int8, with that call's own range (the simulation gives each call site its
# calibrated range); in ExecuTorch full-size sr read 0.8 dB and bfr 1.4 dB under the simulation (README).
DYNAMIC_INT8 = SensitivityScheme("affine-inputs", margin_db=1.5, max_float_share=0.25, rounding=True)
SCHEMES = {"int8": INT8, "dynamic-int8": DYNAMIC_INT8}


def require_qnn_sdk() -> None:
    root = os.environ.get("QNN_SDK_ROOT")
    if not root or not Path(root).is_dir():
        raise ElirError("--backend qnn needs the Qualcomm AI Engine Direct SDK: set QNN_SDK_ROOT to its folder "
                        "(not found" + (f" at {root})" if root else ": QNN_SDK_ROOT is not set)"))


class ExecuTorchTarget(Target):
    name = "executorch"
    format = "pte"
    suffix = ".pte"
    extra = "executorch"
    sdk = ("executorch",)
    precisions = ("fp32", "int8", "dynamic-int8")
    layouts = ("nchw", "nhwc")
    description = "Export the baked ELIR sampler to an ExecuTorch .pte (XNNPACK fp32/int8, Core ML, Vulkan, QNN)."
    placement_measure = "delegated_mac_share"
    placement_definition = ("share of the convolution and matmul MACs of the lowered forward program that run "
                            "inside the delegate's partitions (read from the lowered graph: exact); the rest run "
                            "in ExecuTorch's portable CPU kernels.  details: partitions, nodes and fallback ops.")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--backend", choices=list(DELEGATES), default="xnnpack",
                            help="ExecuTorch delegate (default: %(default)s); qnn needs QNN_SDK_ROOT "
                                 "(and QNN_SOC_MODEL, default SM8650)")
        parser.add_argument("--no-bundle", action="store_true", help="skip the BundledProgram .bpte")
        parser.add_argument("--stages", action="store_true",
                            help="also write the encode / step_<k> / decode methods, for per-step progress in an "
                                 "app and benchmarks.host's stage breakdown (lowering takes about twice as long)")

    def validate(self, args: argparse.Namespace) -> None:
        if args.precision in SCHEMES and args.backend != "xnnpack":
            raise ElirError(f"--precision {args.precision} is implemented for --backend xnnpack only, not "
                            f"{args.backend}")
        if args.backend == "qnn":
            require_qnn_sdk()

    def target_word(self, args: argparse.Namespace) -> str:
        return f"executorch-{args.backend}"

    def needs_calibration(self, args: argparse.Namespace) -> bool:
        return args.precision in SCHEMES

    def sensitivity_scheme(self, args: argparse.Namespace) -> SensitivityScheme | None:
        return SCHEMES.get(args.precision)

    def float_key(self, args: argparse.Namespace) -> None:
        return None  # the float program is the rewritten module itself: nothing to reuse

    def convert_float(self, job):
        from elir_mobile.graph_rewrites import rewrite_for_export

        return rewrite_for_export(job.baked).eval()

    def finish(self, job, float_program):
        from .lower import lower

        if job.precision in SCHEMES:
            from .quantize import quantize_baked

            sampler, quantization = quantize_baked(job, float_program)
        elif job.args.backend == "xnnpack":   # XNNPACK's Deconvolution kernel is the slow one (graph_rewrites)
            from elir_mobile.graph_rewrites import subpixel_conv_transposes

            sampler, quantization = subpixel_conv_transposes(float_program).eval(), None
        else:
            sampler, quantization = float_program, None
        conversion = lower(job, sampler, quantization)
        if conversion.methods and self.runtime(job.args).kind == "real":
            from .lower import check_stages

            check_stages(conversion.artifact, list(conversion.methods), job.reference_inputs)
        return conversion

    def runtime(self, args: argparse.Namespace) -> RuntimeInfo:
        from elir_mobile.runtimes import executorch_backends_available

        delegate = DELEGATES[args.backend]
        if executorch_backends_available([delegate])[delegate]:
            return RuntimeInfo("real", f"executorch.runtime (Python bindings, {delegate} + portable kernels)")
        return RuntimeInfo("not_run", None,
                           f"this machine's ExecuTorch runtime has no {delegate}: the program was lowered and "
                           f"written, not executed; run its .bpte on a device to check it against the expected "
                           f"outputs it carries")

    def load(self, artifact: Path, threads: int = 2):
        from elir_mobile.runtimes import load_pte

        return load_pte(artifact, threads=threads)
