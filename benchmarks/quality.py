"""Restoration quality of the float model and every artifact on a folder of images.

    python -m benchmarks.quality --task TASK (--checkpoint PATH | --test-weights | --tiny)
                                 (--images HQ_DIR | --sample-images | --lq LQ_DIR --hq HQ_DIR)
                                 [--artifacts DIR] [--out DIR]

With ``--images`` (or ``--sample-images``: the photos scikit-image ships, for a check without any data), each
high-quality image is centre-cropped and resized to the model's size and degraded with
the task's degradation (seeded: the same LQ every run).  With ``--lq``/``--hq``, pre-degraded pairs with the
same file names are used.  Every output is scored with PSNR and SSIM (scikit-image) against the ground truth and
against the float model's output, per artifact, with the drop from float.  LPIPS needs pretrained network
weights that cannot be fetched here, so it is reported as skipped.  A side-by-side grid (LQ, float, each
artifact, HQ) of the first images is saved, because people would rather look than read.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from tqdm import tqdm

import elir_mobile
from elir_mobile.artifacts import Artifact, find_artifacts
from benchmarks.host import model_arguments, publish
from elir_mobile.atomic import write_bytes
from elir_mobile.degradations import degrade
from elir_mobile.errors import ElirError, exit_code
from elir_mobile.image_io import read_image
from elir_mobile.restoration import prepare_input
from elir_mobile.tasks import get_task

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
LPIPS_NOTE = "skipped: LPIPS needs pretrained network weights, which are not available offline here"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0])
    model_arguments(parser)
    parser.add_argument("--images", type=Path, help="folder of high-quality images to degrade")
    parser.add_argument("--sample-images", action="store_true",
                        help="degrade scikit-image's bundled sample photos instead (offline, no folder needed)")
    parser.add_argument("--lq", type=Path, help="folder of low-quality inputs (pairs with --hq)")
    parser.add_argument("--hq", type=Path, help="folder of ground truths, same file names as --lq")
    parser.add_argument("--artifacts", type=Path, help="folder of exported artifacts with model cards")
    parser.add_argument("--limit", type=int, default=None, help="use at most this many images")
    parser.add_argument("--grid", type=int, default=4, help="images shown in the side-by-side grid")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("out/quality"))
    parser.add_argument("--verbose", action="store_true", help="also show known-harmless third-party messages")
    return parser


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ElirError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ElirError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return files


def square(image: torch.Tensor, size: int) -> torch.Tensor:
    """Centre-crop to a square and resize to `size` (antialiased bicubic), (1, 3, size, size)."""
    h, w = image.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = image[..., top:top + s, left:left + s]
    return F.interpolate(crop, size=(size, size), mode="bicubic", antialias=True).clamp(0, 1)


def pairs(args: argparse.Namespace, task, size: int) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, model input LQ, ground truth), each (1, 3, size, size)."""
    if args.images or args.sample_images:
        if args.sample_images:
            from export.calibration import source_images

            sources = [(f"{name}.png", image[None]) for name, image in source_images(None)[: args.limit]]
        else:
            sources = [(path.name, read_image(path)) for path in image_files(args.images)[: args.limit]]
        out = []
        for i, (name, image) in enumerate(sources):
            hq = square(image, size)
            lq = degrade(task.degradation, hq[0], np.random.default_rng(args.seed + i), size)[None]
            out.append((name, lq, hq))
        return out
    if not (args.lq and args.hq):
        raise ElirError("pass --images HQ_DIR, --sample-images, or --lq LQ_DIR with --hq HQ_DIR")
    out = []
    for path in image_files(args.lq)[: args.limit]:
        gt = args.hq / path.name
        if not gt.is_file():
            raise ElirError(f"{path.name} has no ground truth in {args.hq}")
        lq = square(prepare_input(read_image(path), task), size)
        out.append((path.name, lq, square(read_image(gt), size)))
    return out


def scores(output: np.ndarray, target: np.ndarray) -> dict:
    """PSNR (dB) and SSIM of two (3, H, W) images in [0, 1]."""
    a, b = np.clip(output, 0, 1).transpose(1, 2, 0), np.clip(target, 0, 1).transpose(1, 2, 0)
    return {"psnr": float(peak_signal_noise_ratio(b, a, data_range=1.0)),
            "ssim": float(structural_similarity(b, a, channel_axis=-1, data_range=1.0))}


class FloatReference:
    """Eager float baked samplers, one per (noise mode, seed) an artifact was exported with."""

    def __init__(self, model, image_size: int):
        self.model, self.image_size, self.cache = model, image_size, {}

    def baked(self, noise: str, seed: int):
        key = (noise, seed)
        if key not in self.cache:
            self.cache[key] = elir_mobile.baked(self.model, noise, seed=seed, image_size=self.image_size).eval()
        return self.cache[key]

    def noise(self, seed: int) -> torch.Tensor:
        return self.baked("fixed", seed).noise

    def __call__(self, lq: torch.Tensor, seed: int) -> np.ndarray:
        with torch.no_grad():
            return self.baked("fixed", seed)(lq)[0].numpy()


def artifact_inputs(artifact: Artifact, lq: torch.Tensor, noise: torch.Tensor) -> list[np.ndarray]:
    """The LQ image (and the shared noise where the artifact takes it) in the artifact's layout."""
    tensors = [lq] + ([noise] if artifact.card["noise_mode"] == "input" else [])
    layout = artifact.card["inputs"][0]["layout"]
    return [(t.permute(0, 2, 3, 1) if layout == "NHWC" else t).contiguous().numpy() for t in tensors]


def artifact_output(artifact: Artifact, y: np.ndarray) -> np.ndarray:
    return y[0].transpose(2, 0, 1) if artifact.card["outputs"][0]["layout"] == "NHWC" else y[0]


def grid(rows: list[list[tuple[str, np.ndarray]]], path: Path) -> None:
    """One row per image, one labelled column per source."""
    size = rows[0][0][1].shape[-1]
    label_h = 14
    canvas = Image.new("RGB", (size * len(rows[0]), (size + label_h) * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        for c, (label, img) in enumerate(row):
            tile = Image.fromarray((np.clip(img, 0, 1).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8))
            canvas.paste(tile, (c * size, r * (size + label_h) + label_h))
            draw.text((c * size + 2, r * (size + label_h)), label[: size // 6], fill="black")
    encoded = io.BytesIO()
    canvas.save(encoded, format="PNG")
    write_bytes(path, encoded.getvalue())


def evaluate(args: argparse.Namespace) -> tuple[dict, list]:
    from benchmarks.host import float_weights

    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    weights = float_weights(args)
    size = args.image_size or weights.model.image_size
    reference = FloatReference(weights.model, size)
    artifacts, skipped = [], []
    for artifact in find_artifacts(args.artifacts, task.name) if args.artifacts else []:
        reason = artifact.host_runtime_missing() or (
            None if artifact.card["image_size"] == size else f"exported for {artifact.card['image_size']} px") or (
            None if artifact.card["weights"]["sha256"] == weights.sha256 or weights.sha256_of != artifact.card[
                "weights"]["sha256_of"] else "exported from other weights than the float model compared here")
        if reason:
            skipped.append({"artifact": artifact.name, "reason": reason})
        else:
            artifacts.append((artifact, artifact.load(args.threads)))
    per_image, grid_rows = [], []
    for name, lq, hq in tqdm(pairs(args, task, size), desc="images", unit="img", disable=None):
        float_out = reference(lq, args.seed)
        entry = {"image": name, "lq": scores(lq[0].numpy(), hq[0].numpy()),
                 "float": scores(float_out, hq[0].numpy()), "artifacts": {}}
        row = [("LQ", lq[0].numpy()), ("float", float_out)]
        for artifact, run in artifacts:
            ref = reference.baked(artifact.card["noise_mode"], artifact.card["export"]["seed"])
            noise = ref.noise if artifact.card["noise_mode"] == "fixed" else reference.noise(args.seed)
            out = artifact_output(artifact, run(*artifact_inputs(artifact, lq, noise)))
            with torch.no_grad():
                same_noise_float = (ref(lq, noise) if artifact.card["noise_mode"] == "input" else ref(lq))[0].numpy()
            entry["artifacts"][artifact.name] = {"vs_hq": scores(out, hq[0].numpy()),
                                                 "vs_float": scores(out, same_noise_float)}
            row.append((artifact.label, out))
        row.append(("HQ", hq[0].numpy()))
        per_image.append(entry)
        if len(grid_rows) < args.grid:
            grid_rows.append(row)
    return summarize(task.name, size, per_image, skipped, [a.name for a, _ in artifacts]), grid_rows


def summarize(task: str, size: int, per_image: list[dict], skipped: list, names: list[str]) -> dict:
    def mean(values):
        return float(np.mean(values))

    summary = {"lq": {m: mean([e["lq"][m] for e in per_image]) for m in ("psnr", "ssim")},
               "float": {m: mean([e["float"][m] for e in per_image]) for m in ("psnr", "ssim")}, "artifacts": {}}
    for name in names:
        vs_hq = {m: mean([e["artifacts"][name]["vs_hq"][m] for e in per_image]) for m in ("psnr", "ssim")}
        vs_float = {m: mean([e["artifacts"][name]["vs_float"][m] for e in per_image]) for m in ("psnr", "ssim")}
        summary["artifacts"][name] = {"vs_hq": vs_hq, "vs_float": vs_float,
                                      "drop_from_float": {m: summary["float"][m] - vs_hq[m] for m in vs_hq}}
    return {"task": task, "image_size": size, "images": len(per_image), "lpips": LPIPS_NOTE,
            "summary": summary, "per_image": per_image, "skipped": skipped}


def to_markdown(report: dict) -> str:
    s = report["summary"]
    lines = [f"### Quality: {report['task']} @ {report['image_size']} px, {report['images']} images", "",
             "| output | PSNR vs HQ | SSIM vs HQ | PSNR drop from float | SSIM drop | PSNR vs float | SSIM vs float |",
             "|---|---|---|---|---|---|---|",
             f"| degraded input | {s['lq']['psnr']:.2f} | {s['lq']['ssim']:.4f} | | | | |",
             f"| float PyTorch | {s['float']['psnr']:.2f} | {s['float']['ssim']:.4f} | 0 | 0 | | |"]
    for name, a in s["artifacts"].items():
        lines.append(f"| {name} | {a['vs_hq']['psnr']:.2f} | {a['vs_hq']['ssim']:.4f} | "
                     f"{a['drop_from_float']['psnr']:.2f} | {a['drop_from_float']['ssim']:.4f} | "
                     f"{a['vs_float']['psnr']:.2f} | {a['vs_float']['ssim']:.4f} |")
    lines.append(f"\nLPIPS: {report['lpips']}.")
    for sk in report["skipped"]:
        lines.append(f"Not evaluated: {sk['artifact']}: {sk['reason']}.")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> None:
    from elir_mobile import quiet

    quiet.install(verbose=args.verbose)
    report, rows = evaluate(args)
    if rows:
        args.out.mkdir(parents=True, exist_ok=True)
        grid(rows, args.out / f"quality_{args.task}_grid.png")
    publish(report, to_markdown(report), args.out, f"quality_{args.task}")


def main(argv: list[str] | None = None) -> int:
    return exit_code(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
