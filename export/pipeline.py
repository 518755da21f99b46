"""The export pipeline every target shares; a target only supplies a `Backend`.

``python -m export.<target> --task T [...]`` calls `main(backend)`, which:

1. parses the common options (`build_parser`) plus the backend's own (`Backend.add_arguments`);
2. builds the baked sampler (`elir_mobile.baked`) from the task and checkpoint, optionally NHWC-wrapped;
3. makes the reference inputs (a degraded photo crop, seeded noise) and the eager float reference output;
4. calls `Backend.convert(job)`, which writes its artifact into ``job.workdir`` (asking ``job.calibration()`` for
   calibration batches when it quantizes);
5. runs the artifact in the target's real runtime (`Backend.run`) on the reference inputs, computes PSNR and max
   abs error against the eager reference and enforces `Backend.gate_db` (failure: `GateFailure`, exit 1, nothing
   kept);
6. writes the artifact, extra files, reference vectors and the model card into ``--out`` (temp dir in the same
   folder, then ``os.replace``; the card last), and prints a summary table.

Programmatic use (tests, notebooks): ``export(backend, parse_args(backend, argv), config=cfg, checkpoint=sd)``
exports an in-memory model without touching the network.  From the command line, ``--test-weights`` (full-size
recipe weights) and ``--tiny`` (fixture-size architecture) do the same for users without weight files.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

import elir_mobile
from elir_mobile.baked_sampler import NOISE_MODES
from elir_mobile.errors import ElirError
from elir_mobile.tasks import TASKS, Task, get_task

from . import calibration as calib
from .card import SCHEMA_VERSION, finite_or_none, sha256_of, size_of, tensor_spec, versions

LAYOUTS = ("nchw", "nhwc")


class GateFailure(Exception):
    """The artifact's output differs from the eager float model by more than its precision allows (exit 1)."""


class RuntimeUnavailable(Exception):
    """The target's runtime cannot execute the artifact on this machine (e.g. Core ML on Linux, a phone GPU).

    The card then records why in ``runtime_notes`` and the parity figures as null: never a faked run."""


@dataclass
class Conversion:
    """What `Backend.convert` returns: the artifact (inside ``job.workdir``) and what the card says about it."""

    artifact: Path
    backend: str                                   # card "artifact.backend", e.g. "xnnpack", "mlprogram"
    op_placement: dict
    op_audit: dict                                 # {"op_counts": {...}, "flagged": [...]}
    quantization: dict | None = None               # per-layer choices, or None for float artifacts
    compression: str | None = None
    extra_files: list[Path] = field(default_factory=list)  # e.g. a BundledProgram, also inside job.workdir
    runtime_notes: str = ""


class Backend:
    """One export target.  Subclasses set the class attributes and implement `convert` and `run`."""

    name = "base"              # the module name: python -m export.<name>
    format = ""                # card "artifact.format": pte | mlpackage | tflite
    suffix = ""                # artifact file suffix, with the dot
    runtime = ""               # what `run` executes the artifact with, for the card
    precisions: tuple[str, ...] = ("fp32",)
    layouts: tuple[str, ...] = ("nchw",)
    description = ""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add target-specific options (the common ones are already there)."""

    def validate(self, args: argparse.Namespace) -> None:
        """Reject unusable option combinations early (raise ElirError), before any model is built."""

    def artifact_stem(self, task: str, args: argparse.Namespace) -> str:
        """File name without suffix; the card and reference vectors share it."""
        return f"elir_{task}_{args.precision}"

    def gate_db(self, precision: str) -> float:
        """Minimum PSNR (dB) of the artifact's output against the eager float output."""
        raise NotImplementedError

    def needs_calibration(self, args: argparse.Namespace) -> bool:
        return args.precision == "int8"

    def convert(self, job: "ExportJob") -> Conversion:
        raise NotImplementedError

    def load(self, artifact: Path, threads: int = 2) -> Callable[..., np.ndarray]:
        """The artifact loaded once in the target's real runtime with `threads` CPU threads: a callable from
        float32 inputs (the artifact's layout) to its float32 output.  Benchmarks time these calls; raise
        `RuntimeUnavailable` where it cannot run here."""
        raise RuntimeUnavailable(f"no {self.format} runtime on this machine")

    def run(self, artifact: Path, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """The artifact's output for `inputs` from the target's real runtime (see `load`)."""
        return self.load(artifact)(*inputs)


class NHWCAdapter(nn.Module):
    """Channels-last view of a baked sampler: inputs (N, H, W, C) in, (N, H, W, 3) out."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.inner(*(t.permute(0, 3, 1, 2) for t in inputs)).permute(0, 2, 3, 1)


def to_layout(t: torch.Tensor, layout: str) -> torch.Tensor:
    return t.permute(0, 2, 3, 1).contiguous() if layout == "nhwc" else t.contiguous()


@dataclass
class ExportJob:
    """Everything a backend's `convert` may use.

    `module` is the float eager model in the artifact's layout (its inputs: `example_inputs`); `baked` is the
    underlying NCHW `BakedSampler` (encode / step / decode / euler) for backends that export its pieces.
    `reference_inputs` / `expected` are the parity vectors (artifact layout).  Files go into `workdir`."""

    task: Task
    args: argparse.Namespace
    model: nn.Module
    baked: nn.Module
    module: nn.Module
    layout: str
    image_size: int
    example_inputs: tuple[torch.Tensor, ...]
    reference_inputs: tuple[torch.Tensor, ...]
    expected: torch.Tensor
    workdir: Path
    stem: str
    progress: bool = True

    @property
    def precision(self) -> str:
        return self.args.precision

    def log(self, msg: str) -> None:
        """A progress line on stderr (stdout carries the summary)."""
        if self.progress:
            print(f"[{self.task.name}] {msg}", file=sys.stderr, flush=True)

    @cached_property
    def calibration_nchw(self) -> list[tuple[torch.Tensor, ...]]:
        return _calibration_batches(self, "nchw")

    def calibration(self, layout: str | None = None) -> list[tuple[torch.Tensor, ...]]:
        """Calibration input tuples (image[, noise]) in `layout` (default: the artifact's): degraded crops of
        the user's ``--calibration-dir`` or scikit-image's shipped photos, seeded by ``--seed``."""
        batches = self.calibration_nchw
        layout = layout or self.layout
        return batches if layout == "nchw" else [tuple(to_layout(t, layout) for t in b) for b in batches]


def _calibration_batches(job: ExportJob, layout: str) -> list[tuple[torch.Tensor, ...]]:
    args = job.args
    job.log(f"calibration: {args.calibration_images} images from "
            f"{args.calibration_dir or 'scikit-image samples'}, {job.task.degradation} degradation")
    images = calib.degraded_images(job.task.degradation, job.image_size, args.calibration_images, args.seed,
                                   args.calibration_dir, progress=job.progress)
    batches = []
    for i, x in enumerate(images):
        inputs = (x,)
        if job.baked.noise_mode == "input":
            inputs += (calib.latent_noise(_noise_shape(job.baked), job.baked.sigma_s, args.seed + 1 + i),)
        batches.append(tuple(to_layout(t, layout) for t in inputs))
    return batches


def _noise_shape(baked) -> tuple[int, ...]:
    return tuple(baked.example_inputs()[1].shape)


@dataclass
class ExportResult:
    """Paths written (all in ``--out``) and the model card as written."""

    artifact: Path
    card_path: Path
    card: dict
    files: list[Path]


# ---------------------------------------------------------------------------------------------- arguments


def build_parser(backend: Backend) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m export.{backend.name}", description=backend.description or None,
        epilog="Without --checkpoint the task's released weights are used (downloaded once). "
               "--test-weights / --tiny need no weight file: random weights made by the fixtures' recipe, "
               "for trying the exporter (they check arithmetic, not restoration quality).")
    p.add_argument("--task", required=True, choices=sorted(TASKS), help="which released configuration")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--checkpoint", type=Path, help="weights file (.pth, .ckpt or .safetensors)")
    w.add_argument("--test-weights", action="store_true",
                   help="full-size seeded test weights (fixtures README recipe) instead of a checkpoint")
    w.add_argument("--tiny", action="store_true",
                   help="the small fixture architecture with test weights (64 px by default): a quick try")
    p.add_argument("--precision", choices=backend.precisions, default=backend.precisions[0])
    p.add_argument("--noise", choices=NOISE_MODES, default="fixed",
                   help="input: the artifact takes the latent noise as its 2nd input; fixed: one baked seeded "
                        "noise tensor; zero: no noise (default: %(default)s)")
    p.add_argument("--layout", choices=backend.layouts, default=backend.layouts[0],
                   help="tensor layout of the artifact's inputs and output (default: %(default)s)")
    p.add_argument("--image-size", type=int, help="fixed input size N x N, a multiple of 32 (default: the task's)")
    p.add_argument("--calibration-dir", type=Path,
                   help="folder of clean images for calibration (default: scikit-image's sample photos)")
    p.add_argument("--calibration-images", type=int, default=16, help="calibration crops (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed for crops, degradations and noise")
    p.add_argument("--out", type=Path, default=Path("artifacts"), help="output folder (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress output (the summary is still printed)")
    backend.add_arguments(p)
    return p


def parse_args(backend: Backend, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate; bad values raise ElirError (argparse's own usage errors exit 2 as usual)."""
    args = build_parser(backend).parse_args(argv)
    if args.image_size is not None and (args.image_size <= 0 or args.image_size % 32):
        raise ElirError(f"--image-size must be a positive multiple of 32, got {args.image_size}")
    if args.calibration_images < 1:
        raise ElirError("--calibration-images must be at least 1")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise ElirError(f"checkpoint {args.checkpoint} does not exist")
    if args.calibration_dir is not None and not args.calibration_dir.is_dir():
        raise ElirError(f"--calibration-dir {args.calibration_dir} is not a directory")
    backend.validate(args)
    return args


# ---------------------------------------------------------------------------------------------- the pipeline


def load_for_export(args: argparse.Namespace, config: dict | None = None, checkpoint: Any = None):
    """The ELIR model the options ask for (in-memory `config` + `checkpoint` win over the CLI flags)."""
    from elir_mobile.testing import make_test_weights, tiny_config

    task = get_task(args.task)
    if config is not None:
        return elir_mobile.load_model(config=config, checkpoint=checkpoint)
    if args.tiny:
        cfg = tiny_config(args.image_size or 64)
        cfg.update(K=task.K, sigma_s=task.sigma_s)
        return elir_mobile.load_model(config=cfg, checkpoint=make_test_weights(cfg, seed=args.seed))
    if args.test_weights:
        return elir_mobile.load_model(task.name, checkpoint=make_test_weights(task.name, seed=args.seed))
    return elir_mobile.load_model(task.name, checkpoint=args.checkpoint)


def count_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """Multiply-accumulates of one forward pass (torch's flop counter / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(*inputs)
    return counter.get_total_flops() // 2


def parity(expected: np.ndarray, actual: np.ndarray) -> dict:
    """PSNR (dB, peak 1) and max abs error of two outputs, both clamped to [0, 1] first."""
    a = np.clip(np.asarray(expected, dtype=np.float64), 0.0, 1.0)
    b = np.clip(np.asarray(actual, dtype=np.float64), 0.0, 1.0)
    if a.shape != b.shape:
        raise GateFailure(f"runtime output shape {b.shape} != expected {a.shape}")
    mse = float(np.mean((a - b) ** 2))
    return {"psnr_db": math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse),
            "max_abs_err": float(np.max(np.abs(a - b)))}


def prepare_job(backend: Backend, args: argparse.Namespace, workdir: Path, *, config: dict | None = None,
                checkpoint: Any = None, progress: bool = True) -> ExportJob:
    """Build the model, the baked module in the artifact's layout and the parity reference."""
    task = get_task(args.task)
    model = load_for_export(args, config, checkpoint)
    image_size = args.image_size or model.image_size
    if image_size % 32:
        raise ElirError(f"image size must be a multiple of 32, got {image_size}")
    baked = elir_mobile.baked(model, noise=args.noise, seed=args.seed, image_size=image_size).eval()
    module = NHWCAdapter(baked).eval() if args.layout == "nhwc" else baked
    example = tuple(to_layout(t, args.layout) for t in baked.example_inputs())
    ref = calib.degraded_images(task.degradation, image_size, 1, args.seed + 10_000, args.calibration_dir,
                                progress=False)[0]
    ref_inputs = (ref,)
    if args.noise == "input":
        ref_inputs += (calib.latent_noise(_noise_shape(baked), baked.sigma_s, args.seed + 10_000),)
    ref_inputs = tuple(to_layout(t, args.layout) for t in ref_inputs)
    with torch.no_grad():
        expected = module(*ref_inputs)
    return ExportJob(task=task, args=args, model=model, baked=baked, module=module, layout=args.layout,
                     image_size=image_size, example_inputs=example, reference_inputs=ref_inputs,
                     expected=expected, workdir=workdir, stem=backend.artifact_stem(task.name, args),
                     progress=progress)


def _write_f32(path: Path, t: torch.Tensor) -> None:
    np.ascontiguousarray(t.detach().cpu().numpy(), dtype="<f4").tofile(path)


def _build_card(backend: Backend, job: ExportJob, conv: Conversion, par: dict | None, gate: float,
                seconds: float, vectors: list[Path], macs: int, notes: str) -> dict:
    names = ["image", "noise"][: len(job.reference_inputs)]
    inputs = [tensor_spec(n, t.shape, job.layout) for n, t in zip(names, job.reference_inputs)]
    output = tensor_spec("restored", job.expected.shape, job.layout)
    params = sum(p.numel() for p in {id(p): p for p in job.baked.parameters()}.values())
    return {
        "schema_version": SCHEMA_VERSION,
        "task": job.task.name,
        "K": job.baked.K,
        "sigma_s": job.baked.sigma_s,
        "noise_mode": job.baked.noise_mode,
        "image_size": job.image_size,
        "artifact": {"file": conv.artifact.name, "format": backend.format, "backend": conv.backend,
                     "precision": job.precision, "compression": conv.compression,
                     "size_bytes": size_of(conv.artifact), "sha256": sha256_of(conv.artifact)},
        "inputs": inputs,
        "outputs": [output],
        "parameters": params,
        "macs": macs,
        "parity": {"psnr_db": finite_or_none(par["psnr_db"]) if par else None,
                   "max_abs_err": par["max_abs_err"] if par else None,
                   "gate_db": gate, "runtime": backend.runtime, "passed": True if par else None},
        "op_placement": conv.op_placement,
        "op_audit": conv.op_audit,
        "quantization": conv.quantization,
        "conversion_seconds": round(seconds, 2),
        "versions": versions(),
        "reference_vectors": {
            "dtype": "float32", "byte_order": "little",
            "inputs": [{"file": p.name, "shape": list(t.shape), "layout": job.layout.upper()}
                       for p, t in zip(vectors[:-1], job.reference_inputs)],
            "output": {"file": vectors[-1].name, "shape": list(job.expected.shape), "layout": job.layout.upper()},
        },
        "runtime_notes": notes,
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


def refuse_foreign_card(card: Path, artifact: str) -> None:
    """Targets share file stems (``elir_sr_fp16`` is a Core ML and a LiteRT name): never let one export overwrite
    the model card and reference vectors of another target's artifact in the same folder."""
    import json

    if not card.is_file():
        return
    try:
        owner = json.loads(card.read_text()).get("artifact", {}).get("file")
    except (ValueError, UnicodeDecodeError, AttributeError):
        owner = None
    if owner and owner != artifact:
        raise ElirError(f"{card} is the model card of {owner}; writing {artifact} there would replace it: "
                        f"export into another --out folder")


def export(backend: Backend, args: argparse.Namespace, *, config: dict | None = None, checkpoint: Any = None,
           progress: bool | None = None) -> ExportResult:
    """Run the whole pipeline (see the module docstring).  Raises ElirError (user error), GateFailure."""
    import json

    progress = not args.quiet if progress is None else progress
    out = Path(args.out)
    stem = backend.artifact_stem(args.task, args)
    refuse_foreign_card(out / f"{stem}.json", f"{stem}{backend.suffix}")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ElirError(f"cannot create output folder {out}: {e.strerror}") from None
    workdir = Path(tempfile.mkdtemp(prefix=".elir-export-", dir=out))
    try:
        job = prepare_job(backend, args, workdir, config=config, checkpoint=checkpoint, progress=progress)
        job.log(f"baked sampler: K={job.baked.K}, {job.image_size}px, noise={job.baked.noise_mode}, "
                f"layout={job.layout}; converting with {backend.name} ({args.precision})")
        macs = count_macs(job.module, job.example_inputs)
        start = time.perf_counter()
        conv = backend.convert(job)
        seconds = time.perf_counter() - start
        job.log(f"converted in {seconds:.1f} s; checking parity with {backend.runtime}")
        gate = backend.gate_db(args.precision)
        notes = conv.runtime_notes
        try:
            actual = backend.run(conv.artifact, [t.numpy() for t in job.reference_inputs])
            par = parity(job.expected.numpy(), actual)
        except RuntimeUnavailable as e:
            par, notes = None, " ".join(filter(None, [notes, f"not run here: {e}"]))
        if par is not None and not par["psnr_db"] >= gate:
            raise GateFailure(f"parity gate failed for {conv.artifact.name}: PSNR {par['psnr_db']:.2f} dB < "
                              f"{gate} dB (max abs err {par['max_abs_err']:.3g}); nothing written")
        vectors = [workdir / f"{job.stem}.input{i}.f32" for i in range(len(job.reference_inputs))]
        vectors.append(workdir / f"{job.stem}.expected.f32")
        for p, t in zip(vectors, [*job.reference_inputs, job.expected]):
            _write_f32(p, t)
        card = _build_card(backend, job, conv, par, gate, seconds, vectors, macs, notes)
        card_tmp = workdir / f"{job.stem}.json"
        card_tmp.write_text(json.dumps(card, indent=2) + "\n")
        files = [conv.artifact, *conv.extra_files, *vectors, card_tmp]  # the card last: it vouches for the rest
        for f in files:
            _publish(f, out / f.name)
        return ExportResult(artifact=out / conv.artifact.name, card_path=out / card_tmp.name, card=card,
                            files=[out / f.name for f in files])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if created and not any(out.iterdir()):  # a failed first export leaves no empty folder behind
            out.rmdir()


# ---------------------------------------------------------------------------------------------- output


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def summary_rows(result: ExportResult) -> list[tuple[str, str]]:
    c = result.card
    a, par = c["artifact"], c["parity"]
    if par["passed"] is None:
        parity_text = "not run on this machine (see runtime_notes)"
    else:
        psnr = "inf" if par["psnr_db"] is None else f"{par['psnr_db']:.2f}"
        parity_text = f"{psnr} dB >= {par['gate_db']} dB, max abs err {par['max_abs_err']:.3g} ({par['runtime']})"
    rows = [("artifact", str(result.artifact)), ("backend / precision", f"{a['backend']} / {a['precision']}"),
            ("size", f"{_mb(a['size_bytes'])}  sha256 {a['sha256'][:16]}"),
            ("inputs", ", ".join(f"{i['name']} {i['shape']} {i['layout']}" for i in c["inputs"])),
            ("model", f"{c['task']}, K={c['K']}, {c['parameters'] / 1e6:.2f} M params, {c['macs'] / 1e9:.2f} GMAC"),
            ("parity", parity_text)]
    share = c["op_placement"].get("delegated_mac_share")
    if share is not None:
        rows.append(("delegated MACs", f"{100 * share:.2f} %"))
    rows.append(("conversion", f"{c['conversion_seconds']:.1f} s"))
    rows += [("written", ", ".join(p.name for p in result.files if p != result.artifact))]
    return rows


def print_summary(result: ExportResult, file=None) -> None:
    rows = summary_rows(result)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}", file=file or sys.stdout)


def main(backend: Backend, argv: Sequence[str] | None = None) -> int:
    """CLI entry point: 0 = written, 1 = parity gate failed (nothing kept), 2 = user error (one line)."""
    import signal

    # `timeout` / a CI runner stop with SIGTERM: exit through `export`'s finally so no temp folder is left.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        args = parse_args(backend, argv)
        result = export(backend, args)
    except GateFailure as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ElirError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_summary(result)
    return 0
