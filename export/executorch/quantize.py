"""XNNPACK int8 (PT2E static quantization) of the baked sampler: one int8 copy of the U-Net's weights, and
activation ranges of each Euler step's own.

PT2E annotates a weight once: in the unrolled graph only the first step's uses of the shared U-Net weights get
annotated (later steps stay float) and the mixed program fails in XNNPACK at run time.  So the pipeline is
quantized in parts, each exported and calibrated on exactly what it sees in the float pipeline:

* encode (encoder + coarse + noise) on the calibration images,
* the Euler step module once per step k, on the latents of step k only (with its time biases),
* decode on the final latents,

and the converted parts are composed again in `QuantizedBaked.forward`.  The latent moves from the coarse estimate
toward the restored image, so each step's activations have their own statistics (TDQ, NeurIPS 2023; TFMQ-DM
calibrates time-dependent parts per step): K step parts give every step's convs and concatenations their own
observers.  Their weights are the same float tensors through the same per-channel min/max observer, so their
int8 weights are bit-identical, and XNNPACK stores a constant once per program by its sha256: the U-Net's int8
weights are in the file once (tests/test_executorch.py checks both).

``dynamic-int8`` quantizes only each conv's input, at run time with that call's own min / max (XNNPACK's qd8
convs): the same parts, with no range to calibrate, a quantizer that also takes the convs followed by a ReLU, and
a layout barrier before each quantized input (`layout_barriers`).

GroupNorm statistics and the residual / Euler-update adds stay float (see `make_quantizer`).  Which convolutions
stay float is measured by the pipeline's shared sensitivity step (`export.sensitivity`, weights, inputs and
outputs simulated in int8, with per-call-site ranges as here): re-calibrating PT2E per layer was tried and dropped
(over ten minutes even at fixture size); the float simulation takes one forward pass per layer.  The sampler this
module quantizes is the pipeline's copy with GPTQ-rounded int8 weights (`export.rounding`) and corrected biases
(`Sensitivity.corrected`): the per-channel observer gets the rounded levels back exactly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from ..pipeline import parity, to_nchw
from .stages import Decode, Encode


class QuantizedBaked(nn.Module):
    """The baked sampler rebuilt from converted (quantized) parts, with the same `encode` / `step` / `decode`
    methods as `BakedSampler`; ``step_parts[k]`` is step k, calibrated on that step's latents."""

    def __init__(self, encode: nn.Module, steps: list[nn.Module], decode: nn.Module, baked: nn.Module):
        super().__init__()
        if len(steps) != baked.K:
            raise ValueError(f"{len(steps)} step parts for a {baked.K}-step sampler")
        self.encode_part, self.decode_part = encode, decode
        self.step_parts = nn.ModuleList(steps)
        self.K, self.n_blocks = baked.K, baked.n_blocks
        self.noise_mode = baked.noise_mode
        for k in range(self.K):
            for j, b in enumerate(baked.step_biases(k)):
                self.register_buffer(f"time_bias_{k}_{j}", b.detach().clone())

    def encode(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.encode_part(x, noise) if self.noise_mode == "input" else self.encode_part(x)

    def step(self, z: torch.Tensor, k: int) -> torch.Tensor:
        return self.step_parts[k](z, *(getattr(self, f"time_bias_{k}_{j}") for j in range(self.n_blocks)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode_part(z)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        z = self.encode(x, noise)
        for k in range(self.K):
            z = self.step(z, k)
        return self.decode(z)


@dataclass
class PartData:
    """Calibration inputs of the parts, recorded from the float pipeline; ``steps[k]`` are step k's."""

    encode: list[tuple[torch.Tensor, ...]]
    steps: list[list[tuple[torch.Tensor, ...]]]
    decode: list[tuple[torch.Tensor, ...]]


@torch.no_grad()
def record_part_inputs(baked: nn.Module, batches: list[tuple[torch.Tensor, ...]]) -> PartData:
    data = PartData([], [[] for _ in range(baked.K)], [])
    for inputs in batches:
        data.encode.append(inputs)
        z = baked.encode(*inputs) if len(inputs) > 1 else baked.encode(inputs[0])
        for k in range(baked.K):
            data.steps[k].append((z, *baked.step_biases(k)))
            z = baked.step(z, k)
        data.decode.append((z,))
    return data


def make_quantizer(float_layers=(), dynamic: bool = False):
    """XNNPACKQuantizer: per-channel symmetric int8 weights, static int8 activations (`dynamic`: each conv's input
    quantized at run time with that call's own min / max, XNNPACK's qd8 convs, outputs fp32).  Left unannotated,
    so fp32:

    * GroupNorm's statistics (the mul / add inside `ReshapeGroupNorm`): int8 variance is the least accurate place
      to quantize, and skipping those ops removes a third of the quantize/dequantize pairs (faster lowering);
    * every add (the autoencoder's residual stream, the U-Net's skips, the Euler update z + dt * v): measured on
      full-size sr with the recipe weights, int8 adds cap the whole model at 31.4 dB even with every conv in
      fp32, and 41.4 dB with the adds in fp32 too; an fp32 add costs one dequantize per int8 input;
    * the convs whose module path is in `float_layers` (chosen by measured sensitivity)."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)

    keep = set(float_layers)
    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic)
    quantizer = (_dynamic_conv_relu_quantizer() if dynamic else XNNPACKQuantizer()).set_global(config)
    quantizer.set_filter_function(lambda n: not (_in_group_norm(n) or _is_add(n) or conv_layer(n) in keep))
    return quantizer


_CONV_RELU = ("conv_relu", "conv_transpose_relu")


def _dynamic_conv_relu_quantizer():
    """An XNNPACKQuantizer whose conv + ReLU patterns also take a dynamic config.  XNNPACK's dynamic patterns are a
    conv or linear alone, and its conv annotator skips a conv whose one user is a ReLU (left to conv_relu, a
    static-only pattern): every conv of the autoencoder and of the RRDB blocks would stay float.  The conv_relu
    annotator works as it is with a dynamic config, the ReLU's output staying float."""
    import dataclasses

    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

    class DynamicConvReluQuantizer(XNNPACKQuantizer):
        SUPPORTED_PATTERNS = [dataclasses.replace(p, is_dynamic=True) if p.name in _CONV_RELU else p
                              for p in XNNPACKQuantizer.SUPPORTED_PATTERNS]

    return DynamicConvReluQuantizer()


def conv_layer(node: torch.fx.Node) -> str | None:
    """The module path (as in `ELIR.named_modules`) of a conv node's weight, or None for other nodes.  A part
    module wraps the sampler as ``sampler``; that prefix is dropped."""
    if node.op != "call_function" or "conv" not in str(node.target) or len(node.args) < 2:
        return None
    weight = node.args[1]
    if not isinstance(weight, torch.fx.Node) or weight.op != "get_attr":
        return None
    path = str(weight.target).removesuffix(".weight")
    return path.removeprefix("sampler.")


def _is_add(node: torch.fx.Node) -> bool:
    return node.op == "call_function" and node.target in (torch.ops.aten.add.Tensor, torch.ops.aten.add_.Tensor)


def _in_group_norm(node: torch.fx.Node) -> bool:
    stack = node.meta.get("nn_module_stack") or {}
    return any("ReshapeGroupNorm" in str(kind) for _, kind in stack.values())


@torch.no_grad()
def quantize_part(part: nn.Module, samples: list[tuple[torch.Tensor, ...]], name: str,
                  progress: bool = True, float_layers=(), dynamic: bool = False) -> nn.Module:
    """export -> prepare_pt2e -> calibrate on every sample -> convert_pt2e.  Dynamic activations have no range
    to calibrate: one sample sets the weights' observers, and each quantized input gets a layout barrier."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from tqdm import tqdm

    prepared = prepare_pt2e(torch.export.export(part, samples[0]).module(),
                            make_quantizer(float_layers, dynamic))
    for s in tqdm(samples[:1] if dynamic else samples, desc=f"calibrating {name}", leave=False,
                  disable=None if progress else True):
        prepared(*s)
    converted = convert_pt2e(prepared)
    return layout_barriers(converted) if dynamic else converted


_CHOOSE_QPARAMS = "quantized_decomposed.choose_qparams.tensor"


def layout_barriers(module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Before each dynamically quantized input, the exact copy ``cat([x[:, :C/2], x[:, C/2:]], 1)``.

    ExecuTorch's XNNPACK layout pass (`ChannelsLastTaggedReshapePass.input_to_nhwc`, 1.5.1 and main) walks back
    from a dynamic quantize through first arguments to the first node whose first argument is not a node, puts the
    channels-last copy there and hands it to every user of that node: past a reshape (the upsample's interleave,
    GroupNorm's groups) some of them need NCHW, and XNNPACK refuses the program at its first run ("Propagating
    input shapes failed").  A concatenation's first argument is a list, so the walk stops at it; XNNPACK runs
    concatenations of 2-5 tensors (of one tensor it does not: 190 partitions on sr), hence the two halves."""
    graph = module.graph
    for node in list(graph.nodes):
        if node.op != "call_function" or str(node.target) != _CHOOSE_QPARAMS:
            continue
        x = node.args[0]
        channels = x.meta["val"].shape[1]
        if channels < 2:
            continue
        half = channels // 2
        with graph.inserting_before(node):
            halves = [graph.call_function(torch.ops.aten.slice.Tensor, (x, 1, 0, half)),
                      graph.call_function(torch.ops.aten.slice.Tensor, (x, 1, half, channels))]
            barrier = graph.call_function(torch.ops.aten.cat.default, (halves, 1))
        for user in list(x.users):
            if user is node or (user.op == "call_function" and "quantize_per_tensor.tensor" in str(user.target)
                                and user.args[1].args[0] is node):
                user.replace_input_with(x, barrier)
    graph.lint()
    module.recompile()
    return module


@torch.no_grad()
def _eager_psnr(module: nn.Module, job) -> float:
    """The quantized module in eager PyTorch against the original float model, on the first parity case."""
    inputs, (expected,) = to_nchw(job.reference_inputs, job.layout), to_nchw((job.expected,), job.layout)
    return parity(expected.numpy(), module(*inputs).numpy())["psnr_db"]


def quantize_baked(job, float_baked: nn.Module) -> tuple[nn.Module, dict]:
    """The int8 sampler (NCHW) and the card's ``quantization`` record; the convs `job.sensitivity` chose stay fp32.
    ``dynamic-int8`` has no activation range to calibrate: its K steps are copies of one part."""
    dynamic = job.precision == "dynamic-int8"
    batches = job.calibration("nchw")
    chosen = job.sensitivity
    data = record_part_inputs(float_baked, batches[:1] if dynamic else batches)
    keep = chosen.float_layers

    def part(module: nn.Module, samples, name: str) -> nn.Module:
        return quantize_part(module, samples, name, job.progress, keep, dynamic)

    if dynamic:
        job.log("dynamic int8: quantizing encode / the step / decode (one sample sets the weights' observers)")
        step = part(float_baked.euler, data.steps[0], "step")
        # A copy per step: ExecuTorch leaves the constants of a module called twice outside the delegate (a second
        # copy of the U-Net's weights in the file); distinct equal constants XNNPACK stores once, by content.
        steps = [step] + [copy.deepcopy(step) for _ in range(float_baked.K - 1)]
    else:
        job.log(f"int8: calibrating encode / each of the {float_baked.K} steps / decode on {len(batches)} images")
        steps = [part(float_baked.euler, samples, f"step {k}") for k, samples in enumerate(data.steps)]
    q = QuantizedBaked(part(Encode(float_baked, "nchw"), data.encode, "encode"), steps,
                       part(Decode(float_baked, "nchw"), data.decode, "decode"),
                       float_baked)  # no .eval(): exported graph modules refuse it (they have no train mode)
    weights = ("quantized convs' int8 weights rounded by GPTQ (sensitivity.weight_rounding) and bias-corrected "
               "(sensitivity.bias_correction)")
    if dynamic:
        scheme = ("PT2E dynamic int8, XNNPACKQuantizer (is_dynamic): per-channel symmetric int8 weights, each conv's "
                  "input quantized at run time per tensor with that call's own min / max (XNNPACK qd8), fp32 "
                  "outputs; one set of int8 U-Net weights shared by all steps; a channel-halves concatenation "
                  "before each quantized input (quantize.layout_barriers); " + weights)
        float_ops = ("every op but the int8 convs' multiply-accumulates: adds, GroupNorm, SiLU, concatenations, "
                     "the final clamp; the convs in fp32_convs (chosen by the measured sensitivity)")
        int8_ops = "every other convolution and transposed convolution (int8 inputs and weights, int32 accumulation)"
    else:
        scheme = ("PT2E static int8, XNNPACKQuantizer: per-channel symmetric weights, per-tensor affine activations; "
                  "encode, each Euler step and decode calibrated separately: activation ranges per step, one set "
                  "of int8 U-Net weights shared by all steps; " + weights)
        float_ops = ("GroupNorm statistics (mean / variance / normalize); residual, skip and Euler-update adds; the "
                     "final clamp; the convs in fp32_convs (chosen by the measured sensitivity)")
        int8_ops = "every other convolution and transposed convolution, concatenations"
    record = {"scheme": scheme, "float_ops": float_ops, "int8_ops": int8_ops,
              "fp32_convs": keep,
              "sensitivity": chosen.card(),
              "calibration_images": len(batches),
              "calibration_source": str(job.args.calibration_dir or "scikit-image samples"),
              "eager_psnr_db": round(_eager_psnr(q, job), 3)}
    return q, record
