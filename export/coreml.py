"""Core ML export: ``python -m export.coreml --task bfr`` -> ``elir_<task>_<precision>[_<compress>].mlpackage``.

The baked sampler is captured with `torch.export` (strict) and converted by `coremltools.convert` into an ML
program (fp16 compute by default, iOS17; iOS18 where the compression needs it), optionally compressed with
`coremltools.optimize` (int8 weights, 6/4-bit palettes, w8a8).  Core ML cannot predict on Linux, so the saved
package's own ML program is evaluated with the host interpreter in `export.mil` for the parity gate; on macOS
`MLModel.predict` is the runtime.  See `coreml_checks` (op audit, fp16 safety) and `coreml_compress`.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from elir_mobile.errors import ElirError
from elir_mobile.tasks import WEIGHTS_LICENSE

from . import pipeline
from .coreml_checks import activation_ranges, fp16_safety, op_audit, op_placement
from . import sensitivity
from .coreml_compress import (COMPRESSIONS, IOS18_ONLY, PALETTE_GROUP_SIZE, compress_weights, quantize_activations,
                              save_and_load)
from .mil import MILProgram

GATES_DB = {"fp32": 80.0, "fp16": 50.0, "int8": 40.0, "palettize6": 32.0, "w8a8": 32.0,
            # The issue states no gate for 4-bit palettes; this floor only catches a broken package.
            "palettize4": 20.0}
IO_KINDS = ("tensor", "image")
INPUT_NAMES = ("image", "noise")
OUTPUT_NAME = "restored"
# Aim this far above the gate with the measured fp16 choice.  The simulation leaves out the fp16 program itself,
# the few weights the converter rebuilt (not measured, still compressed) and, for w8a8, every other op's 8-bit
# activations; on full-size sr it read 33.6 dB for a 6-bit palette that measured 33.0 dB, and >= 41 dB for an
# all-int8 program that measured 39.9 dB.
MARGIN_DB = {"int8": 2.0, "palettize6": 2.0, "palettize4": 2.0, "w8a8": 3.0}
# At most this share of the compressible parameters stays fp16 (past it, compression no longer pays).
MAX_FP16_SHARE = 0.5


class PixelIO(nn.Module):
    """For ``--io image``: image in and out as 0..255 pixel values (what Core ML maps a CVPixelBuffer to).

    The 1/255 input scale is done here, inside the fp16 program, rather than by ImageType's `scale`
    preprocessing, which coremltools emits as an fp32 multiply ahead of the fp16 cast."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, image: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return self.inner(image * (1.0 / 255.0), *rest) * 255.0


def capture(module: nn.Module, example_inputs: tuple[torch.Tensor, ...]):
    """The module as coremltools' converter input.

    `torch.export` (strict) is preferred: the baked sampler is a static graph (no RNG, no loop state), the
    exported program keeps the U-Net's weights as single parameters shared by all K steps (so they become one
    MIL constant each), and it is the frontend coremltools develops going forward.  A module that torch.export
    rejects is traced instead (TorchScript), which coremltools still converts.
    """
    try:
        return torch.export.export(module, example_inputs, strict=True).run_decompositions({}), "torch.export"
    except Exception as e:  # noqa: BLE001 - any capture failure falls back to the older, laxer frontend
        print(f"torch.export failed ({type(e).__name__}: {e}); converting a traced module", file=sys.stderr)
        with torch.no_grad():
            return torch.jit.trace(module, example_inputs), "torch.jit.trace"


def deployment_target(args: argparse.Namespace) -> int:
    return args.min_ios or (18 if args.compress in IOS18_ONLY or args.compress.startswith("palettize") else 17)


def _inputs_outputs(ct, job: pipeline.ExportJob, io: str):
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


def _feed(program_inputs: Sequence[str], arrays: Sequence[np.ndarray], io: str) -> dict[str, np.ndarray]:
    """Model inputs by name; an image input takes 0..255 pixel values (the program applies the 1/255 scale)."""
    feed = {}
    for name, a in zip(INPUT_NAMES, arrays):
        if name not in program_inputs:
            raise ElirError(f"the package has no input {name!r}")
        feed[name] = np.asarray(a, dtype=np.float32) * (255.0 if name == "image" and io == "image" else 1.0)
    return feed


def _psnr(expected: np.ndarray, actual: np.ndarray) -> float:
    mse = float(np.mean((np.clip(expected, 0, 1) - np.clip(actual, 0, 1)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


class CoreMLBackend(pipeline.Backend):
    name = "coreml"
    format = "mlpackage"
    suffix = ".mlpackage"
    runtime = ("Core ML MLModel.predict" if sys.platform == "darwin" else
               "export.mil host interpreter of the saved ML program (torch, fp16 rounding as declared)")
    precisions = ("fp16", "fp32")
    description = "Export ELIR as a Core ML ML program (.mlpackage) for the Apple Neural Engine."

    def __init__(self):
        self.compress = "none"
        self.io = "tensor"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--compress", choices=COMPRESSIONS, default="none",
                            help="weight compression: int8 linear, 6/4-bit palettes (k-means), or w8a8 "
                                 "(int8 weights and activations, iOS18) (default: %(default)s)")
        parser.add_argument("--io", choices=IO_KINDS, default="tensor",
                            help="tensor: float arrays; image: RGB image input/output for CVPixelBuffer use")
        parser.add_argument("--min-ios", type=int, choices=(17, 18),
                            help="minimum deployment target (default: 17, or 18 for w8a8 and palettes)")

    def validate(self, args: argparse.Namespace) -> None:
        if args.compress not in COMPRESSIONS:
            raise ElirError(f"unknown compression {args.compress!r}; choose one of: {', '.join(COMPRESSIONS)}")
        if args.compress in IOS18_ONLY and args.min_ios == 17:
            raise ElirError(f"--compress {args.compress} needs --min-ios 18 (the Neural Engine's int8 activation "
                            "path, on A17 Pro / M4 class chips, needs iOS18)")
        if args.compress != "none" and args.precision == "fp32":
            raise ElirError("compression applies to the fp16 program; use --precision fp16 with --compress")
        # The pipeline's gate_db() receives only the precision: the compression and I/O kind come from here.
        self.compress, self.io = args.compress, args.io

    def artifact_stem(self, task: str, args: argparse.Namespace) -> str:
        stem = f"elir_{task}_{args.precision}"
        return stem if args.compress == "none" else f"{stem}_{args.compress}"

    def gate_db(self, precision: str) -> float:
        return GATES_DB[precision if self.compress == "none" else self.compress]

    def needs_calibration(self, args: argparse.Namespace) -> bool:
        return args.precision == "fp16"  # the fp16 safety check, and compression calibration

    # ------------------------------------------------------------------------------------------- convert

    def convert(self, job: pipeline.ExportJob) -> pipeline.Conversion:
        import coremltools as ct

        args = job.args
        ios = deployment_target(args)
        target = {17: ct.target.iOS17, 18: ct.target.iOS18}[ios]
        module = PixelIO(job.module).eval() if args.io == "image" else job.module
        source, how = capture(module, job.example_inputs)
        job.log(f"captured with {how}; converting to an ML program ({job.precision}, iOS{ios})")
        inputs, outputs = _inputs_outputs(ct, job, args.io)
        precision = ct.precision.FLOAT16 if job.precision == "fp16" else ct.precision.FLOAT32
        start = time.perf_counter()
        mlmodel = ct.convert(source, convert_to="mlprogram", inputs=inputs, outputs=outputs,
                             compute_precision=precision, minimum_deployment_target=target,
                             skip_model_load=True)
        convert_seconds = time.perf_counter() - start
        base_path = job.workdir / "float.mlpackage"
        mlmodel.save(str(base_path))
        names = list(MILProgram(base_path).input_types)
        batches = [_feed(names, [t.numpy() for t in b], args.io) for b in job.calibration()]

        fp16_report, quant = None, None
        stats: dict = {}
        if job.precision == "fp16":
            job.log(f"fp16 safety: activation ranges of the program on {len(batches)} calibration inputs")
            stats = activation_ranges(MILProgram(base_path, emulate_fp16=False), batches)
            fp16_report = fp16_safety(stats)
        if args.compress != "none":
            mlmodel, quant = self._compress(mlmodel, job, base_path, batches, stats, ios)

        final = job.workdir / f"{job.stem}.mlpackage"
        mlmodel.save(str(final))
        program = MILProgram(final)
        output = program.run(_feed(list(program.input_types), [t.numpy() for t in job.reference_inputs],
                                   args.io))[OUTPUT_NAME]
        if not np.all(np.isfinite(output)):
            raise ElirError(f"the {job.precision} program's output is not finite on the reference input; "
                            "export with --precision fp32")
        output = output / 255.0 if args.io == "image" else output
        psnr = _psnr(job.expected.numpy(), output)
        self._describe(mlmodel, job, ios, psnr, float(np.max(np.abs(np.clip(output, 0, 1)
                                                                    - np.clip(job.expected.numpy(), 0, 1)))))
        mlmodel.save(str(final))
        audit = op_audit(program)
        placement = op_placement(program)
        placement.update({
            "minimum_deployment_target": f"iOS{ios}", "compute_precision": job.precision,
            "capture": how, "coremltools_convert_seconds": round(convert_seconds, 2),
            "io": {"kind": args.io, "input_dtype": "float32" if args.io == "tensor" else "RGB image (8-bit)",
                   "output_dtype": "float32" if args.io == "tensor" else "RGB image (8-bit)",
                   "names": {"inputs": names, "output": OUTPUT_NAME},
                   "note": ("image I/O: pixel values 0..255 (the program scales by 1/255 and 255 inside); the "
                            "reference vectors stay float [0, 1]") if args.io == "image" else
                           "float32 arrays; Core ML casts to the fp16 compute precision inside the program"},
            "fp16_safety": fp16_report,
        })
        shutil.rmtree(base_path, ignore_errors=True)
        return pipeline.Conversion(
            artifact=final, backend="mlprogram", op_placement=placement, op_audit=audit, quantization=quant,
            compression=None if args.compress == "none" else args.compress,
            runtime_notes=("Core ML cannot predict on Linux: parity is measured by evaluating the saved package's "
                           "ML program op by op on the host (export.mil: weights read from the package, "
                           "compressed constexpr weights decompressed, fp16 tensors rounded as declared). "
                           "On-device Neural Engine numerics can differ slightly."
                           if sys.platform != "darwin" else "verified with Core ML MLModel.predict"))

    def _compress(self, mlmodel, job: pipeline.ExportJob, base_path: Path, batches, stats, ios: int):
        """Compress everything once, measure end to end what each compressed weight costs (`export.sensitivity`
        with coremltools' own decompressed weights), keep in fp16 what the gate cannot afford (most error per
        parameter first), and compress again without it."""
        mode = job.args.compress
        float_program = MILProgram(base_path, emulate_fp16=False)
        if not stats:
            stats = activation_ranges(float_program, batches)

        def build(skip_weights: Sequence[str], skip_ops: Sequence[str]):
            model = mlmodel
            if mode == "w8a8":
                model = quantize_activations(model, stats, float_program, skip_ops)
            return compress_weights(model, mode, ios, skip_weights)

        job.log(f"compressing ({mode})")
        compressed = build((), ())
        trial, trial_program = save_and_load(compressed, job.workdir, "trial.mlpackage")
        # The compressed program's weights, decompressed, under the float program's names, matched by the conv's
        # output var (kept by every pass; op names are not: w8a8's insertion renames the convs it rebuilds).
        float_weights = {o.outputs[0][0]: o.inputs["weight"][0][1] for o in float_program.body if _has_const_weight(o)}
        weights = {float_weights[o.outputs[0][0]]: trial_program.constants[o.inputs["weight"][0][1]]
                   for o in trial_program.body if _has_const_weight(o) and o.outputs[0][0] in float_weights
                   and o.inputs["weight"][0][1] != float_weights[o.outputs[0][0]]}
        op_names = {o.outputs[0][0]: o.name for o in float_program.body}
        shutil.rmtree(trial, ignore_errors=True)
        uses: dict[str, list[str]] = {}
        for out_var, weight in float_weights.items():
            uses.setdefault(weight, []).append(op_names[out_var])

        layer_of = weight_layers(weights, job.model)
        params = dict(job.model.named_parameters())
        replacements = {layer: weights[w].float().reshape(params[f"{layer}.weight"].shape)
                        for w, layer in layer_of.items()
                        if weights[w].numel() == params[f"{layer}.weight"].numel()}
        chosen = sensitivity.measure_job(job, target_db=self.gate_db(job.precision) + MARGIN_DB[mode],
                                         max_float_share=MAX_FP16_SHARE, cost="params",
                                         activations="symmetric-io" if mode == "w8a8" else "none",
                                         replacements=replacements)
        keep = sorted(w for w, layer in layer_of.items() if layer in chosen.float_layers)
        if keep:
            compressed = build(keep, [op for w in keep for op in uses.get(w, [])])
        quant = {"method": _METHODS[mode] + (_palette_note(ios) if mode.startswith("palettize") else ""),
                 "minimum_deployment_target": f"iOS{ios}", "kept_fp16": keep,
                 "sensitivity": chosen.card(), "calibration_inputs": len(batches)}
        return compressed, quant

    def _describe(self, mlmodel, job: pipeline.ExportJob, ios: int, psnr: float, max_err: float) -> None:
        """Names, descriptions, author, license, version and user-defined metadata on the model itself."""
        from .card import versions

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
        meta = {"task": job.task.name, "K": str(job.baked.K), "sigma_s": str(job.baked.sigma_s),
                "noise_mode": job.baked.noise_mode, "image_size": str(job.image_size),
                "precision": job.precision, "compression": args.compress, "io": args.io,
                "minimum_deployment_target": f"iOS{ios}",
                "parity_psnr_db": "inf" if not math.isfinite(psnr) else f"{psnr:.2f}",
                "parity_max_abs_err": f"{max_err:.4g}", "parity_gate_db": str(self.gate_db(job.precision)),
                "parity_runtime": "export.mil host interpreter vs eager float PyTorch"}
        mlmodel.user_defined_metadata.update(meta)

    # ------------------------------------------------------------------------------------------- run

    def run(self, artifact: Path, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Core ML on macOS; elsewhere the host interpreter of the saved program (the real runtime is absent)."""
        program = MILProgram(artifact)
        io = "image" if program.spec.description.input[0].type.WhichOneof("Type") == "imageType" else "tensor"
        feed = _feed(list(program.input_types), inputs, io)
        if sys.platform == "darwin":
            out = predict_coreml(artifact, feed)
        else:
            out = program.run(feed)[OUTPUT_NAME]
        return out / 255.0 if io == "image" else out


def _source_version() -> str:
    import tomllib

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    return tomllib.loads(pyproject.read_text())["project"]["version"] if pyproject.is_file() else "unknown"


_METHODS = {"int8": "linear symmetric int8 weights, per output channel",
            "palettize6": "6-bit k-means palettes", "palettize4": "4-bit k-means palettes",
            "w8a8": "int8 weights per output channel + int8 activations (per tensor, symmetric, ranges measured on "
                    "calibration data with the host interpreter)"}


def _palette_note(ios: int) -> str:
    return f", one LUT per {PALETTE_GROUP_SIZE} output channels" if ios >= 18 else ", one LUT per tensor"


def weight_layers(weights: dict, model: nn.Module) -> dict[str, str]:
    """MIL weight constant -> the conv's module path.  torch.export names a parameter ``p_<path with _>_weight``,
    lower-cased (with ``euler_`` before the U-Net's, and a ``_to_fp16`` cast suffix in fp16 programs).  Weights the
    converter rebuilt (a constant factor folded in, e.g. ``mul_weight_0``) stay unnamed: compressed, not measured."""
    paths = {name.replace(".", "_").lower(): name for name, m in model.named_modules()
             if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))}
    found = {}
    for w in weights:
        stem = w.lower().removesuffix("_to_fp16").removesuffix("_weight")
        match = [p for key, p in paths.items() if stem == f"p_{key}" or stem.endswith(f"_{key}")]
        if len(match) == 1:
            found[w] = match[0]
    return found


def _has_const_weight(o) -> bool:
    return o.type in ("conv", "conv_transpose") and o.inputs["weight"][0][0] == "var"


def predict_coreml(artifact: Path, feed: dict[str, np.ndarray]) -> np.ndarray:
    """`MLModel.predict` (macOS only); an image input is passed as a PIL image."""
    import coremltools as ct
    from PIL import Image

    model = ct.models.MLModel(str(artifact))
    spec_inputs = {i.name: i for i in model.get_spec().description.input}
    data = {}
    for name, value in feed.items():
        if spec_inputs[name].type.WhichOneof("Type") == "imageType":
            pixels = np.clip(np.round(value[0].transpose(1, 2, 0)), 0, 255).astype(np.uint8)
            data[name] = Image.fromarray(pixels)
        else:
            data[name] = value
    out = model.predict(data)[OUTPUT_NAME]
    if isinstance(out, Image.Image):
        out = np.asarray(out, dtype=np.float32).transpose(2, 0, 1)[None]
    return np.asarray(out, dtype=np.float32)


BACKEND = CoreMLBackend()


def main(argv: Sequence[str] | None = None) -> int:
    return pipeline.main(CoreMLBackend(), argv)


if __name__ == "__main__":
    sys.exit(main())
