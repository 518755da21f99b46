"""`python -m benchmarks.device.collate RESULTS... [--out DIR]`: validate benchmark records against
result.schema.json and write one markdown table per device (DIR/<device>.md) plus DIR/collated.json.

RESULTS are record files or directories (searched recursively for *.json).  Every file is validated before
anything is written, so a bad record leaves DIR untouched (one line on stderr, exit 2)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from elir_mobile.errors import ElirError

from . import SCHEMA_VERSION
from .records import load_record

COLUMNS = ("Task", "Artifact", "px", "Noise", "Precision", "Runtime", "Accelerator (req → used)", "Threads", "Load ms",
           "First ms", "Median ms", "p90 ms", "Min ms", "Trim. mean ms", "n", "Peak MB", "PSNR dB", "Parity",
           "Thermal")


def record_paths(results: list[str]) -> list[Path]:
    paths: list[Path] = []
    for item in results:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.json") if q.is_file())
            if not found:
                raise ElirError(f"no *.json records under {p}")
            paths.extend(found)
        elif p.is_file():
            paths.append(p)
        else:
            raise ElirError(f"no such file or directory: {p}")
    return paths


def device_key(device: dict) -> tuple:
    return (device["maker"], device["model"], device["soc"], device["os"], device["os_version"])


def device_slug(device: dict) -> str:
    text = "-".join(device_key(device)).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _ms(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:.1f}"


def _thermal(t: dict | None) -> str:
    if t is None:
        return "?"
    return t["state"] + (f" ({t['temp_c']:.0f}°C)" if t.get("temp_c") is not None else "")


def row(rec: dict) -> dict:
    """The flat summary of one record that both outputs use."""
    a, acc, warm = rec["artifact"], rec["accelerator"], rec["timing"]["warm"]
    fb = acc.get("fallback") or {}
    used = acc["used"] + (" (fallback)" if fb.get("occurred") else "")
    return {
        "task": a["task"], "artifact": a["file"], "sha256": a["sha256"], "image_size": a["image_size"],
        "noise_mode": a["noise_mode"], "precision": a["precision"],
        "backend": a["backend"], "runtime": f"{rec['runtime']['name']} {rec['runtime']['version']}",
        "accelerator": f"{acc['requested']} → {used}", "threads": rec["runtime"]["threads"],
        "load_ms": rec["timing"]["load_ms"], "first_run_ms": rec["timing"]["first_run_ms"],
        "median_ms": warm["median"], "p90_ms": warm["p90"], "min_ms": warm["min"],
        "trimmed_mean_ms": warm["trimmed_mean_10_90"], "n": warm["n"], "peak_mb": rec["memory"]["peak_mb"],
        "memory_metric": rec["memory"]["metric"], "psnr_db": rec["parity"]["psnr_db"],
        "max_abs_err": rec["parity"]["max_abs_err"], "parity_passed": rec["parity"]["passed"],
        "thermal": f"{_thermal(rec['thermal']['before'])} → {_thermal(rec['thermal']['after'])}",
        "harness": f"{rec['harness']['name']} {rec['harness']['version']}", "timestamp": rec["timestamp"],
    }


def markdown(device: dict, rows: list[dict]) -> str:
    title = f"{device['maker']} {device['model']} — {device['soc']}, {device['os']} {device['os_version']}"
    lines = [f"# {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        peak = "–" if r["peak_mb"] is None else f"{r['peak_mb']:.0f} ({r['memory_metric']})"
        cells = [r["task"], f"`{r['artifact']}` {r['sha256'][:8]}", str(r["image_size"]), r["noise_mode"], r["precision"], r["runtime"], r["accelerator"],
                 "–" if r["threads"] is None else str(r["threads"]), _ms(r["load_ms"]), _ms(r["first_run_ms"]),
                 _ms(r["median_ms"]), _ms(r["p90_ms"]), _ms(r["min_ms"]), _ms(r["trimmed_mean_ms"]), str(r["n"]),
                 peak, f"{r['psnr_db']:.1f}", "pass" if r["parity_passed"] else "**FAIL**", r["thermal"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "Times in ms; warm statistics over n timed runs after warm-up (benchmarks/device/stats.py). "
              "Artifact = file name and sha256 prefix from its model card. PSNR against the artifact's reference "
              "vectors."]
    return "\n".join(lines) + "\n"


def collate(paths: list[Path]) -> dict:
    """{slug: {"device": ..., "rows": [...]}} in a stable order."""
    groups: dict[str, dict] = {}
    for path in paths:
        rec = load_record(path)
        slug = device_slug(rec["device"])
        group = groups.setdefault(slug, {"device": rec["device"], "rows": []})
        if device_key(group["device"]) != device_key(rec["device"]):
            raise ElirError(f"{path}: two different devices map to the name {slug!r}")
        group["rows"].append({**row(rec), "source": str(path)})
    for group in groups.values():
        group["rows"].sort(key=lambda r: (r["task"], r["precision"], r["artifact"], r["runtime"], r["accelerator"],
                                          r["threads"] or 0, r["timestamp"]))
    return dict(sorted(groups.items()))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.device.collate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="record files or directories of them")
    parser.add_argument("--out", default="benchmark-tables", help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        groups = collate(record_paths(args.results))
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ElirError(f"--out {out} exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
    except ElirError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for slug, group in groups.items():
        _write_atomic(out / f"{slug}.md", markdown(group["device"], group["rows"]))
    summary = {"schema_version": SCHEMA_VERSION,
               "devices": [{"slug": s, "device": g["device"], "results": g["rows"]} for s, g in groups.items()]}
    _write_atomic(out / "collated.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    n = sum(len(g["rows"]) for g in groups.values())
    print(f"{n} records, {len(groups)} devices -> {out}/ ({', '.join(f'{s}.md' for s in groups)}, collated.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
