"""What a new user's first commands cost: ``--help`` wall time of every command line tool, and what a ``--tiny``
export prints (lines of ours and lines of anything else).

    python -m benchmarks.startup [--runs 5] [--tiny-export] [--out DIR]

Each command runs in a fresh process (median of ``--runs``), so the time includes Python's start and every import
the command does before it answers.  ``--tiny-export`` also runs ``python -m export.<target> --task sr --tiny`` once
per target whose SDK is installed and counts its output lines: ours start with ``[sr]`` on stderr and the summary
on stdout; every other line is third-party output that reached the user.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from elir_mobile.errors import exit_code

COMMANDS = {
    "export.executorch": ["-m", "export.executorch", "--help"],
    "export.coreml": ["-m", "export.coreml", "--help"],
    "export.tflite": ["-m", "export.tflite", "--help"],
    "export.all": ["-m", "export.all", "--help"],
    "elir_mobile": ["-m", "elir_mobile", "--help"],
    "benchmarks.host": ["-m", "benchmarks.host", "--help"],
}
SDKS = {"executorch": "executorch", "coreml": "coremltools", "tflite": "litert_torch"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="fresh processes per command (default: %(default)s)")
    p.add_argument("--tiny-export", action="store_true", help="also count what a --tiny export of each target prints")
    p.add_argument("--out", type=Path, default=Path("out/bench"))
    return p


def help_seconds(argv: list[str], runs: int) -> dict:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, *argv], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": runs}


def tiny_export_lines(target: str) -> dict:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", f"export.{target}", "--task", "sr", "--tiny", "--out", out],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
    err = proc.stderr.splitlines()
    ours = [line for line in err if line.startswith("[sr] ") or line.startswith("error: ")]
    return {"exit_code": proc.returncode, "seconds": seconds, "stdout_lines": len(proc.stdout.splitlines()),
            "stderr_ours": len(ours), "stderr_other": len(err) - len(ours),
            "other_sample": [line[:160] for line in err if line not in ours][:5]}


def run(args: argparse.Namespace) -> None:
    from benchmarks.host import publish

    report = {"python": sys.version.split()[0], "help": {n: help_seconds(a, args.runs) for n, a in COMMANDS.items()}}
    lines = ["### Command start-up", "", f"Fresh process each, median of {args.runs}.", "",
             "| command | --help median s | min s |", "|---|---|---|"]
    lines += [f"| python -m {n} --help | {r['median_s']:.2f} | {r['min_s']:.2f} |" for n, r in report["help"].items()]
    if args.tiny_export:
        report["tiny_export"] = {t: tiny_export_lines(t) for t, sdk in SDKS.items() if importlib.util.find_spec(sdk)}
        lines += ["", "| --tiny export | exit | s | stdout lines | our stderr lines | other stderr lines |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| export.{t} | {r['exit_code']} | {r['seconds']:.0f} | {r['stdout_lines']} | {r['stderr_ours']} "
                  f"| {r['stderr_other']} |" for t, r in report["tiny_export"].items()]
    publish(report, "\n".join(lines) + "\n", args.out, "startup")


def main(argv: list[str] | None = None) -> int:
    return exit_code(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
