"""Export the default artifact set of every target and write one report of what was written.

    python -m export.all --task TASK [--checkpoint PATH | --test-weights | --tiny]
                         [--targets executorch,coreml,tflite] [--out DIR]

Every artifact, its card and reference vectors go into ``--out`` (file names say the target, so nothing clashes);
``REPORT.md`` and ``report.json`` list one row per artifact with size, precision, parity (which runtime, worst and
mean PSNR against the float model over the parity inputs, the gate), placement and conversion time, all read from
the validated model cards.  A variant that fails its gate or whose SDK is missing is reported, not kept.  Host
latency is the benchmarks' job: ``python -m benchmarks.host --task TASK --artifacts DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from elir_mobile.errors import ElirError, exit_code
from elir_mobile.testing import FAMILIES

from . import registry
from .cli import parse_args
from .target import GateFailure

# The default set per target: the float artifact and the integer / compressed variant of each.
DEFAULT_VARIANTS = {
    "executorch": [["--precision", "fp32"], ["--precision", "int8"]],
    "coreml": [["--precision", "fp16"], ["--precision", "fp16", "--compress", "int8"]],
    "tflite": [["--precision", "fp32"], ["--precision", "fp16"], ["--precision", "int8"]],
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m export.all", description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True)
    w = p.add_mutually_exclusive_group()
    w.add_argument("--checkpoint", type=Path, help="weights file (.pth, .ckpt or .safetensors)")
    w.add_argument("--test-weights", action="store_true", help="full-size seeded random test weights")
    w.add_argument("--tiny", action="store_true", help="the small fixture architecture with test weights")
    p.add_argument("--weights-seed", type=int, default=0, help="seed of the --test-weights / --tiny recipe")
    p.add_argument("--weights-family", choices=FAMILIES, default=FAMILIES[0],
                   help="--test-weights / --tiny values (elir_mobile.testing)")
    p.add_argument("--targets", default=",".join(DEFAULT_VARIANTS), help="comma-separated subset of: %(default)s")
    p.add_argument("--image-size", type=int)
    p.add_argument("--seed", type=int, default=0, help="export seed (calibration, parity inputs, baked noise)")
    p.add_argument("--out", type=Path, default=Path("artifacts"))
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--verbose", action="store_true", help="also show known-harmless third-party messages")
    return p


def common_flags(args: argparse.Namespace) -> list[str]:
    flags = ["--task", args.task, "--seed", str(args.seed), "--weights-seed", str(args.weights_seed),
             "--weights-family", args.weights_family,
             "--out", str(args.out)]
    if args.checkpoint:
        flags += ["--checkpoint", str(args.checkpoint)]
    elif args.test_weights or args.tiny:
        flags.append("--test-weights" if args.test_weights else "--tiny")
    if args.image_size:
        flags += ["--image-size", str(args.image_size)]
    return flags + (["--quiet"] if args.quiet else []) + (["--verbose"] if args.verbose else [])


def export_all(args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    """Cards of the artifacts written, and what was not written (target, variant, reason)."""
    from .pipeline import export, load_weights

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in DEFAULT_VARIANTS]
    if unknown:
        raise ElirError(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(DEFAULT_VARIANTS)}")
    cards, failures, weights = [], [], None
    for name in targets:
        target = registry.get(name)
        try:
            target.require_sdk()
        except ElirError as exc:
            failures.append({"target": name, "variant": "all", "reason": str(exc)})
            continue
        for variant in DEFAULT_VARIANTS[name]:
            options = parse_args(target, common_flags(args) + variant)
            weights = weights or load_weights(options)  # one model for every export
            try:
                cards.append(export(target, options, weights=weights).card)
            except (GateFailure, ElirError) as exc:
                failures.append({"target": name, "variant": " ".join(variant), "reason": str(exc)})
    return cards, failures


def report_rows(cards: list[dict]) -> list[dict]:
    rows = []
    for card in cards:
        a, par, place = card["artifact"], card["parity"], card["placement"]
        rows.append({
            "artifact": a["file"], "target": card["export"]["target"], "backend": a["backend"],
            "precision": a["precision"], "compression": a["compression"], "size_mb": a["size_bytes"] / 1e6,
            "parity_runtime_kind": par["runtime_kind"], "parity_runtime": par["runtime"],
            "min_psnr_db": par["min_psnr_db"], "mean_psnr_db": par["mean_psnr_db"], "gate_db": par["gate_db"],
            "parity_cases": len(par["cases"]), "placement_measure": place["measure"],
            "placement_share": place["share"], "conversion_seconds": card["export"]["conversion_seconds"],
        })
    return rows


def to_markdown(task: str, rows: list[dict], failures: list[dict]) -> str:
    def db(row, key):
        return "inf" if row[key] is None else f"{row[key]:.1f}"

    lines = [f"# ELIR {task}: release matrix", "",
             "Parity: worst / mean PSNR (dB) against the eager float model over the parity inputs, and which "
             "runtime produced it (real: the target's runtime; emulated: a stated substitute). Placement: each "
             "target's one measure (see the card's placement.definition).", "",
             "| artifact | precision | size MB | parity worst / mean dB (gate) | runtime | placement | convert s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        precision = r["precision"] + (f" + {r['compression']}" if r["compression"] else "")
        parity = ("not run here" if r["parity_runtime_kind"] == "not_run" else
                  f"{db(r, 'min_psnr_db')} / {db(r, 'mean_psnr_db')} ({r['gate_db']:g})")
        share = "-" if r["placement_share"] is None else f"{100 * r['placement_share']:.1f}% {r['placement_measure']}"
        lines.append(f"| {r['artifact']} | {precision} | {r['size_mb']:.1f} | {parity} | {r['parity_runtime_kind']} "
                     f"| {share} | {r['conversion_seconds']:.1f} |")
    for f in failures:
        lines.append(f"\nNot written: {f['target']} {f['variant']}: {f['reason']}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from elir_mobile import quiet
    from elir_mobile.atomic import write_text

    quiet.install(verbose=args.verbose)
    cards, failures = export_all(args)
    rows = report_rows(cards)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "report.json", json.dumps({"task": args.task, "rows": rows, "failures": failures},
                                                    indent=2))
    markdown = to_markdown(args.task, rows, failures)
    write_text(args.out / "REPORT.md", markdown)
    print(markdown)
    print(f"Time them on this host: python -m benchmarks.host --task {args.task} --artifacts {args.out}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    return exit_code(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
