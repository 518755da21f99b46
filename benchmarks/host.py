"""Host latency: eager PyTorch against every artifact that has a runtime on this machine.

    python -m benchmarks.host --task sr [--checkpoint PATH | --test-weights | --tiny] [--artifacts DIR]
                              [--threads 2] [--runs 10] [--warmup 2] [--out DIR]

All rows use the same thread count and are timed interleaved (run i of every row before run i + 1 of any), so
machine drift hits them alike; ratios are to eager measured in the same process.  Peak RSS comes from a fresh
child process per row (load + one run), so rows do not inherit each other's memory.  A per-stage breakdown
(encoder, coarse estimator, one U-Net step, decoder) shows where the time goes, for eager and for any .pte that
exports those methods.  The CPU's roof (`benchmarks.roof`: peak fp32 FMA and int8 dot-product GMAC/s, same
threads) is measured in the same run; each row's share of it uses the fp32 roof for float rows and the int8 roof
for integer ones.  The report names the CPU model and its ISA features.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from benchmarks.device.stats import summarize
from elir_mobile.testing import FAMILIES
from benchmarks.roof import cpu_info, describe
from elir_mobile.artifacts import Artifact, find_artifacts, read_card
from elir_mobile.errors import exit_code


def model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that pick the float model (the same meaning as the exporters')."""
    parser.add_argument("--task", required=True)
    parser.add_argument("--checkpoint", type=Path, help="weight file; default: the released weights")
    parser.add_argument("--test-weights", action="store_true", help="full-size random test weights")
    parser.add_argument("--tiny", action="store_true", help="fixture-size architecture with test weights")
    parser.add_argument("--weights-seed", type=int, default=0, help="seed of the --test-weights / --tiny recipe")
    parser.add_argument("--weights-family", choices=FAMILIES, default=FAMILIES[0],
                        help="--test-weights / --tiny values (elir_mobile.testing)")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="seed of the eager model's baked noise and the images")


def run_arguments(parser: argparse.ArgumentParser, runs: int) -> None:
    """The options of a timed run over a folder of artifacts (shared with `benchmarks.profile`)."""
    parser.add_argument("--artifacts", type=Path, help="folder of exported artifacts with model cards")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    parser.add_argument("--verbose", action="store_true", help="also show known-harmless third-party messages")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.host", description=__doc__.split("\n\n")[0])
    model_arguments(parser)
    run_arguments(parser, runs=10)
    parser.add_argument("--no-rss", action="store_true", help="skip the per-row child processes")
    parser.add_argument("--whole-photo", action="store_true",
                        help="add the whole-photo row: detection, alignment, per-face restore, paste-back on a group "
                             "photo (benchmarks.faces; face tasks)")
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # child mode: 'eager' or a card path
    return parser


def float_weights(args: argparse.Namespace):
    """The float model these options name, with its provenance (`export.pipeline.Weights`)."""
    from export.pipeline import load_weights

    return load_weights(argparse.Namespace(**{**vars(args), "noise": "fixed"}))


def float_baked(args: argparse.Namespace, model=None):
    """The eager float baked sampler the artifacts are compared with."""
    import elir_mobile

    model = model if model is not None else float_weights(args).model
    return elir_mobile.baked(model, "fixed", seed=args.seed, image_size=args.image_size).eval()


def eager_runner(baked) -> tuple[Callable, list[np.ndarray]]:
    x = baked.example_inputs()[0]

    def run(image: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return baked(torch.from_numpy(image)).numpy()

    return run, [x.numpy()]


INTEGER_PRECISIONS = {"int8", "dynamic-int8", "int16x8", "int8-mixed-int16"}


def roof_kind(card: dict | None) -> str:
    """Which roof a row is measured against: integer compute (int8 dot products) or float (fp32 FMA)."""
    if card is None:
        return "fp32_fma"
    a = card["artifact"]
    return "int8_dot" if a["precision"] in INTEGER_PRECISIONS or a["compression"] == "w8a8" else "fp32_fma"


def measure_roof(threads: int) -> tuple[dict | None, str | None]:
    """The roof of this run, or None and why not."""
    from benchmarks.roof import RoofUnavailable, measure

    try:
        return measure(threads), None
    except RoofUnavailable as e:
        return None, str(e)


def time_call(fn: Callable, inputs: list[np.ndarray]) -> float:
    start = time.perf_counter()
    fn(*inputs)
    return (time.perf_counter() - start) * 1e3


def stage_breakdown(baked, runs: int) -> dict[str, float]:
    """Median milliseconds of each stage of the eager baked sampler."""
    x = baked.example_inputs()[0]
    with torch.no_grad():
        z_enc = baked.encoder(x)
        z = baked.coarse(z_enc)
        stages = {"encoder": lambda: baked.encoder(x), "coarse": lambda: baked.coarse(z_enc),
                  "unet_step": lambda: baked.step(z, 0), "decoder": lambda: baked.decode(z)}
        out = {}
        for name, fn in stages.items():
            fn()
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - start) * 1e3)
            out[name] = float(np.median(samples))
    out["encode"] = out["encoder"] + out["coarse"]  # what a .pte's encode method does
    out["unet_all_steps"] = out["unet_step"] * baked.K
    return out


def pte_stage_breakdown(artifact: Artifact, runs: int, threads: int) -> dict[str, float] | None:
    """Median ms of the .pte's encode / step_0 / decode methods, where the exporter wrote them."""
    from elir_mobile.runtimes import load_pte, pte_methods

    if not {"encode", "step_0", "decode"} <= set(pte_methods(artifact.path)):
        return None
    encode, step, decode = (load_pte(artifact.path, m, threads) for m in ("encode", "step_0", "decode"))
    inputs = artifact.reference_inputs()
    z = encode(*inputs)
    out = {}
    for name, method, args in (("encode", encode, inputs), ("unet_step", step, [z]), ("decoder", decode, [z])):
        method(*args)
        out[name] = float(np.median([time_call(method, args) for _ in range(runs)]))
    out["unet_all_steps"] = out["unet_step"] * artifact.card["K"]
    return out


def probe(args: argparse.Namespace) -> dict:
    """Child mode: load one row, run it once, report load time and the process's peak RSS."""
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.probe == "eager":
        fn, inputs = eager_runner(float_baked(args))
    else:
        artifact = read_card(args.probe)
        fn, inputs = artifact.load(args.threads), artifact.reference_inputs()
    load_ms = (time.perf_counter() - start) * 1e3
    fn(*inputs)
    return {"load_ms": load_ms, "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.  On Linux, VmHWM from /proc/self/status: ``ru_maxrss`` survives
    fork + exec, so a probe started by a large parent (the benchmark itself) would report the parent's peak."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


def child_rss(argv: list[str], spec: str) -> dict | None:
    cmd = [sys.executable, "-m", "benchmarks.host", *argv, "--probe", spec]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def machine_notes(cpu: dict, formats: list[str]) -> list[str]:
    """What a reader of this machine's table must know to compare its rows.  ExecuTorch 1.5.1's Linux wheel (GCC
    13.3.1) keeps an accumulator of XNNPACK's AVX2 conv kernels on the stack, where LiteRT's clang build does not;
    with AVX-512 other kernels run (README, "ExecuTorch on an AVX2-only CPU")."""
    if "pte" in formats and "avx2" in cpu["isa"] and "avx512f" not in cpu["isa"]:
        return ["without AVX-512, ExecuTorch's pip wheel runs XNNPACK's conv kernels about 2x slower than LiteRT's "
                "build of the same kernels (a register spill by the wheel's compiler; README, \"ExecuTorch on an "
                "AVX2-only CPU\"): the .pte rows do not show what a clang build of ExecuTorch, as on phones, runs"]
    return []


def benchmark(args: argparse.Namespace, argv: list[str]) -> dict:
    torch.set_num_threads(args.threads)
    from export.pipeline import count_macs

    model = float_weights(args).model
    baked = float_baked(args, model)
    eager_fn, eager_inputs = eager_runner(baked)
    macs = count_macs(baked, tuple(torch.from_numpy(a) for a in eager_inputs))
    rows: list[dict] = [{"name": "eager PyTorch", "runtime": f"torch {torch.__version__}", "macs": macs,
                         "fn": eager_fn, "inputs": eager_inputs, "probe": "eager"}]
    skipped = []
    for artifact in find_artifacts(args.artifacts, args.task) if args.artifacts else []:
        reason = artifact.host_runtime_missing()
        if reason:
            skipped.append({"artifact": artifact.name, "reason": reason})
            continue
        start = time.perf_counter()
        fn = artifact.load(args.threads)
        rows.append({"name": artifact.name, "runtime": artifact.card["parity"]["runtime"],
                     "macs": artifact.card.get("macs") or macs, "fn": fn, "inputs": artifact.reference_inputs(),
                     "load_ms": (time.perf_counter() - start) * 1e3, "probe": str(artifact.card_path),
                     "artifact": artifact})
    for row in rows:
        for _ in range(args.warmup):
            row["fn"](*row["inputs"])
    samples = {row["name"]: [] for row in rows}
    for _ in tqdm(range(args.runs), desc="interleaved runs", unit="round", disable=None):
        for row in rows:
            samples[row["name"]].append(time_call(row["fn"], row["inputs"]))
    roof, roof_missing = measure_roof(args.threads)
    eager_median = summarize(samples[rows[0]["name"]])["median"]
    results = []
    for row in rows:
        stats = summarize(samples[row["name"]])
        entry = {"name": row["name"], "runtime": row["runtime"], "threads": args.threads, "ms": stats,
                 "ratio_to_eager": stats["median"] / eager_median,
                 "gmacs_per_s": row["macs"] / stats["median"] / 1e6, "load_ms": row.get("load_ms")}
        kind = roof_kind(row["artifact"].card if "artifact" in row else None)
        ceiling = (roof or {}).get(kind)
        entry["roof"] = kind
        entry["share_of_roof"] = entry["gmacs_per_s"] / ceiling["gmacs"] if ceiling else None
        if not args.no_rss:
            entry.update(child_rss(argv, row["probe"]) or {"peak_rss_mb": None})
        results.append(entry)
    stages = {"eager": stage_breakdown(baked, max(3, args.runs // 2))}
    for row in rows[1:]:
        if row["artifact"].card["artifact"]["format"] == "pte":
            breakdown = pte_stage_breakdown(row["artifact"], max(3, args.runs // 2), args.threads)
            if breakdown:
                stages[row["name"]] = breakdown
    whole_photo = None
    if args.whole_photo:
        from benchmarks.faces import whole_photo_row
        from elir_mobile.tasks import get_task

        whole_photo = whole_photo_row(model, get_task(args.task), threads=args.threads,
                                      runs=max(1, args.runs // 3), seed=args.seed)
    cpu = cpu_info()
    return {"task": args.task, "threads": args.threads, "runs": args.runs, "warmup": args.warmup,
            "whole_photo": whole_photo,
            "image_size": baked.image_size, "macs": macs, "roof": roof, "roof_missing": roof_missing, "rows": results,
            "stages_ms": stages, "skipped": skipped, "torch": torch.__version__,
            "notes": machine_notes(cpu, [row["artifact"].card["artifact"]["format"] for row in rows[1:]]),
            "machine": {"cpu": cpu, "cpu_threads_available": torch.get_num_threads()}}


def to_markdown(report: dict) -> str:
    lines = [f"### Host latency: {report['task']} @ {report['image_size']} px, {report['threads']} threads, "
             f"median of {report['runs']} interleaved runs",
             "", f"CPU: {describe(report['machine']['cpu'])}; model: {report['macs'] / 1e9:.1f} GMAC; "
             + (roof_line(report["roof"]) if report["roof"] else f"roof not measured: {report['roof_missing']}."), "",
             "| row | median ms | p90 ms | min ms | x eager | GMAC/s | % of roof | load ms | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        load = f"{r['load_ms']:.0f}" if r.get("load_ms") is not None else "-"
        rss = f"{r['peak_rss_mb']:.0f}" if r.get("peak_rss_mb") is not None else "-"
        share = "-" if r["share_of_roof"] is None else f"{100 * r['share_of_roof']:.0f}% {r['roof'].split('_')[0]}"
        lines.append(f"| {r['name']} | {r['ms']['median']:.1f} | {r['ms']['p90']:.1f} | {r['ms']['min']:.1f} | "
                     f"{r['ratio_to_eager']:.2f} | {r['gmacs_per_s']:.1f} | {share} | {load} | {rss} |")
    lines += ["", "| stage (median ms) | " + " | ".join(report["stages_ms"]) + " |",
              "|---|" + "---|" * len(report["stages_ms"])]
    names = sorted({k for s in report["stages_ms"].values() for k in s})
    for name in names:
        cells = [f"{s[name]:.1f}" if name in s else "-" for s in report["stages_ms"].values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if report.get("whole_photo"):
        from benchmarks.faces import to_markdown as whole_photo_table

        lines += ["", "Whole photo (float PyTorch, benchmarks.faces):", "", whole_photo_table(report["whole_photo"])]
    for s in report["skipped"]:
        lines.append(f"\nNot timed: {s['artifact']}: {s['reason']}.")
    lines += [f"\nNote: {note}." for note in report["notes"]]
    return "\n".join(lines) + "\n"


def roof_line(roof: dict) -> str:
    fp32, int8 = roof["fp32_fma"], roof["int8_dot"]
    return (f"roof ({roof['threads']} threads, benchmarks.roof): fp32 FMA "
            + (f"{fp32['gmacs']:.1f} GMAC/s ({fp32['kernel']})" if fp32 else "-") + ", int8 dot "
            + (f"{int8['gmacs']:.1f} GMAC/s ({int8['kernel']})." if int8 else "-."))


def publish(report: dict, markdown: str, out: Path, stem: str) -> None:
    """Write `<out>/<stem>.json` and `.md` (each atomically) and print the markdown.  Every report records the CPU
    model and ISA features it was measured on (`machine.cpu`)."""
    from elir_mobile.atomic import write_text

    report.setdefault("machine", {}).setdefault("cpu", cpu_info())
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / f"{stem}.json", json.dumps(report, indent=2))
    write_text(out / f"{stem}.md", markdown)
    print(markdown)


def run(args: argparse.Namespace, argv: list[str]) -> None:
    from elir_mobile import quiet

    quiet.install(verbose=args.verbose)
    if args.probe:
        print(json.dumps(probe(args)))
        return
    report = benchmark(args, argv)
    publish(report, to_markdown(report), args.out, f"host_{args.task}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return exit_code(run, build_parser().parse_args(argv), argv)


if __name__ == "__main__":
    sys.exit(main())
