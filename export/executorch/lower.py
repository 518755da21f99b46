"""Lowering a (rewritten, possibly quantized) baked sampler to a delegate and writing the .pte and .bpte.

The program has one method per stage beside ``forward``: ``encode`` (image[, noise] -> the flow's starting latent),
``step_<k>`` (latent -> latent after Euler step k, its time baked in) and ``decode`` (latent -> image), so an app
can show per-step progress and a benchmark can time each stage.  XNNPACK stores every constant once per program,
keyed by its sha256 (`named_data_store`), so the U-Net weights that all step methods and ``forward`` use are in the
file once.  Composing the stages gives ``forward`` to float rounding.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import nn

from elir_mobile.errors import ElirError

from ..macs import node_macs, op_name
from ..pipeline import NHWCAdapter
from ..target import Conversion, GateFailure
from . import DELEGATES, require_qnn_sdk
from .indirection import share_indirection_buffers
from .stages import Decode, Encode, Step

# What a lowered program may leave outside the delegate without cost: graph plumbing, not compute.
PLUMBING = {"getitem", "executorch_call_delegate", "alloc"}


def make_partitioners(backend: str) -> list:
    """The ExecuTorch partitioner(s) for `backend`; a missing SDK or module is one clear ElirError."""
    try:
        if backend == "xnnpack":
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

            share_indirection_buffers()
            return [XnnpackPartitioner()]
        if backend == "coreml":
            import coremltools as ct
            from executorch.backends.apple.coreml.compiler import CoreMLBackend
            from executorch.backends.apple.coreml.partition import CoreMLPartitioner

            # fp32 means fp32: the delegate's default compute precision is fp16.
            specs = CoreMLBackend.generate_compile_specs(compute_precision=ct.precision.FLOAT32)
            return [CoreMLPartitioner(compile_specs=specs)]
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
                raise ElirError(f"QNN_SOC_MODEL={soc} is not a known Qualcomm SoC (e.g. SM8550, SM8650)") from None
            specs = generate_qnn_executorch_compiler_spec(
                soc_model=chipset, backend_options=generate_htp_compiler_spec(use_fp16=True))
            return [QnnPartitioner(specs)]
    except ImportError as e:
        raise ElirError(f"--backend {backend} is unavailable in this environment: {e} (install executorch with "
                        f"its {backend} backend; Core ML also needs pip install \"elir-mobile[coreml]\")") from None
    raise ElirError(f"unknown --backend {backend!r}; choose one of: {', '.join(DELEGATES)}")


def op_placement(graph_module: torch.fx.GraphModule, delegate: str) -> tuple[dict, dict]:
    """The card's placement (MAC-weighted delegated share) and op audit of a lowered Edge program's graph.

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
    placement = {"share": macs_in / total if total else None,
                 "details": {"delegate": delegate, "partitions": partitions, "delegated_macs": macs_in,
                             "fallback_macs": macs_out, "delegated_nodes": info.num_delegated_nodes,
                             "fallback_nodes": info.num_non_delegated_nodes,
                             "fallback_ops": dict(sorted(fallback.items()))}}
    audit = {"op_counts": dict(sorted((delegated + fallback).items())),
             "flagged": [{"op": op, "count": n, "reason": f"not delegated to {delegate}: portable CPU kernel"}
                         for op, n in sorted(fallback.items())]}
    return placement, audit


# ---------------------------------------------------------------------------------------------- methods


def method_modules(sampler: nn.Module, layout: str, example_inputs: tuple[torch.Tensor, ...], stages: bool = True):
    """{method name: (module, example inputs)} for forward and, with `stages`, every stage (see the module
    docstring)."""
    forward = NHWCAdapter(sampler) if layout == "nhwc" else sampler
    if not stages:
        return {"forward": (forward, example_inputs)}
    encode = Encode(sampler, layout)
    with torch.no_grad():  # contiguous: an NHWC encode gives a channels-last latent, and torch.export would bake
        z = encode(*example_inputs).contiguous()  # that dim order into the step and decode methods' inputs
    methods = {"forward": (forward, example_inputs), "encode": (encode, example_inputs)}
    for k in range(sampler.K):
        methods[f"step_{k}"] = (Step(sampler, k), (z,))
    methods["decode"] = (Decode(sampler, layout), (z,))
    return methods


# How far encode -> step_0 .. step_<K-1> -> decode may be from forward (images in [0, 1]): float rounding, or an
# int8 rounding tie, not a wrong method (latents read in the wrong dim order put the image off by 0.93).
STAGE_TOLERANCE = 1e-3


def check_stages(artifact: Path, names: list[str], inputs: tuple[torch.Tensor, ...]) -> None:
    """Run the stage methods one after another in the ExecuTorch runtime and raise GateFailure unless they give
    forward's output: the parity gate runs forward only."""
    from elir_mobile.runtimes import load_pte

    z = load_pte(artifact, "encode")(*(t.numpy() for t in inputs))
    for name in (n for n in names if n.startswith("step_")):
        z = load_pte(artifact, name)(z)
    forward = load_pte(artifact, "forward")(*(t.numpy() for t in inputs))
    gap = float(np.abs(load_pte(artifact, "decode")(z) - forward).max())
    if gap > STAGE_TOLERANCE:
        raise GateFailure(f"the stage methods do not compose to forward (max difference {gap:.3g}); this is a bug "
                          f"in the exporter: export without --stages, and please report it")


def method_card(names: list[str], input_names: list[str]) -> dict:
    """The card's ``artifact.methods`` entries beyond forward."""
    if "encode" not in names:
        return {}
    out = {"encode": {"inputs": input_names, "outputs": ["latent"],
                      "description": "the flow's starting latent: coarse(encoder(image)) + noise"}}
    steps = [n for n in names if n.startswith("step_")]
    for n in steps:
        out[n] = {"inputs": ["latent"], "outputs": ["latent"],
                  "description": f"Euler step {n.split('_')[1]} of {len(steps)}: latent + dt * velocity(latent, t)"}
    out["decode"] = {"inputs": ["latent"], "outputs": ["restored"],
                     "description": "decoder(latent) clamped to [0, 1]"}
    return out


# ---------------------------------------------------------------------------------------------- lowering


def lower(job, sampler: nn.Module, quantization: dict | None = None) -> Conversion:
    """torch.export every method of `sampler`, lower them to the delegate and write the .pte (+ .bpte)."""
    from executorch.exir import to_edge_transform_and_lower

    backend = job.args.backend
    methods = method_modules(sampler, job.layout, job.example_inputs, stages=job.args.stages)
    job.log(f"torch.export of {len(methods)} methods ({', '.join(methods)})")
    with torch.no_grad():  # non-strict, torch.export's default: full-size sr's forward in 2.5 s instead of 9-11 s
        exported = {name: torch.export.export(m, inputs) for name, (m, inputs) in methods.items()}
    job.log(f"lowering to {backend}")
    edge = to_edge_transform_and_lower(exported, partitioner=make_partitioners(backend))
    placement, audit = op_placement(edge.exported_program("forward").graph_module, DELEGATES[backend])
    program = edge.to_executorch()
    artifact = job.workdir / f"{job.stem}.pte"
    artifact.write_bytes(program.buffer)
    extra = [] if job.args.no_bundle else [_bundle(job, program)]
    notes = ""
    if quantization is not None and extra:
        notes = ("The .bpte's expected outputs are the eager float references: check an int8 run against them by "
                 "PSNR (the card's gate), not with a tight tolerance. ")
    input_names = ["image", "noise"][: len(job.example_inputs)]
    return Conversion(artifact=artifact, backend=backend, placement=placement, op_audit=audit,
                      quantization=quantization, methods=method_card(list(methods), input_names),
                      extra_files=extra, runtime_notes=notes)


def _bundle(job, program) -> Path:
    """A BundledProgram: the program plus every parity case (inputs and the eager float expected output)."""
    from executorch.devtools import BundledProgram
    from executorch.devtools.bundled_program.config import MethodTestCase, MethodTestSuite
    from executorch.devtools.bundled_program.serialize import serialize_from_bundled_program_to_flatbuffer

    cases = [MethodTestCase(inputs=list(c.inputs), expected_outputs=[c.expected]) for c in job.cases]
    bundled = BundledProgram(program, [MethodTestSuite(method_name="forward", test_cases=cases)])
    path = job.workdir / f"{job.stem}.bpte"
    path.write_bytes(serialize_from_bundled_program_to_flatbuffer(bundled))
    return path
