"""ExecuTorch export: ``python -m export.executorch --task T [--backend xnnpack|coreml|vulkan|qnn]
[--precision fp32|int8] ...`` writes ``elir_<task>_<backend>_<precision>.pte``, a BundledProgram ``.bpte`` carrying
the reference inputs and expected output, reference vectors and a model card.

The baked sampler is first rewritten (`elir_mobile.graph_rewrites`) so GroupNorm and the decoder's upsample are
ops the delegates implement: one partition instead of ~60-120.  int8 (XNNPACK only) quantizes the shared U-Net
once, see `export.executorch_quant`.  Parity runs the ``.pte`` with ExecuTorch's Python runtime.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from elir_mobile.errors import ElirError
from elir_mobile.graph_rewrites import rewrite_for_export

from .macs import node_macs, op_name
from .pipeline import Backend, Conversion, ExportJob, RuntimeUnavailable, main

DELEGATES = {"xnnpack": "XnnpackBackend", "coreml": "CoreMLBackend", "vulkan": "VulkanBackend",
             "qnn": "QnnBackend"}
# What the XNNPACK runtime can leave outside the delegate without cost: graph plumbing, not compute.
PLUMBING = {"getitem", "executorch_call_delegate", "alloc"}


def _import_error(backend: str, e: ImportError) -> ElirError:
    return ElirError(f"--backend {backend} is unavailable in this environment: {e} "
                     f"(install executorch with its {backend} backend)")


def make_partitioners(backend: str) -> list:
    """The ExecuTorch partitioner(s) for `backend`; a missing SDK or module is one clear ElirError."""
    try:
        if backend == "xnnpack":
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

            return [XnnpackPartitioner()]
        if backend == "coreml":
            from executorch.backends.apple.coreml.partition import CoreMLPartitioner

            return [CoreMLPartitioner()]
        if backend == "vulkan":
            from executorch.backends.vulkan.partitioner.vulkan_partitioner import VulkanPartitioner

            return [VulkanPartitioner()]
        if backend == "qnn":
            require_qnn_sdk()
            from executorch.backends.qualcomm.partition.qnn_partitioner import QnnPartitioner
            from executorch.backends.qualcomm.serialization.qc_schema import QcomChipset
            from executorch.backends.qualcomm.utils.utils import (
                generate_htp_compiler_spec, generate_qnn_executorch_compiler_spec)

            soc = os.environ.get("QNN_SOC_MODEL", "SM8650")
            try:
                chipset = QcomChipset[soc]
            except KeyError:
                raise ElirError(f"QNN_SOC_MODEL={soc} is not a known Qualcomm SoC "
                                f"(e.g. SM8550, SM8650)") from None
            specs = generate_qnn_executorch_compiler_spec(
                soc_model=chipset, backend_options=generate_htp_compiler_spec(use_fp16=True))
            return [QnnPartitioner(specs)]
    except ImportError as e:
        raise _import_error(backend, e) from None
    raise ElirError(f"unknown --backend {backend!r}; choose one of: {', '.join(DELEGATES)}")


def require_qnn_sdk() -> None:
    root = os.environ.get("QNN_SDK_ROOT")
    if not root or not Path(root).is_dir():
        raise ElirError("--backend qnn needs the Qualcomm AI Engine Direct SDK: set QNN_SDK_ROOT to its folder "
                        "(not found" + (f" at {root})" if root else ": QNN_SDK_ROOT is not set)"))


# --------------------------------------------------------------------------------------------- op placement


def op_placement(graph_module: torch.fx.GraphModule, delegate: str) -> tuple[dict, dict]:
    """MAC-weighted delegation summary and op audit of a lowered Edge program's graph.

    Delegated ops are those inside ``lowered_module_*`` (their original Edge graphs); everything else that
    computes is a fallback to the portable CPU kernels."""
    from executorch.devtools.backend_debug import get_delegation_info

    delegated, fallback = Counter(), Counter()
    macs_in, macs_out, partitions = 0, 0, 0
    for node in graph_module.graph.nodes:
        if node.op == "get_attr" and node.name.startswith("lowered_module_"):
            partitions += 1
            for inner in getattr(graph_module, node.name).original_module.graph.nodes:
                if inner.op == "call_function":
                    delegated[op_name(inner)] += 1
                    macs_in += node_macs(inner)
        elif node.op == "call_function" and op_name(node) not in PLUMBING:
            fallback[op_name(node)] += 1
            macs_out += node_macs(node)
    total = macs_in + macs_out
    info = get_delegation_info(graph_module)
    placement = {
        "delegate": delegate,
        "partitions": partitions,
        "delegated_mac_share": macs_in / total if total else None,
        "delegated_macs": macs_in,
        "fallback_macs": macs_out,
        "delegated_nodes": info.num_delegated_nodes,
        "fallback_nodes": info.num_non_delegated_nodes,
        "fallback_ops": dict(sorted(fallback.items())),
    }
    counts = delegated + fallback
    audit = {"op_counts": dict(sorted(counts.items())),
             "flagged": [f"{op} x{n} not delegated to {delegate}" for op, n in sorted(fallback.items())]}
    return placement, audit


# --------------------------------------------------------------------------------------------- the backend


class ExecuTorchBackend(Backend):
    name = "executorch"
    format = "pte"
    suffix = ".pte"
    runtime = "executorch.runtime (Python bindings, XNNPACK + portable kernels)"
    precisions = ("fp32", "int8")
    layouts = ("nchw", "nhwc")
    description = "Export the baked ELIR sampler to an ExecuTorch .pte (XNNPACK fp32/int8, Core ML, Vulkan, QNN)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--backend", choices=list(DELEGATES), default="xnnpack",
                            help="ExecuTorch delegate (default: %(default)s); qnn needs QNN_SDK_ROOT "
                                 "(and QNN_SOC_MODEL, default SM8650)")
        parser.add_argument("--no-bundle", action="store_true", help="skip the BundledProgram .bpte")

    def validate(self, args: argparse.Namespace) -> None:
        if args.precision == "int8" and args.backend != "xnnpack":
            raise ElirError(f"--precision int8 is implemented for --backend xnnpack only, not {args.backend}")
        if args.backend == "qnn":
            require_qnn_sdk()

    def artifact_stem(self, task: str, args: argparse.Namespace) -> str:
        return f"elir_{task}_{args.backend}_{args.precision}"

    def gate_db(self, precision: str) -> float:
        return {"fp32": 80.0, "int8": 34.0}[precision]

    def convert(self, job: ExportJob) -> Conversion:
        quantization = None
        if job.precision == "int8":
            from .executorch_quant import quantize_baked

            module, quantization = quantize_baked(job, self.gate_db(job.precision))
        else:
            module = rewrite_for_export(job.module).eval()
        return self.lower(job, module, quantization)

    def lower(self, job: ExportJob, module: torch.nn.Module, quantization: dict | None = None) -> Conversion:
        """torch.export `module` (the rewritten, possibly quantized baked sampler), lower it to the delegate and
        write the .pte (+ .bpte) into the job's workdir."""
        from executorch.exir import to_edge_transform_and_lower

        backend = job.args.backend
        partitioners = make_partitioners(backend)
        job.log("torch.export")
        with torch.no_grad():
            exported = torch.export.export(module, job.example_inputs, strict=True)
        job.log(f"lowering to {backend}")
        edge = to_edge_transform_and_lower(exported, partitioner=partitioners)
        placement, audit = op_placement(edge.exported_program().graph_module, DELEGATES[backend])
        program = edge.to_executorch()
        artifact = job.workdir / f"{job.stem}{self.suffix}"
        artifact.write_bytes(program.buffer)
        extra = [] if job.args.no_bundle else [self._bundle(job, program)]
        notes = ""
        if quantization is not None and extra:
            notes = ("The .bpte's expected output is the eager float reference: check an int8 run against it "
                     "by PSNR (the card's gate), not with a tight tolerance. ")
        if not self._runnable(backend):
            notes += (f"{DELEGATES[backend]} is not available in this machine's ExecuTorch runtime: lowered and "
                     f"written, not executed; run it on a device (its .bpte self-check holds the expected output)")
        return Conversion(artifact=artifact, backend=backend, op_placement=placement, op_audit=audit,
                          quantization=quantization, extra_files=extra, runtime_notes=notes)

    def _bundle(self, job: ExportJob, program) -> Path:
        """A BundledProgram: the program plus the reference inputs and the eager float expected output."""
        from executorch.devtools import BundledProgram
        from executorch.devtools.bundled_program.config import MethodTestCase, MethodTestSuite
        from executorch.devtools.bundled_program.serialize import serialize_from_bundled_program_to_flatbuffer

        case = MethodTestCase(inputs=list(job.reference_inputs), expected_outputs=[job.expected])
        bundled = BundledProgram(program, [MethodTestSuite(method_name="forward", test_cases=[case])])
        path = job.workdir / f"{job.stem}.bpte"
        path.write_bytes(serialize_from_bundled_program_to_flatbuffer(bundled))
        return path

    @staticmethod
    def _runnable(backend: str) -> bool:
        from executorch.runtime import Runtime

        return Runtime.get().backend_registry.is_available(DELEGATES[backend])

    def load(self, artifact: Path, threads: int = 2) -> Callable[..., np.ndarray]:
        return load_pte(artifact, threads=threads)


def run_pte(artifact: Path, inputs: Sequence[np.ndarray], method: str = "forward") -> np.ndarray:
    """`method`'s first output from ExecuTorch's runtime; `RuntimeUnavailable` if a delegate is not built in."""
    return load_pte(artifact, method)(*inputs)


def load_pte(artifact: Path, method: str = "forward", threads: int | None = None) -> Callable[..., np.ndarray]:
    """`method` of the .pte loaded once: a callable from numpy inputs to its first output."""
    from executorch.runtime import Runtime, Verification

    if threads is not None:  # XNNPACK's pool; resetting it is safe while no method is executing
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

        _unsafe_reset_threadpool(threads)
    runtime = Runtime.get()
    program = runtime.load_program(Path(artifact), verification=Verification.Minimal)
    try:
        loaded = program.load_method(method)
    except RuntimeError as e:
        missing = [b for b in DELEGATES.values() if not runtime.backend_registry.is_available(b)]
        raise RuntimeUnavailable(f"ExecuTorch runtime cannot load {method} ({e}); delegates not built into "
                                 f"this runtime: {', '.join(missing)}") from None

    def call(*inputs: np.ndarray) -> np.ndarray:
        return loaded.execute([torch.from_numpy(np.ascontiguousarray(a)) for a in inputs])[0].numpy()

    return call


BACKEND = ExecuTorchBackend()

if __name__ == "__main__":
    sys.exit(main(BACKEND))
