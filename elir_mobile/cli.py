"""`python -m elir_mobile restore ...`: restore one image with the float reference model."""

from __future__ import annotations

import argparse

from .errors import exit_code
from .tasks import TASKS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m elir_mobile", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    restore = sub.add_parser("restore", help="restore an image with the float PyTorch model")
    restore.add_argument("--task", required=True, help=f"one of: {', '.join(TASKS)}")
    restore.add_argument("--checkpoint", help="weight file (.pth, .ckpt, .safetensors); default: download "
                         "the released weights into the cache")
    restore.add_argument("--input", required=True, help="PNG, JPEG or WebP image")
    restore.add_argument("--output", required=True, help="where to write the result (.png, .jpg, .webp)")
    restore.add_argument("--seed", type=int, default=0, help="seed of the latent noise (default 0)")
    restore.add_argument("--overlap", type=int, default=None,
                         help="pixels shared by neighbouring tiles (default: a quarter of the tile)")
    restore.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    return parser


def restore_command(args: argparse.Namespace) -> None:
    import torch

    from .api import load_model
    from .image_io import check_output_path, read_image, write_image
    from .restoration import restore_image
    from .tasks import get_task

    task = get_task(args.task)
    check_output_path(args.output)
    image = read_image(args.input)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(task.name, args.checkpoint)
    result = restore_image(model, image, task, seed=args.seed, overlap=args.overlap)
    write_image(result, args.output)
    print(f"wrote {args.output} ({result.shape[-1]}x{result.shape[-2]})")


def main(argv: list[str] | None = None) -> int:
    return exit_code(restore_command, build_parser().parse_args(argv))
