"""`python -m elir_mobile restore ...`: restore a photo with the float reference model or an exported artifact.

For the face tasks the input is a whole photo: every face is found, aligned to the FFHQ template, restored and
pasted back (`elir_mobile.faces`); `--aligned` restores an already aligned face crop as it is.  `bsr` restores
the whole image in tiles.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import ElirError, exit_code
from .tasks import TASKS

FACE_OPTIONS = ("faces", "min_face", "upscale", "background", "background_checkpoint", "save_crops")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m elir_mobile", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    restore = sub.add_parser("restore", help="restore a photo with the float PyTorch model or an exported artifact")
    restore.add_argument("--task", required=True, help=f"one of: {', '.join(TASKS)}")
    restore.add_argument("--checkpoint", help="weight file (.pth, .ckpt, .safetensors); default: download "
                         "the released weights into the cache")
    restore.add_argument("--artifact", help="run this exported .pte / .tflite (its model card beside it) in its "
                         "host runtime instead of the float model: what the phone computes")
    restore.add_argument("--input", required=True, help="PNG, JPEG or WebP image")
    restore.add_argument("--output", required=True, help="where to write the result (.png, .jpg, .webp)")
    restore.add_argument("--seed", type=int, default=0, help="seed of the latent noise (default 0)")
    restore.add_argument("--overlap", type=int, default=None,
                         help="pixels shared by neighbouring tiles (default: a quarter of the tile)")
    restore.add_argument("--threads", type=int, default=None, help="CPU threads (PyTorch, LiteRT, ExecuTorch)")
    restore.add_argument("--verbose", action="store_true",
                         help="also show third-party messages known to be harmless (see elir_mobile.quiet)")
    faces = restore.add_argument_group("whole photos (face tasks)")
    faces.add_argument("--aligned", action="store_true",
                       help="the input is an aligned face crop: restore it as it is, without finding faces")
    faces.add_argument("--faces", choices=("all", "largest"), help="which faces to restore (default all)")
    faces.add_argument("--min-face", type=int, metavar="PX", help="smallest face to restore, in pixels across "
                       "(default 32)")
    faces.add_argument("--upscale", type=int, metavar="N", help="write the photo N times larger, faces pasted "
                       "at that scale (default 1)")
    faces.add_argument("--background", choices=("bicubic", "bsr"),
                       help="how the rest of the photo is made: bicubic resize (default) or restored by the bsr "
                       "model in tiles")
    faces.add_argument("--background-checkpoint", help="bsr weight file for --background bsr (default: download)")
    faces.add_argument("--save-crops", metavar="DIR", help="also write each face's aligned input and restored "
                       "crop into DIR")
    return parser


def restore_command(args: argparse.Namespace) -> None:
    import torch

    from .image_io import check_output_path, read_image
    from .tasks import get_task

    task = get_task(args.task)
    check_output_path(args.output)
    whole_photo = not args.aligned and task.name != "bsr"
    given = [f"--{name.replace('_', '-')}" for name in FACE_OPTIONS if getattr(args, name) is not None]
    if given and not whole_photo:
        raise ElirError(f"{', '.join(given)} only apply to whole photos (a face task without --aligned)")
    check_face_options(args)
    image = read_image(args.input)
    if args.threads:
        torch.set_num_threads(args.threads)
    if whole_photo:
        restore_whole_photo(args, task, image)
    else:
        from .image_io import write_image
        from .restoration import restore_image

        result = restore_image(restorer(args, task), image, task, seed=args.seed, overlap=args.overlap)
        write_image(result, args.output)
        print(f"wrote {args.output} ({result.shape[-1]}x{result.shape[-2]})")


def check_face_options(args: argparse.Namespace) -> None:
    """Fail before any work on a whole-photo option that cannot be used."""
    for name in ("min_face", "upscale"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ElirError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(args, name)}")
    if args.background_checkpoint and args.background != "bsr":
        raise ElirError("--background-checkpoint is the bsr model of --background bsr; pass both or neither")
    if args.save_crops and not Path(args.save_crops).is_dir():
        raise ElirError(f"--save-crops directory {args.save_crops} does not exist; create it first")


def restorer(args: argparse.Namespace, task):
    """The float model or, with --artifact, the artifact in its host runtime (same call for `restore_image`)."""
    if args.artifact:
        from .artifacts import card_for
        from .restoration import ArtifactModel

        return ArtifactModel(card_for(args.artifact), task, threads=args.threads or 2)
    from .api import load_model

    return load_model(task.name, args.checkpoint)


def restore_whole_photo(args: argparse.Namespace, task, image) -> None:
    """Find the faces first (a photo without one fails in a second), then load the model and restore them."""
    from .api import load_model
    from .faces.landmarks import FaceFinder
    from .faces.pipeline import find_faces, restore_photo
    from .image_io import write_image
    from .restoration import restore_image

    faces = find_faces(image, FaceFinder(threads=args.threads or 2), min_face=args.min_face or 32,
                       which=args.faces or "all")
    model = restorer(args, task)

    def restore_face(crop):
        return restore_image(model, crop, task, seed=args.seed, overlap=args.overlap, progress=False)

    background = None
    if args.background == "bsr":
        bsr_model = load_model("bsr", args.background_checkpoint)

        def background(photo):
            return restore_image(bsr_model, photo, TASKS["bsr"], seed=args.seed, overlap=args.overlap)

    result = restore_photo(image, faces, restore_face, task, upscale=args.upscale or 1, background=background)
    if args.save_crops:
        for i, crop in enumerate(result.crops):
            write_image(crop.aligned, Path(args.save_crops) / f"face{i:02d}_aligned.png")
            write_image(crop.restored, Path(args.save_crops) / f"face{i:02d}_restored.png")
    write_image(result.image, args.output)
    sizes = ", ".join(f"{face.width:.0f}" for face in faces)
    print(f"wrote {args.output} ({result.image.shape[-1]}x{result.image.shape[-2]}): {len(faces)} "
          f"face{'s' if len(faces) != 1 else ''} restored ({sizes} px wide)")


def main(argv: list[str] | None = None) -> int:
    from . import quiet

    args = build_parser().parse_args(argv)
    quiet.install(verbose=args.verbose)
    return exit_code(restore_command, args)
