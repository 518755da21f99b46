"""The command line every target shares: ``python -m export.<target> --task T [...]``.

Parsing imports no SDK and no torch, so ``--help`` and option errors answer at once; the export itself
(`export.pipeline`) loads them.  Exit codes: 0 written, 1 parity gate failed (nothing kept unless
``--keep-failed``), 2 a user error or a missing SDK (one ``error:`` line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from elir_mobile.errors import ElirError
from elir_mobile.tasks import NOISE_MODES, TASKS
from elir_mobile.testing import FAMILIES

from .target import GateFailure, Target


def build_parser(target: Target) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m export.{target.name}", description=target.description or None,
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
    p.add_argument("--weights-seed", type=int, default=0,
                   help="seed of the --test-weights / --tiny recipe (default: %(default)s)")
    p.add_argument("--weights-family", choices=FAMILIES, default=FAMILIES[0],
                   help="--test-weights / --tiny values: the fixtures' Gaussian recipe, or trained-like "
                        "(heavy tails, 10x channel-scale spread; elir_mobile.testing) (default: %(default)s)")
    p.add_argument("--precision", choices=target.precisions, default=target.precisions[0])
    p.add_argument("--noise", choices=NOISE_MODES, default="fixed",
                   help="input: the artifact takes the latent noise as its 2nd input; fixed: one baked seeded "
                        "noise tensor; zero: no noise (default: %(default)s)")
    p.add_argument("--layout", choices=target.layouts, default=target.layouts[0],
                   help="tensor layout of the artifact's inputs and output (default: %(default)s)")
    p.add_argument("--image-size", type=int, help="fixed input size N x N, a multiple of 32 (default: the task's)")
    p.add_argument("--calibration-dir", type=Path,
                   help="folder of clean images for calibration and parity (default: scikit-image's sample photos)")
    p.add_argument("--calibration-images", type=int, default=target.default_calibration_images,
                   help="calibration crops (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="export seed: calibration crops, degradations, parity inputs and the baked noise "
                        "(default: %(default)s)")
    p.add_argument("--gate-db", type=float,
                   help="your own parity gate in dB instead of the policy's (export.gates); recorded in the card")
    p.add_argument("--keep-failed", type=Path, metavar="DIR",
                   help="if the parity gate fails, keep the artifact and its card (marked failed) in DIR")
    p.add_argument("--out", type=Path, default=Path("artifacts"), help="output folder (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress output (the summary is still printed)")
    p.add_argument("--verbose", action="store_true",
                   help="also show third-party messages known to be harmless (see elir_mobile.quiet)")
    target.add_arguments(p)
    return p


def parse_args(target: Target, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate; bad values raise ElirError (argparse's own usage errors exit 2 as usual)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(target).parse_args(argv)
    args.argv = argv
    if args.image_size is not None and (args.image_size <= 0 or args.image_size % 32):
        raise ElirError(f"--image-size must be a positive multiple of 32, got {args.image_size}")
    if args.calibration_images < 1:
        raise ElirError("--calibration-images must be at least 1")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise ElirError(f"checkpoint {args.checkpoint} does not exist")
    if args.calibration_dir is not None and not args.calibration_dir.is_dir():
        raise ElirError(f"--calibration-dir {args.calibration_dir} is not a directory")
    if args.gate_db is not None and not 0 < args.gate_db < 200:
        raise ElirError(f"--gate-db must be a PSNR in dB between 0 and 200, got {args.gate_db}")
    if args.keep_failed is not None and args.keep_failed.resolve() == args.out.resolve():
        raise ElirError("--keep-failed must be another folder than --out (a failed artifact is never published)")
    target.validate(args)
    return args


def main(target: Target | str, argv: Sequence[str] | None = None) -> int:
    """``python -m export.<target>``: parse, silence known third-party noise, export, print the summary."""
    import signal

    from elir_mobile import quiet

    from . import registry

    target = registry.get(target) if isinstance(target, str) else target
    # `timeout` / a CI runner stop with SIGTERM: exit through the pipeline's cleanup so no temp folder is left.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        args = parse_args(target, argv)
        quiet.install(verbose=args.verbose)
        target.require_sdk()
        from .pipeline import export, print_summary

        result = export(target, args)
    except GateFailure as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ElirError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_summary(result)
    return 0
