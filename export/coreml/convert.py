"""Core ML conversion steps (see the package docstring): the float ML program, the compressed weights the
sensitivity measures, the final package with its metadata, and the runtime that checks it."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from elir_mobile.errors import ElirError
from elir_mobile.tasks import WEIGHTS_LICENSE

from ..target import Conversion
from . import deployment_target
from .audit import activation_ranges, fp16_safety, op_audit, op_placement
from .compress import PALETTE_GROUP_SIZE, compress_weights, save_and_load, w8a8
from .mil import MILProgram

INPUT_NAMES = ("image", "noise")
OUTPUT_NAME = "restored"


class PixelIO(nn.Module):
    """For ``--io image``: image in and out as 0..255 pixel values (what Core ML maps a CVPixelBuffer to).

    The 1/255 input scale is done here, inside the fp16 program, rather than by ImageType's `scale`
    preprocessing, which coremltools emits as an fp32 multiply ahead of the fp16 cast."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, image: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return self.inner(image * (1.0 / 255.0), *rest) * 255.0


@dataclass
class FloatProgram:
    """The converted, uncompressed ML program (kept in memory; saved into each export's workdir)."""

    mlmodel: Any
    ios: int
    capture: str
    convert_seconds: float


def capture(module: nn.Module, example_inputs: tuple[torch.Tensor, ...], log: Callable[[str], None]):
    """The module as coremltools' converter input.

    `torch.export` is preferred: the baked sampler is a static graph (no RNG, no loop state), the exported program
    keeps the U-Net's weights as single parameters shared by all K steps (so they become one MIL constant each), and
    it is the frontend coremltools develops going forward.  Its default non-strict mode, as for ExecuTorch: strict
    mode's Dynamo trace took 18 of full-size sr's 58 s conversion and gave the same package (same weight file, same
    ops, same parity).  A module that torch.export rejects is traced instead (TorchScript), which coremltools still
    converts.
    """
    try:
        return torch.export.export(module, example_inputs).run_decompositions({}), "torch.export"
    except Exception as e:  # noqa: BLE001 - any capture failure falls back to the older, laxer frontend
        log(f"torch.export failed ({type(e).__name__}: {e}); converting a traced module")
        with torch.no_grad():
            return torch.jit.trace(module, example_inputs), "torch.jit.trace"


def _inputs_outputs(ct, job, io: str):
    """Explicit I/O types: fp32 tensors (exact reference vectors; Core ML casts to fp16 at the boundary) or
    an RGB image input and image output (0..255, see `PixelIO`) for CVPixelBuffer use."""
    inputs = []
    for name, t in zip(INPUT_NAMES, job.example_inputs):
        if name == "image" and io == "image":
            inputs.append(ct.ImageType(name=name, shape=tuple(t.shape), color_layout=ct.colorlayout.RGB))
        else:
            inputs.append(ct.TensorType(name=name, shape=tuple(t.shape), dtype=np.float32))
    if io == "image":
        outputs = [ct.ImageType(name=OUTPUT_NAME, color_layout=ct.colorlayout.RGB)]
    else:
        outputs = [ct.TensorType(name=OUTPUT_NAME, dtype=np.float32)]
    return inputs, outputs


def convert_float(job) -> FloatProgram:
    import coremltools as ct

    args = job.args
    ios = deployment_target(args)
    module = PixelIO(job.module).eval() if args.io == "image" else job.module
    source, how = capture(module, job.example_inputs, job.log)
    job.log(f"captured with {how}; converting to an ML program ({job.precision}, iOS{ios})")
    inputs, outputs = _inputs_outputs(ct, job, args.io)
    precision = ct.precision.FLOAT16 if job.precision == "fp16" else ct.precision.FLOAT32
    start = time.perf_counter()
    mlmodel = ct.convert(source, convert_to="mlprogram", inputs=inputs, outputs=outputs,
                         compute_precision=precision,
                         minimum_deployment_target={17: ct.target.iOS17, 18: ct.target.iOS18}[ios],
                         skip_model_load=True)
    return FloatProgram(mlmodel, ios, how, time.perf_counter() - start)


def _feed(program_inputs: Sequence[str], arrays: Sequence[np.ndarray], io: str) -> dict[str, np.ndarray]:
    """Model inputs by name; an image input takes 0..255 pixel values (the program applies the 1/255 scale)."""
    feed = {}
    for name, a in zip(INPUT_NAMES, arrays):
        if name not in program_inputs:
            raise ElirError(f"the package has no input {name!r}")
        feed[name] = np.asarray(a, dtype=np.float32) * (255.0 if name == "image" and io == "image" else 1.0)
    return feed


@dataclass
class _Float:
    """This export's saved float package, its calibration feeds and activation ranges (what several steps use)."""

    path: Path
    program: MILProgram        # evaluated without fp16 rounding
    batches: list[dict]
    stats: dict


def _saved_float(job, fp: FloatProgram) -> _Float:
    if "coreml_float" not in job.scratch:
        path = job.workdir / "float.mlpackage"
        fp.mlmodel.save(str(path))
        program = MILProgram(path, emulate_fp16=False)
        batches = [_feed(list(program.input_types), [t.numpy() for t in b], job.args.io) for b in job.calibration()]
        job.log(f"activation ranges of the float program on {len(batches)} calibration inputs")
        job.scratch["coreml_float"] = _Float(path, program, batches, activation_ranges(program, batches))
    return job.scratch["coreml_float"]


def _build(job, fp: FloatProgram, saved: _Float, skip_weights: Sequence[str] = (), skip_ops: Sequence[str] = ()):
    """The compressed model, `skip_weights` (MIL weight constants) and `skip_ops` (w8a8) left fp16."""
    if job.args.compress == "w8a8":
        return w8a8(fp.mlmodel, saved.stats, saved.program, fp.ios, skip_ops, skip_weights)
    return compress_weights(fp.mlmodel, job.args.compress, fp.ios, skip_weights)


def measured_weights(job, fp: FloatProgram) -> dict[str, torch.Tensor]:
    """Compress every weight once and read back coremltools' own decompressed weights, by conv module path, for
    the shared sensitivity (so palettes are measured as they are, not simulated); the convs it leaves out keep
    fp16 weights (and w8a8 still quantizes their activations)."""
    saved = _saved_float(job, fp)
    job.log(f"compressing ({job.args.compress}) to measure coremltools' own weights")
    # Weights only: w8a8's activation quantize/dequantize pairs leave the weights as they are, and inserting them
    # costs one more pass over the whole program.
    trial = compress_weights(fp.mlmodel, job.args.compress, fp.ios)
    trial, trial_program = save_and_load(trial, job.workdir, "trial.mlpackage")
    # Each conv's weight constant in the float program, and its decompressed value in the compressed one, matched by
    # the conv's output var (kept by every pass; op names need not be).
    float_weights = {o.outputs[0][0]: o.inputs["weight"][0][1] for o in saved.program.body if _has_const_weight(o)}
    compressed = {float_weights[o.outputs[0][0]]: trial_program.constants[o.inputs["weight"][0][1]]
                  for o in trial_program.body if _has_const_weight(o) and o.outputs[0][0] in float_weights
                  and o.inputs["weight"][0][1] != float_weights[o.outputs[0][0]]}
    shutil.rmtree(trial, ignore_errors=True)
    op_names = {o.outputs[0][0]: o.name for o in saved.program.body}
    uses: dict[str, list[str]] = {}
    for out_var, weight in float_weights.items():
        uses.setdefault(weight, []).append(op_names[out_var])
    layer_of = weight_layers({w: saved.program.constants[w] for w in uses}, job.converted_model)
    job.scratch["coreml_layers"] = {w: layer for w, (layer, _) in layer_of.items()}, uses
    params = dict(job.model.named_parameters())
    return {layer: compressed[w].float().reshape(params[f"{layer}.weight"].shape) / factor
            for w, (layer, factor) in layer_of.items() if w in compressed}


def finish(job, fp: FloatProgram) -> Conversion:
    args = job.args
    saved = _saved_float(job, fp) if job.precision == "fp16" else None
    fp16_report = fp16_safety(saved.stats) if saved else None
    quant = None
    mlmodel = fp.mlmodel
    if args.compress != "none":
        chosen = job.sensitivity
        layer_of, uses = job.scratch["coreml_layers"]
        kept = sorted(w for w, layer in layer_of.items() if layer in chosen.kept)
        # Kept float: weights and activations fp16.  Kept w8a16 (w8a8): int8 weights, fp16 activations.
        fp16_weights = [w for w in kept if layer_of[w] in chosen.float_layers]
        mlmodel = _build(job, fp, saved, fp16_weights, [op for w in kept for op in uses.get(w, [])])
        quant = {"method": _METHODS[args.compress] + (_palette_note(fp.ios) if args.compress.startswith("palettize")
                                                      else ""),
                 "minimum_deployment_target": f"iOS{fp.ios}", "kept_fp16": fp16_weights,
                 "fp16_activation_convs": sorted(layer_of[w] for w in kept if layer_of[w] in chosen.w8a16_layers),
                 "sensitivity": chosen.card(), "calibration_inputs": len(saved.batches)}
    _describe(mlmodel, job, fp.ios)
    final = job.workdir / f"{job.stem}.mlpackage"
    mlmodel.save(str(final))
    if saved:
        shutil.rmtree(saved.path, ignore_errors=True)
    program = MILProgram(final)
    placement = op_placement(program)
    details = {k: v for k, v in placement.items() if k != "delegated_mac_share"}
    details.update({
        "minimum_deployment_target": f"iOS{fp.ios}", "compute_precision": job.precision, "capture": fp.capture,
        "coremltools_convert_seconds": round(fp.convert_seconds, 2),
        "io": {"kind": args.io, "names": {"inputs": list(program.input_types), "output": OUTPUT_NAME}},
        "fp16_safety": fp16_report})
    image = {"dtype": "uint8", "kind": "image", "range": [0.0, 255.0]} if args.io == "image" else None
    io = [image, *([None] * (len(job.example_inputs) - 1)), image]
    return Conversion(
        artifact=final, backend="mlprogram", placement={"share": placement["delegated_mac_share"], "details": details},
        op_audit=op_audit(program), quantization=quant, compression=None if args.compress == "none" else args.compress,
        io=io, runtime_notes=("image I/O: pixel values 0..255 (the program scales by 1/255 and 255 inside); the "
                              "reference vectors stay float [0, 1]. " if args.io == "image" else "")
        + "On-device Neural Engine numerics can differ slightly from the parity runtime's.")


def _describe(mlmodel, job, ios: int) -> None:
    """Names, descriptions, author, license, version and user-defined metadata on the model itself."""
    from ..card import versions

    args = job.args
    mlmodel.author = "elir-mobile export.coreml (ELIR weights by eladc-git/ELIR)"
    mlmodel.license = WEIGHTS_LICENSE
    # The package version when installed; from a source checkout, the version pyproject.toml declares.
    mlmodel.version = versions()["elir_mobile"] or _source_version()
    mlmodel.short_description = (f"ELIR {job.task.name}: {job.task.description}; K={job.baked.K} fixed Euler "
                                 f"steps, {job.image_size}x{job.image_size}")
    scale = "RGB image" if args.io == "image" else "float32 NCHW tensor in [0, 1]"
    mlmodel.input_description["image"] = f"degraded input image, {scale}"
    if "noise" in [i.name for i in mlmodel.get_spec().description.input]:
        mlmodel.input_description["noise"] = (f"latent noise (1, 16, {job.image_size // 8}, "
                                              f"{job.image_size // 8}), already scaled by sigma_s")
    mlmodel.output_description[OUTPUT_NAME] = f"restored image, {scale}"
    mlmodel.user_defined_metadata.update({
        "task": job.task.name, "K": str(job.baked.K), "sigma_s": str(job.baked.sigma_s),
        "noise_mode": job.baked.noise_mode, "image_size": str(job.image_size), "precision": job.precision,
        "compression": args.compress, "io": args.io, "minimum_deployment_target": f"iOS{ios}",
        "model_card": f"{job.stem}.json"})


def annotate(job, conversion: Conversion, parity: dict) -> None:
    """The parity result in the package's metadata (what Xcode shows), written before the package is hashed."""
    import coremltools as ct

    def db(x):
        return "inf" if x is None else f"{x:.2f}"

    model = ct.models.MLModel(str(conversion.artifact), skip_model_load=True)
    model.user_defined_metadata.update({
        "parity_runtime_kind": parity["runtime_kind"], "parity_runtime": parity["runtime"] or "",
        "parity_min_psnr_db": db(parity["min_psnr_db"]), "parity_mean_psnr_db": db(parity["mean_psnr_db"]),
        "parity_gate_db": f"{parity['gate_db']:g}", "parity_cases": str(len(parity["cases"]))})
    rewritten = conversion.artifact.with_name(f"annotated-{conversion.artifact.name}")
    model.save(str(rewritten))
    shutil.rmtree(conversion.artifact)
    rewritten.rename(conversion.artifact)


def load(artifact: Path) -> Callable[..., np.ndarray]:
    """Core ML itself on macOS; elsewhere the host interpreter of the saved program (the real runtime is absent)."""
    if sys.platform == "darwin":
        from elir_mobile.runtimes import load_mlpackage

        return load_mlpackage(artifact)
    program = MILProgram(artifact)
    io = "image" if program.spec.description.input[0].type.WhichOneof("Type") == "imageType" else "tensor"
    names = list(program.input_types)

    def call(*inputs: np.ndarray) -> np.ndarray:
        out = program.run(_feed(names, inputs, io))[OUTPUT_NAME]
        return out / 255.0 if io == "image" else out

    return call


def _source_version() -> str:
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    return tomllib.loads(pyproject.read_text())["project"]["version"] if pyproject.is_file() else "unknown"


_METHODS = {"int8": "linear symmetric int8 weights, per output channel",
            "palettize6": "6-bit k-means palettes", "palettize4": "4-bit k-means palettes",
            "w8a8": "int8 weights per output channel + int8 activations (per tensor, symmetric, ranges measured on "
                    "calibration data with the host interpreter); the convs the sensitivity chooses keep their int8 "
                    "weights and fp16 activations (w8a16), adds stay fp16"}


def _palette_note(ios: int) -> str:
    return f", one LUT per {PALETTE_GROUP_SIZE} output channels" if ios >= 18 else ", one LUT per tensor"


def weight_layers(weights: dict[str, torch.Tensor | None], model: nn.Module) -> dict[str, tuple[str, float]]:
    """MIL weight constant -> (the conv's module path, the factor the converter folded into it).

    torch.export names a parameter ``p_<path with _>_weight``, lower-cased (with ``euler_`` before the U-Net's, and
    a ``_to_fp16`` cast suffix in fp16 programs): factor 1.  A weight the converter rebuilt by folding a constant
    factor into it (``mul_weight_0``: RRDB's 0.2 residual scale, the Euler step's dt) is matched by value, as the one
    conv weight of its shape it is a multiple of."""
    convs = {name: m.weight.detach() for name, m in model.named_modules()
             if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))}
    paths = {name.replace(".", "_").lower(): name for name in convs}
    found = {}
    for w in weights:
        stem = w.lower().removesuffix("_to_fp16").removesuffix("_weight")
        match = [p for key, p in paths.items() if stem == f"p_{key}" or stem.endswith(f"_{key}")]
        if len(match) == 1:
            found[w] = (match[0], 1.0)
    named = {layer for layer, _ in found.values()}
    for w, value in weights.items():
        if w in found or value is None:
            continue
        value = value.float().flatten()
        multiples = []
        for layer, weight in convs.items():
            weight = weight.flatten()
            if layer in named or weight.numel() != value.numel() or not weight.any():
                continue
            factor = float(value @ weight / (weight @ weight))
            if float((value - factor * weight).norm()) <= _FOLDED_TOLERANCE * float(value.norm()):
                multiples.append((layer, factor))
        if len(multiples) == 1:
            found[w] = multiples[0]
    return found


# A rebuilt weight is its conv's weight times the folded factor, up to fp16 rounding (a relative error of 5e-4).
_FOLDED_TOLERANCE = 1e-2


def _has_const_weight(o) -> bool:
    return o.type in ("conv", "conv_transpose") and o.inputs["weight"][0][0] == "var"
