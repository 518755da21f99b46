"""The whole-photo row: detection, alignment, per-face restore and paste-back timed separately on a group photo.

`python -m benchmarks.faces --task sr --test-weights` prints it; `benchmarks.host` can add it to its report with
`whole_photo_row(model, task, threads=..., runs=...)`.  The photo is made from scikit-image's astronaut (six
copies of her head at 40-140 px, one rotated 25 degrees, one cut by the border, on a noisy 1280 x 800 canvas), so
the row needs no download and is the same on every machine.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np
import torch


def group_photo() -> tuple[torch.Tensor, list[tuple[float, float]]]:
    """The benchmark's group photo (1, 3, 800, 1280) and where each of its six faces' centres is."""
    from PIL import Image
    from skimage import data

    head = Image.fromarray(data.astronaut()).crop((130, 20, 330, 240))  # face centre at (95, 108) in the crop
    canvas = Image.fromarray(np.random.default_rng(0).normal(120, 30, (800, 1280, 3)).clip(0, 255).astype(np.uint8))
    centres = []
    for x, y, scale, degrees in [(40, 330, 1.0, 0), (360, 80, 0.6, 0), (600, 300, 1.4, 25), (1000, 300, 0.8, -20),
                                 (300, 560, 0.45, 0), (880, -60, 1.0, 0)]:
        size = (round(200 * scale), round(220 * scale))
        rotated = head.resize(size, Image.BICUBIC).rotate(degrees, expand=True, fillcolor=(120, 120, 120))
        canvas.paste(rotated, (x, y))
        offset = np.array([95 * scale - size[0] / 2, 108 * scale - size[1] / 2])
        a = math.radians(-degrees)  # PIL rotates counter-clockwise on screen
        turned = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ offset
        centres.append((x + rotated.width / 2 + turned[0], y + rotated.height / 2 + turned[1]))
    array = np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return torch.from_numpy(np.ascontiguousarray(array))[None], centres


def whole_photo_row(model, task, *, threads: int = 2, runs: int = 3, seed: int = 0) -> dict:
    """Median milliseconds per stage over `runs` passes over the group photo (after one warm-up pass)."""
    from elir_mobile.faces.landmarks import FaceFinder
    from elir_mobile.faces.pipeline import find_faces, restore_photo
    from elir_mobile.restoration import restore_image

    torch.set_num_threads(threads)
    photo, _ = group_photo()
    finder = FaceFinder(threads)

    def restore_face(crop):
        return restore_image(model, crop, task, seed=seed, progress=False)

    stages: dict[str, list[float]] = {"detect": [], "align": [], "restore": [], "paste": []}
    for run in range(runs + 1):
        start = time.perf_counter()
        faces = find_faces(photo, finder)
        detect = time.perf_counter() - start
        result = restore_photo(photo, faces, restore_face, task)
        if run:  # the first pass warms up
            stages["detect"].append(detect)
            for name in ("align", "restore", "paste"):
                stages[name].append(result.seconds[name])
    ms = {name: 1000 * statistics.median(values) for name, values in stages.items()}
    return {"row": f"whole photo ({photo.shape[-1]}x{photo.shape[-2]}, {len(faces)} faces)", "task": task.name,
            "faces": len(faces), "detect_ms": ms["detect"], "align_ms": ms["align"], "restore_ms": ms["restore"],
            "restore_ms_per_face": ms["restore"] / len(faces), "paste_ms": ms["paste"], "total_ms": sum(ms.values()),
            "threads": threads, "runs": runs}


def to_markdown(row: dict) -> str:
    head = "| row | faces | detect ms | align ms | restore ms (per face) | paste ms | total ms |"
    return "\n".join([head, "|---|---|---|---|---|---|---|",
                      f"| {row['row']} | {row['faces']} | {row['detect_ms']:.0f} | {row['align_ms']:.0f} | "
                      f"{row['restore_ms']:.0f} ({row['restore_ms_per_face']:.0f}) | {row['paste_ms']:.0f} | "
                      f"{row['total_ms']:.0f} |"])


def main(argv: list[str] | None = None) -> int:
    from benchmarks.host import float_weights, model_arguments
    from elir_mobile import quiet
    from elir_mobile.errors import exit_code
    from elir_mobile.tasks import get_task

    parser = argparse.ArgumentParser(prog="python -m benchmarks.faces", description=__doc__.split("\n\n")[0])
    model_arguments(parser)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the row as JSON instead of a table")
    args = parser.parse_args(argv)
    quiet.install()

    def command(args):
        row = whole_photo_row(float_weights(args).model, get_task(args.task), threads=args.threads, runs=args.runs,
                              seed=args.seed)
        print(json.dumps(row) if args.json else to_markdown(row))

    return exit_code(command, args)


if __name__ == "__main__":
    raise SystemExit(main())
