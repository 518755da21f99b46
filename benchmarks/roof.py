"""This CPU's roof: its model and the ISA features that matter, and the peak fp32 FMA and int8 dot-product
throughput measured by the native microbenchmark `benchmarks/roof` (built with CMake on first use).

    python -m benchmarks.roof [--threads 2] [--seconds 1]

A torch matmul is not a roof: it reaches a fraction of the FMA units (on an AVX2 machine it read below what LiteRT
reached on the whole model).  `elir_roof` runs independent FMA / dot-product chains on register-resident data, so
what it reports is what the cores can retire; `benchmarks.host` divides each row's GMAC/s by it (fp32 rows by the
fp32 roof, integer rows by the int8 one).  Every benchmark JSON records `cpu_info()` beside its figures, because
runtimes rank differently on different ISAs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from elir_mobile.errors import ElirError, exit_code

SOURCE = Path(__file__).resolve().parent / "roof"
# The features that decide which kernels a runtime can use (x86-64, then arm64 names as /proc/cpuinfo has them).
ISA_FEATURES = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
                "amx_bf16", "asimd", "asimddp", "i8mm", "sve", "sme")


class RoofUnavailable(ElirError):
    """The microbenchmark cannot be built or run here (no CMake or C++ compiler)."""


@lru_cache(maxsize=1)
def cpu_info() -> dict:
    """CPU model, architecture, logical CPUs and which of `ISA_FEATURES` it has (Linux /proc/cpuinfo; elsewhere
    what the platform module says)."""
    model, flags = platform.processor() or "unknown", set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "hardware", "cpu model") and model in ("unknown", "", platform.machine()):
                model = value.strip()
            elif key in ("flags", "features"):
                flags |= set(value.split())
    return {"model": model, "arch": platform.machine(), "logical_cpus": os.cpu_count(),
            "isa": [f for f in ISA_FEATURES if f in flags]}


def describe(info: dict) -> str:
    """One line for a table caption: model, arch and ISA features."""
    return f"{info['model']} ({info['arch']}; {', '.join(info['isa']) or 'no listed SIMD features'})"


def build() -> Path:
    """The elir_roof binary, built once per source version into the temp dir (CMake, Release)."""
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise RoofUnavailable(f"the roof microbenchmark needs {tool}, which is not on PATH "
                                  "(Debian: apt-get install cmake g++)")
    digest = hashlib.sha256()
    for f in sorted(SOURCE.iterdir()):
        digest.update(f.name.encode() + f.read_bytes())
    build_dir = Path(tempfile.gettempdir()) / f"elir_roof-{digest.hexdigest()[:12]}"
    binary = build_dir / "elir_roof"
    if not binary.is_file():
        for cmd in (["cmake", "-S", str(SOURCE), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release"],
                    ["cmake", "--build", str(build_dir)]):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RoofUnavailable(f"building the roof microbenchmark failed: {proc.stderr.strip()[-300:]}")
    return binary


def measure(threads: int, seconds: float = 1.0) -> dict:
    """{"threads", "fp32_fma": {"kernel", "gmacs"} | None, "int8_dot": ... | None, "cpu": cpu_info()}."""
    proc = subprocess.run([str(build()), "--threads", str(threads), "--seconds", str(seconds)],
                          capture_output=True, text=True, timeout=60 + 10 * seconds)
    if proc.returncode != 0:
        raise RoofUnavailable(f"elir_roof failed: {proc.stderr.strip()}")
    result = json.loads(proc.stdout)
    result.pop("checksum", None)
    return {**result, "cpu": cpu_info()}


def to_markdown(roof: dict) -> str:
    def cell(entry):
        return "-" if entry is None else f"{entry['gmacs']:.1f} ({entry['kernel']})"

    return (f"### CPU roof: {describe(roof['cpu'])}\n\n| threads | fp32 FMA GMAC/s | int8 dot GMAC/s |\n"
            f"|---|---|---|\n| {roof['threads']} | {cell(roof['fp32_fma'])} | {cell(roof['int8_dot'])} |\n")


def run(args: argparse.Namespace) -> None:
    from benchmarks.host import publish

    roof = measure(args.threads, args.seconds)
    publish(roof, to_markdown(roof), args.out, f"roof_{args.threads}t")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.roof", description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=1.0, help="per kernel (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("out/bench"))
    return exit_code(run, p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
