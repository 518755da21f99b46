"""Export the default artifact set of every target, benchmark them, and write one report.

    python -m export.all --task TASK [--checkpoint PATH | --test-weights | --tiny]
                         [--targets executorch,coreml,tflite] [--out DIR] [--threads 2] [--runs 10]

Writes the artifacts with their model cards into ``--out``/<target>/ and ``REPORT.md`` + ``report.json`` into
``--out``: one row per artifact with size, precision, parity PSNR against the float model, delegated share of
MACs, host latency and ratio to eager (where a host runtime exists) and conversion time.  Every number is read
from the model cards and the host benchmark run, never typed in.  An artifact that fails its parity gate is
reported, not kept.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from elir_mobile.atomic import write_text
from elir_mobile.checkpoint import to_file_keys
from elir_mobile.errors import ElirError, exit_code

from .pipeline import GateFailure, export, load_for_export, parse_args

# The default set per target: the float artifact and the int8 variant of each.
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
    p.add_argument("--targets", default=",".join(DEFAULT_VARIANTS),
                   help="comma-separated subset of: %(default)s")
    p.add_argument("--image-size", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("artifacts"))
    p.add_argument("--threads", type=int, default=2, help="threads of the host benchmark")
    p.add_argument("--runs", type=int, default=10, help="timed runs per row of the host benchmark")
    p.add_argument("--quiet", action="store_true")
    return p


def weight_flags(args: argparse.Namespace) -> list[str]:
    if args.checkpoint:
        return ["--checkpoint", str(args.checkpoint)]
    return ["--test-weights"] if args.test_weights else ["--tiny"] if args.tiny else []


def export_all(args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    """Cards of the artifacts written, and the failures (target, variant, reason)."""
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in DEFAULT_VARIANTS]
    if unknown:
        raise ElirError(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(DEFAULT_VARIANTS)}")
    common = ["--task", args.task, "--seed", str(args.seed), *weight_flags(args)]
    if args.image_size:
        common += ["--image-size", str(args.image_size)]
    if args.quiet:
        common.append("--quiet")
    # Load the weights once; every export gets the same in-memory model.
    first = importlib.import_module(f"export.{targets[0]}").BACKEND
    model = load_for_export(parse_args(first, common + ["--out", str(args.out)]))
    state = to_file_keys(model.state_dict())
    cards, failures = [], []
    for target in targets:
        backend = importlib.import_module(f"export.{target}").BACKEND
        # One folder per target: Core ML and LiteRT share file stems (elir_<task>_fp16.json).
        target_out = ["--out", str(args.out / target)]
        for variant in DEFAULT_VARIANTS[target]:
            try:
                result = export(backend, parse_args(backend, common + target_out + variant),
                                config=model.config, checkpoint=state)
                cards.append(result.card)
            except (GateFailure, ElirError) as exc:
                failures.append({"target": target, "variant": " ".join(variant), "reason": str(exc)})
    return cards, failures


def host_rows(args: argparse.Namespace) -> dict:
    """The host benchmark report of everything in ``--out`` (eager first, then one row per artifact)."""
    from benchmarks import host

    argv = ["--task", args.task, "--artifacts", str(args.out), "--threads", str(args.threads),
            "--runs", str(args.runs), "--seed", str(args.seed), "--out", str(args.out), *weight_flags(args)]
    if args.image_size:
        argv += ["--image-size", str(args.image_size)]
    return host.benchmark(host.build_parser().parse_args(argv), argv)


def report_rows(cards: list[dict], bench: dict) -> list[dict]:
    timed = {r["name"]: r for r in bench["rows"]}
    rows = []
    for card in cards:
        a, par = card["artifact"], card["parity"]
        t = timed.get(a["file"])
        rows.append({
            "artifact": a["file"], "format": a["format"], "backend": a["backend"], "precision": a["precision"],
            "compression": a.get("compression"), "size_mb": a["size_bytes"] / 1e6,
            "parity_psnr_db": par["psnr_db"], "parity_runtime": par["runtime"], "gate_db": par["gate_db"],
            "delegated_mac_share": card["op_placement"].get("delegated_mac_share"),
            "host_median_ms": t["ms"]["median"] if t else None,
            "ratio_to_eager": t["ratio_to_eager"] if t else None,
            "conversion_seconds": card["conversion_seconds"],
            "runtime_notes": card.get("runtime_notes", ""),
        })
    return rows


def to_markdown(task: str, rows: list[dict], failures: list[dict], bench: dict) -> str:
    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    eager = bench["rows"][0]
    lines = [f"# ELIR {task}: release matrix", "",
             f"Host: {bench['threads']} threads, median of {bench['runs']} interleaved runs; eager PyTorch "
             f"{eager['ms']['median']:.1f} ms ({bench['image_size']} px, {bench['macs'] / 1e9:.1f} GMAC).", "",
             "| artifact | precision | size MB | parity PSNR dB (gate) | delegated MACs | host ms | x eager | convert s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        precision = r["precision"] + (f" + {r['compression']}" if r["compression"] not in (None, "none") else "")
        psnr = "not run here" if r["parity_psnr_db"] is None and r["runtime_notes"] else \
            ("inf" if r["parity_psnr_db"] is None else f"{r['parity_psnr_db']:.1f}")
        share = fmt(None if r["delegated_mac_share"] is None else 100 * r["delegated_mac_share"], ".1f")
        lines.append(f"| {r['artifact']} | {precision} | {r['size_mb']:.1f} | {psnr} ({r['gate_db']}) | "
                     f"{share}{'%' if share != '-' else ''} | {fmt(r['host_median_ms'], '.1f')} | "
                     f"{fmt(r['ratio_to_eager'], '.2f')} | {r['conversion_seconds']:.1f} |")
    for f in failures:
        lines.append(f"\nFailed: {f['target']} {f['variant']}: {f['reason']}")
    for s in bench["skipped"]:
        lines.append(f"\nNot timed: {s['artifact']}: {s['reason']}.")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    cards, failures = export_all(args)
    bench = host_rows(args)
    rows = report_rows(cards, bench)
    write_text(args.out / "report.json", json.dumps({"task": args.task, "rows": rows, "failures": failures,
                                                     "host": bench}, indent=2))
    markdown = to_markdown(args.task, rows, failures, bench)
    write_text(args.out / "REPORT.md", markdown)
    print(markdown)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    return exit_code(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
