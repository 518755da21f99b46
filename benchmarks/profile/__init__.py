"""Per-layer time of one model under eager PyTorch, ExecuTorch and LiteRT, side by side.

    python -m benchmarks.profile --task sr [--checkpoint PATH | --test-weights | --tiny] --artifacts DIR
                                 [--threads 2] [--runs 5] [--warmup 2] [--out DIR]

Each runtime times its own operators with its own profiler: eager with `torch.profiler` (`eager`), a .pte with
ETDump read by ExecuTorch's Inspector (`executorch`), a .tflite with LiteRT's op profiler (`litert`).  The
convolutions are named after the eager model's layers (`layers`), so one row is one conv layer in every column
(summed over its calls: a U-Net layer runs once per step), grouped by network part with each part's remaining
operators in one row.  A second table ranks each runtime's non-convolution operators by time, where layout
changes and normalisation show up.  Times are medians over `--runs` profiled calls; profiling adds overhead, so
compare columns with each other and use `benchmarks.host` for end-to-end latency.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from elir_mobile.errors import exit_code

from .layers import PARTS, Profile, name_convs, table

TOP_OTHER_OPS = 8


def build_parser() -> argparse.ArgumentParser:
    from benchmarks.host import model_arguments, run_arguments

    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n\n")[0])
    model_arguments(parser)
    run_arguments(parser, runs=5)
    return parser


def profile_artifact(artifact, args: argparse.Namespace) -> Profile:
    inputs = artifact.reference_inputs()
    if artifact.format == "pte":
        from .executorch import profile_pte

        return profile_pte(artifact.path, inputs, args.runs, args.warmup, args.threads)
    from .litert import profile_tflite

    return profile_tflite(artifact.path, inputs, args.runs, args.warmup, args.threads)


def other_ops(profile: Profile) -> list[tuple[str, float]]:
    """The runtime's non-convolution operators by kind, most time first."""
    totals = Counter()
    for op in profile.ops:
        if not op.conv:
            totals[op.name] += op.ms
    return totals.most_common(TOP_OTHER_OPS)


def run_profiles(args: argparse.Namespace) -> dict:
    import torch

    from benchmarks.host import eager_runner, float_baked
    from benchmarks.roof import cpu_info
    from elir_mobile.artifacts import find_artifacts

    from .eager import profile_eager

    torch.set_num_threads(args.threads)
    baked = float_baked(args)
    _, eager_inputs = eager_runner(baked)
    eager = profile_eager(baked, eager_inputs, args.runs, args.warmup)
    columns, names, skipped = [eager], ["eager"], []
    for artifact in find_artifacts(args.artifacts, args.task) if args.artifacts else []:
        if artifact.format in ("pte", "tflite"):
            reason = artifact.host_runtime_missing()
        else:
            reason = f"no host profiler for {artifact.format} (Core ML profiles in Xcode Instruments)"
        if reason:
            skipped.append({"artifact": artifact.name, "reason": reason})
            continue
        columns.append(name_convs(eager.ops, profile_artifact(artifact, args)))
        names.append(artifact.name)
    calls = Counter(op.layer for op in eager.ops if op.conv)
    return {"task": args.task, "threads": args.threads, "runs": args.runs, "image_size": baked.image_size,
            "columns": names, "runtimes": [c.runtime for c in columns], "notes": [n for c in columns for n in c.notes],
            "rows": table(columns, calls), "other_ops": [other_ops(c) for c in columns], "skipped": skipped,
            "torch": torch.__version__, "machine": {"cpu": cpu_info()}}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def to_markdown(report: dict) -> str:
    from benchmarks.roof import describe

    names = report["columns"]
    lines = [f"### Per-layer time: {report['task']} @ {report['image_size']} px, {report['threads']} threads, "
             f"median of {report['runs']} profiled runs", "", f"CPU: {describe(report['machine']['cpu'])}.", "",
             *(f"- {name}: {runtime}" for name, runtime in zip(names, report["runtimes"])), "",
             "| part | layer | calls | " + " | ".join(f"{n} ms" for n in names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    for row in report["rows"]:
        bold = row["layer"].endswith("total") or row["part"] is None
        cells = [_ms(v) for v in row["ms"]]
        layer = f"**{row['layer']}**" if bold else row["layer"]
        cells = [f"**{c}**" for c in cells] if bold else cells
        part = PARTS.get(row["part"], "") if row["part"] is not None else ""
        lines.append(f"| {part} | {layer} | {row['calls'] or ''} | " + " | ".join(cells) + " |")
    lines += ["", "Operators other than convolutions, by kind (ms per forward):", "",
              "| rank | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for rank in range(TOP_OTHER_OPS):
        cells = [f"{ops[rank][0]}: {ops[rank][1]:.2f}" if rank < len(ops) else "" for ops in report["other_ops"]]
        lines.append(f"| {rank + 1} | " + " | ".join(cells) + " |")
    lines += [f"\nNote: {n}." for n in report["notes"]]
    lines += [f"\nNot profiled: {s['artifact']}: {s['reason']}." for s in report["skipped"]]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> None:
    from benchmarks.host import publish
    from elir_mobile import quiet

    quiet.install(verbose=args.verbose)
    report = run_profiles(args)
    publish(report, to_markdown(report), args.out, f"profile_{args.task}")


def main(argv: list[str] | None = None) -> int:
    return exit_code(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
