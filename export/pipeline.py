"""The export pipeline every target shares; a target (`export.target.Target`) supplies only its own steps.

``python -m export.<target> --task T [...]`` (`export.cli`) calls `export(target, args)`, which:

1. loads the weights (`load_weights`: released file, a checkpoint, or the recipe's test weights) and builds the
   baked sampler (`elir_mobile.baked`), NHWC-wrapped where the artifact's layout asks;
2. makes the parity cases: `PARITY_CASES` crops of different photos, degraded the task's way, with seeded noise,
   and the eager float outputs for them;
3. converts: the target's float program (reused within a process across precisions), the shared per-layer
   sensitivity where the target's precision quantizes, then the target's quantize / compress / lower step;
4. runs the artifact on every case in the target's runtime (real, or a stated emulation; or not at all, said in
   the card) and gates the worst case against `export.gates` (or ``--gate-db``); below the gate nothing is kept
   (exit 1), unless ``--keep-failed DIR``;
5. writes the artifact, extra files, the first case's reference vectors and the model card, validated against
   ``card.schema.json``, into ``--out`` (temp dir in the same folder, then ``os.replace``; the card last).

Programmatic use (tests, notebooks): ``export(target, cli.parse_args(target, argv), config=cfg, checkpoint=sd)``
exports an in-memory model without touching the network.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import elir_mobile
from elir_mobile.checkpoint import to_file_keys
from elir_mobile.errors import ElirError
from elir_mobile.tasks import Task, get_task

from . import calibration as calib
from . import card as cards
from . import sensitivity
from .target import Conversion, GateFailure, RuntimeInfo, Target

# Parity is scored on this many reference inputs (different photos, the task's degradation, seeded noise).
PARITY_CASES = 3
PARITY_SEED_OFFSET = 10_000
PARITY_THREADS = 2


@dataclass
class Weights:
    """A loaded model and where its weights came from (the card's ``weights`` record)."""

    model: nn.Module
    source: str                  # released | checkpoint | test-weights | tiny | in-memory
    file: str | None
    sha256: str
    sha256_of: str               # file | state_dict
    seed: int | None
    family: str | None = None    # test weights: which family of `elir_mobile.testing`

    def card(self) -> dict:
        return {"source": self.source, "file": self.file, "sha256": self.sha256, "sha256_of": self.sha256_of,
                "seed": self.seed, "family": self.family}


def state_dict_sha256(model: nn.Module) -> str:
    """Every tensor of the model's state dict, in the released file's key order, names and bytes."""
    digest = hashlib.sha256()
    for key, tensor in to_file_keys(model.state_dict()).items():
        digest.update(key.encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def load_weights(args: argparse.Namespace, config: dict | None = None, checkpoint: Any = None) -> Weights:
    """The ELIR model the options ask for (in-memory `config` + `checkpoint` win over the CLI flags)."""
    from elir_mobile.testing import make_test_weights, tiny_config

    task = get_task(args.task)
    if config is not None:
        model = elir_mobile.load_model(config=config, checkpoint=checkpoint)
        return Weights(model, "in-memory", None, state_dict_sha256(model), "state_dict", None)
    if args.tiny or args.test_weights:
        cfg = tiny_config(args.image_size or 64) if args.tiny else task.model_config()
        if args.tiny:
            cfg.update(K=task.K, sigma_s=task.sigma_s)
        family = getattr(args, "weights_family", "recipe")
        model = elir_mobile.load_model(config=cfg, checkpoint=make_test_weights(cfg, seed=args.weights_seed,
                                                                                 family=family))
        source = "tiny" if args.tiny else "test-weights"
        return Weights(model, source, None, state_dict_sha256(model), "state_dict", args.weights_seed, family)
    if args.checkpoint is not None:
        path, source = Path(args.checkpoint), "checkpoint"
    else:
        from elir_mobile.download import released_checkpoint

        path, source = released_checkpoint(task), "released"
    model = elir_mobile.load_model(task.name, checkpoint=path)
    return Weights(model, source, path.name, cards.sha256_of(path), "file", None)


class NHWCAdapter(nn.Module):
    """Channels-last view of a baked sampler: inputs (N, H, W, C) in, (N, H, W, 3) out."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.inner(*(t.permute(0, 3, 1, 2) for t in inputs)).permute(0, 2, 3, 1)


def to_layout(t: torch.Tensor, layout: str) -> torch.Tensor:
    return t.permute(0, 2, 3, 1).contiguous() if layout == "nhwc" else t.contiguous()


def to_nchw(inputs: tuple[torch.Tensor, ...], layout: str) -> tuple[torch.Tensor, ...]:
    return inputs if layout == "nchw" else tuple(t.permute(0, 3, 1, 2).contiguous() for t in inputs)


@dataclass
class ParityCase:
    """One reference input (artifact layout) and the eager float output for it."""

    description: str
    inputs: tuple[torch.Tensor, ...]
    expected: torch.Tensor


@dataclass
class ExportJob:
    """Everything a target's steps may use.

    `module` is the float eager model in the artifact's layout (inputs: `example_inputs`); `baked` the NCHW
    `BakedSampler` underneath (encode / step / decode), `model` the `ELIR` it was baked from.  `cases` are the
    parity inputs; `reference_inputs` / `expected` the first of them.  `sensitivity` is the shared measurement
    (set before `Target.finish` when the precision quantizes).  Files go into `workdir`."""

    task: Task
    args: argparse.Namespace
    weights: Weights
    baked: nn.Module
    module: nn.Module
    layout: str
    image_size: int
    example_inputs: tuple[torch.Tensor, ...]
    cases: list[ParityCase]
    workdir: Path
    stem: str
    progress: bool = True
    sensitivity: Any = None
    float_reused: bool = False
    converted_from: str | None = None  # sha256 of the weights converted, where not the loaded ones
    converted: nn.Module | None = None  # the model converted, where not the loaded one (`quantize_from`)
    scratch: dict = field(default_factory=dict)  # what a target's steps hand each other within one export

    @property
    def model(self) -> nn.Module:
        return self.weights.model

    @property
    def converted_model(self) -> nn.Module:
        """The `ELIR` the artifact is converted from: `model`, or what `quantize_from` was given."""
        return self.converted if self.converted is not None else self.model

    @property
    def precision(self) -> str:
        return self.args.precision

    @property
    def reference_inputs(self) -> tuple[torch.Tensor, ...]:
        return self.cases[0].inputs

    @property
    def expected(self) -> torch.Tensor:
        return self.cases[0].expected

    def log(self, msg: str) -> None:
        """A progress line on stderr (stdout carries the summary)."""
        if self.progress:
            print(f"[{self.task.name}] {msg}", file=sys.stderr, flush=True)

    @cached_property
    def calibration_nchw(self) -> list[tuple[torch.Tensor, ...]]:
        args = self.args
        self.log(f"calibration: {args.calibration_images} images from "
                 f"{args.calibration_dir or 'scikit-image samples'}, {self.task.degradation} degradation")
        samples = calib.degraded_samples(self.task.degradation, self.image_size, args.calibration_images,
                                         args.seed, args.calibration_dir, progress=self.progress)
        return [self._with_noise(x, args.seed + 1 + i) for i, (_, x) in enumerate(samples)]

    def _with_noise(self, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, ...]:
        if self.baked.noise_mode != "input":
            return (x,)
        return x, calib.latent_noise(tuple(self.baked.example_inputs()[1].shape), self.baked.sigma_s, seed)

    def quantize_from(self, model: nn.Module) -> None:
        """Convert `model` (the same architecture, e.g. with bias-corrected convs) from here on; the parity cases
        keep the original float model's outputs."""
        self.baked = elir_mobile.baked(model, noise=self.args.noise, seed=self.args.seed,
                                       image_size=self.image_size).eval()
        self.module = NHWCAdapter(self.baked).eval() if self.layout == "nhwc" else self.baked
        self.converted_from = state_dict_sha256(model)
        self.converted = model

    def calibration(self, layout: str | None = None) -> list[tuple[torch.Tensor, ...]]:
        """Calibration input tuples (image[, noise]) in `layout` (default: the artifact's): degraded crops of
        the user's ``--calibration-dir`` or scikit-image's shipped photos, seeded by ``--seed``."""
        layout = layout or self.layout
        return [tuple(to_layout(t, layout) for t in b) for b in self.calibration_nchw]


@dataclass
class ExportResult:
    """Paths written (all in the output folder) and the model card as written."""

    artifact: Path
    card_path: Path
    card: dict
    files: list[Path]


def count_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """Multiply-accumulates of one forward pass (torch's flop counter / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(*inputs)
    return counter.get_total_flops() // 2


def parity(expected: np.ndarray, actual: np.ndarray) -> dict:
    """PSNR (dB, peak 1), MSE and max abs error of two outputs, both clamped to [0, 1] first."""
    a = np.clip(np.asarray(expected, dtype=np.float64), 0.0, 1.0)
    b = np.clip(np.asarray(actual, dtype=np.float64), 0.0, 1.0)
    if a.shape != b.shape:
        raise GateFailure(f"runtime output shape {b.shape} != expected {a.shape}")
    if not np.all(np.isfinite(b)):
        raise GateFailure("the artifact's output is not finite (an overflow at reduced precision?); export it at a "
                          "higher precision")
    mse = float(np.mean((a - b) ** 2))
    return {"psnr_db": _mse_to_db(mse), "mse": mse, "max_abs_err": float(np.max(np.abs(a - b)))}


def _mse_to_db(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def prepare_job(target: Target, args: argparse.Namespace, workdir: Path, weights: Weights, *,
                progress: bool = True) -> ExportJob:
    """The baked module in the artifact's layout and the parity cases."""
    task = get_task(args.task)
    model = weights.model
    image_size = args.image_size or model.image_size
    if image_size % 32:
        raise ElirError(f"image size must be a multiple of 32, got {image_size}")
    baked = elir_mobile.baked(model, noise=args.noise, seed=args.seed, image_size=image_size).eval()
    module = NHWCAdapter(baked).eval() if args.layout == "nhwc" else baked
    example = tuple(to_layout(t, args.layout) for t in baked.example_inputs())
    job = ExportJob(task=task, args=args, weights=weights, baked=baked, module=module, layout=args.layout,
                    image_size=image_size, example_inputs=example, cases=[], workdir=workdir,
                    stem=target.artifact_stem(task.name, args), progress=progress)
    seed = args.seed + PARITY_SEED_OFFSET
    samples = calib.degraded_samples(task.degradation, image_size, PARITY_CASES, seed, args.calibration_dir,
                                     progress=False)
    for i, (name, x) in enumerate(samples):
        inputs = tuple(to_layout(t, args.layout) for t in job._with_noise(x, seed + i))
        with torch.no_grad():
            expected = module(*inputs)
        noise = f", noise seed {seed + i}" if baked.noise_mode == "input" else ""
        job.cases.append(ParityCase(f"{name} crop (seed {seed}), {task.degradation} degradation{noise}",
                                    inputs, expected))
    return job


# ---------------------------------------------------------------------------------------------- converting

# The last float program per target, by what decides it: the full-size tests and `export.all` quantize one
# float conversion several times in one process.
_FLOAT_PROGRAMS: dict[str, tuple[str, Any]] = {}


def _float_fingerprint(target: Target, job: ExportJob) -> str | None:
    key = target.float_key(job.args)
    if key is None:
        return None
    b = job.baked
    parts = [target.name, repr(key), job.layout, job.image_size, b.noise_mode, b.K,
             job.converted_from or job.weights.sha256,
             json.dumps(job.model.config, sort_keys=True, default=str)]
    if b.noise_mode == "fixed":
        parts.append(job.args.seed)
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def float_program(target: Target, job: ExportJob) -> Any:
    fingerprint = _float_fingerprint(target, job)
    cached = _FLOAT_PROGRAMS.get(target.name)
    if fingerprint is not None and cached and cached[0] == fingerprint:
        job.float_reused = True
        job.log("reusing this process's float conversion of the same model")
        return cached[1]
    program = target.convert_float(job)
    if fingerprint is not None:
        _FLOAT_PROGRAMS[target.name] = (fingerprint, program)
    return program


def convert(target: Target, job: ExportJob) -> Conversion:
    """The target's float program, the shared sensitivity where the precision quantizes, then `finish` (on the
    float program of the model with the sensitivity's rounded weights and corrected biases, where it has them)."""
    scheme = target.sensitivity_scheme(job.args)
    levels = sensitivity.job_levels(job) if scheme is not None and scheme.rounding else None
    if levels and target.weights_from_float_program:  # the target's quantizer is measured on the rounded weights
        job.quantize_from(sensitivity.rounded(job.model, levels))
    program = float_program(target, job) if scheme is None or target.weights_from_float_program else None
    if scheme is not None:
        job.sensitivity = sensitivity.measure_job(
            job, target_db=_gate(target, job.args)[0] + scheme.margin_db, max_float_share=scheme.max_float_share,
            activations=scheme.activations, cost=scheme.cost,
            replacements=target.measured_weights(job, program) if program is not None else None,
            bias_correction=scheme.bias_correction, levels=levels, keep=scheme.keep)
        if job.sensitivity.bias_correction or job.sensitivity.levels:
            job.log("quantizing the model with rounded weights and corrected biases")
            job.quantize_from(job.sensitivity.corrected(job.model))
            program = None
    return target.finish(job, program if program is not None else float_program(target, job))


def _gate(target: Target, args: argparse.Namespace) -> tuple[float, str, float]:
    """(gate in force, its source, the policy's gate)."""
    policy = target.policy_gate_db(args)
    if args.gate_db is not None:
        return float(args.gate_db), "override", policy
    return policy, "policy", policy


# ---------------------------------------------------------------------------------------------- verifying


def verify(target: Target, job: ExportJob, conv: Conversion, info: RuntimeInfo) -> dict:
    """The card's ``parity`` record: every case run in the target's runtime (unless ``not_run``)."""
    gate, source, policy = _gate(target, job.args)
    record = {"runtime_kind": info.kind, "runtime": info.runtime, "not_run_reason": info.reason, "cases": [],
              "min_psnr_db": None, "mean_psnr_db": None, "max_abs_err": None, "gate_db": gate,
              "gate_source": source, "policy_gate_db": policy, "passed": None}
    if info.kind == "not_run":
        return record
    run = target.load(conv.artifact, threads=PARITY_THREADS)
    results = []
    for case in job.cases:
        result = parity(case.expected.numpy(), run(*(t.numpy() for t in case.inputs)))
        results.append(result)
        record["cases"].append({"input": case.description, "psnr_db": cards.finite_or_none(result["psnr_db"]),
                                "max_abs_err": result["max_abs_err"]})
    worst = min(r["psnr_db"] for r in results)
    record.update(min_psnr_db=cards.finite_or_none(worst),
                  mean_psnr_db=cards.finite_or_none(_mse_to_db(float(np.mean([r["mse"] for r in results])))),
                  max_abs_err=max(r["max_abs_err"] for r in results), passed=bool(worst >= gate))
    return record


# ---------------------------------------------------------------------------------------------- the card


def _write_f32(path: Path, t: torch.Tensor) -> None:
    np.ascontiguousarray(t.detach().cpu().numpy(), dtype="<f4").tofile(path)


FORWARD = {"description": "the whole restoration: image[, noise] -> restored image in [0, 1]"}


def build_card(target: Target, job: ExportJob, conv: Conversion, par: dict, seconds: float, vectors: list[Path],
               macs: int) -> dict:
    names = ["image", "noise"][: len(job.reference_inputs)]
    io = conv.io or [None] * (len(names) + 1)
    sigma = job.baked.sigma_s
    ranges = {"image": (0.0, 1.0), "noise": (-6.0 * sigma, 6.0 * sigma)}
    inputs = [cards.tensor_spec(n, t.shape, job.layout, ranges[n], spec)
              for n, t, spec in zip(names, job.reference_inputs, io)]
    output = cards.tensor_spec("restored", job.expected.shape, job.layout, (0.0, 1.0), io[-1])
    forward = {"inputs": [t["name"] for t in inputs], "outputs": [output["name"]], **FORWARD}
    params = sum(p.numel() for p in {id(p): p for p in job.baked.parameters()}.values())
    layout = job.layout.upper()
    return {
        "schema_version": cards.SCHEMA_VERSION,
        "task": job.task.name,
        "K": job.baked.K,
        "sigma_s": sigma,
        "noise_mode": job.baked.noise_mode,
        "image_size": job.image_size,
        "weights": job.weights.card(),
        "export": {"seed": job.args.seed, "target": target.name,
                   "command": f"python -m export.{target.name} {shlex.join(getattr(job.args, 'argv', []))}".strip(),
                   "conversion_seconds": round(seconds, 2), "reused_float_conversion": job.float_reused},
        "artifact": {"file": conv.artifact.name, "format": target.format, "backend": conv.backend,
                     "precision": job.precision, "compression": conv.compression,
                     "size_bytes": cards.size_of(conv.artifact), "sha256": cards.sha256_of(conv.artifact),
                     "methods": {"forward": forward, **(conv.methods or {})}},
        "inputs": inputs,
        "outputs": [output],
        "parameters": params,
        "macs": macs,
        "parity": par,
        "placement": {"measure": target.placement_measure, "definition": target.placement_definition,
                      **conv.placement},
        "op_audit": conv.op_audit,
        "quantization": conv.quantization,
        "versions": cards.versions(),
        "reference_vectors": {
            "dtype": "float32", "byte_order": "little",
            "inputs": [{"file": p.name, "shape": list(t.shape), "layout": layout}
                       for p, t in zip(vectors[:-1], job.reference_inputs)],
            "output": {"file": vectors[-1].name, "shape": list(job.expected.shape), "layout": layout},
        },
        "runtime_notes": conv.runtime_notes,
    }


def _publish(src: Path, dst: Path) -> None:
    """Move `src` onto `dst` atomically for files; a directory replaces an old one via a rename aside."""
    if dst.is_dir() and not dst.is_symlink():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


def _make_dir(path: Path) -> bool:
    """Create `path` (and parents); True if it did not exist before."""
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ElirError(f"cannot create output folder {path}: {e.strerror}") from None
    return created


def export(target: Target, args: argparse.Namespace, *, config: dict | None = None, checkpoint: Any = None,
           weights: Weights | None = None, progress: bool | None = None) -> ExportResult:
    """Run the whole pipeline (see the module docstring).  Raises ElirError (user error), GateFailure."""
    progress = not args.quiet if progress is None else progress
    out = Path(args.out)
    created = _make_dir(out)
    workdir = Path(tempfile.mkdtemp(prefix=".elir-export-", dir=out))
    try:
        weights = weights or load_weights(args, config, checkpoint)
        job = prepare_job(target, args, workdir, weights, progress=progress)
        job.log(f"baked sampler: K={job.baked.K}, {job.image_size}px, noise={job.baked.noise_mode}, "
                f"layout={job.layout}; converting with {target.name} ({args.precision})")
        macs = count_macs(job.module, job.example_inputs)
        start = time.perf_counter()
        conv = convert(target, job)
        seconds = time.perf_counter() - start
        info = target.runtime(args)
        job.log(f"converted in {seconds:.1f} s; " + (f"checking parity on {len(job.cases)} inputs with "
                                                      f"{info.runtime}" if info.kind != "not_run" else
                                                      f"not run here: {info.reason}"))
        par = verify(target, job, conv, info)
        if par["passed"] is not False:
            target.annotate(job, conv, par)
        vectors = [workdir / f"{job.stem}.input{i}.f32" for i in range(len(job.reference_inputs))]
        vectors.append(workdir / f"{job.stem}.expected.f32")
        for p, t in zip(vectors, [*job.reference_inputs, job.expected]):
            _write_f32(p, t)
        card = cards.validate(build_card(target, job, conv, par, seconds, vectors, macs))
        card_tmp = workdir / f"{job.stem}.json"
        card_tmp.write_text(json.dumps(card, indent=2) + "\n")
        files = [conv.artifact, *conv.extra_files, *vectors, card_tmp]  # the card last: it vouches for the rest
        destination = out
        if par["passed"] is False:
            failure = (f"parity gate failed for {conv.artifact.name}: worst of {len(job.cases)} inputs "
                       f"{par['min_psnr_db']:.2f} dB < {par['gate_db']:g} dB (max abs err {par['max_abs_err']:.3g})")
            if job.sensitivity is not None:
                failure += f"; {job.sensitivity.shortfall(par['min_psnr_db'])}"
                wider = target.wider_variant(args)
                if wider and job.sensitivity.weights_db >= job.sensitivity.target_db:  # else its weights fail too
                    failure += f"; for 16-bit activations try {wider}"
            if args.keep_failed is None:
                raise GateFailure(f"{failure}; nothing written (--keep-failed DIR keeps it for inspection)")
            destination = Path(args.keep_failed)
            _make_dir(destination)
        for f in files:
            _publish(f, destination / f.name)
        if par["passed"] is False:
            raise GateFailure(f"{failure}; kept for inspection in {destination} (its card says passed: false)")
        return ExportResult(artifact=out / conv.artifact.name, card_path=out / card_tmp.name, card=card,
                            files=[out / f.name for f in files])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if created and not any(out.iterdir()):  # a failed first export leaves no empty folder behind
            out.rmdir()


# ---------------------------------------------------------------------------------------------- output


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _db(x: float | None) -> str:
    return "inf" if x is None else f"{x:.2f}"


def summary_rows(result: ExportResult) -> list[tuple[str, str]]:
    c = result.card
    a, par, place = c["artifact"], c["parity"], c["placement"]
    if par["runtime_kind"] == "not_run":
        parity_text = f"NOT RUN here: {par['not_run_reason']}"
    else:
        gate = f"{par['gate_db']:g} dB" + (" (your --gate-db)" if par["gate_source"] == "override" else "")
        parity_text = (f"worst {_db(par['min_psnr_db'])} dB, mean {_db(par['mean_psnr_db'])} dB over "
                       f"{len(par['cases'])} inputs >= {gate}, max abs err {par['max_abs_err']:.3g}; "
                       f"{par['runtime_kind']} runtime: {par['runtime']}")
    rows = [("artifact", str(result.artifact)), ("backend / precision", f"{a['backend']} / {a['precision']}"
                                                 + (f" / {a['compression']}" if a["compression"] else "")),
            ("size", f"{_mb(a['size_bytes'])}  sha256 {a['sha256'][:16]}"),
            ("inputs", ", ".join(f"{i['name']} {i['shape']} {i['layout']} {i['dtype']}" for i in c["inputs"])),
            ("model", f"{c['task']}, K={c['K']}, {c['parameters'] / 1e6:.2f} M params, {c['macs'] / 1e9:.2f} GMAC"),
            ("weights", f"{c['weights']['source']}" + (f" {c['weights']['file']}" if c["weights"]["file"] else "")
             + f", sha256 {c['weights']['sha256'][:16]}"),
            ("parity", parity_text)]
    if place["share"] is not None:
        rows.append((place["measure"].replace("_", " "), f"{100 * place['share']:.2f} %"))
    if len(a["methods"]) > 1:
        rows.append(("methods", ", ".join(a["methods"])))
    rows.append(("conversion", f"{c['export']['conversion_seconds']:.1f} s"))
    rows.append(("written", ", ".join(p.name for p in result.files if p != result.artifact)))
    return rows


def print_summary(result: ExportResult, file=None) -> None:
    rows = summary_rows(result)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}", file=file or sys.stdout)
