"""The native runner `elir_bench` (benchmarks/device/native): built with CMake against the pip wheel's ExecuTorch
package, run on a fixture-size .pte exported by the real pipeline, its record checked against the schema and its
parity against the card's gate.

The CMake build directory is kept between runs (ELIR_BENCH_BUILD_DIR, default under the system temp dir) so
only changed sources recompile."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("executorch", reason='elir_bench builds against ExecuTorch: pip install "elir-mobile[executorch]"')

from benchmarks.device import collate  # noqa: E402
from benchmarks.device.records import validation_errors  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NATIVE = REPO / "benchmarks" / "device" / "native"


def _executorch_prefix() -> Path:
    import executorch

    return Path(executorch.__path__[0])


@pytest.fixture(scope="module")
def build_dir() -> Path:
    prefix = _executorch_prefix()
    # One build folder per checkout and interpreter: CMake refuses a cache made from another source folder.
    key = hashlib.sha256(f"{prefix}|{sys.executable}|{NATIVE}".encode()).hexdigest()[:12]
    build = Path(os.environ.get("ELIR_BENCH_BUILD_DIR") or Path(tempfile.gettempdir()) / f"elir_bench-build-{key}")
    for cmd in (["cmake", "-S", str(NATIVE), "-B", str(build), f"-DCMAKE_PREFIX_PATH={prefix}",
                 "-DCMAKE_BUILD_TYPE=Release"],
                ["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return build


@pytest.fixture(scope="module")
def tiny_pte(tmp_path_factory) -> Path:
    """A fixture-size XNNPACK fp32 .pte (32 px, one Euler step, noise as the second input, so the runner's
    two-input path is exercised) with its card and reference vectors, from the shared export pipeline."""
    from elir_mobile.testing import make_test_weights, tiny_config
    from export.cli import parse_args
    from export.pipeline import export
    from export.registry import TARGETS

    target = TARGETS["executorch"]

    cfg = tiny_config(32)
    cfg["K"] = 1
    out = tmp_path_factory.mktemp("pte")
    args = parse_args(target, ["--task", "sr", "--noise", "input", "--out", str(out), "--quiet"])
    result = export(target, args, config=cfg, checkpoint=make_test_weights(cfg, seed=0))
    assert len(result.card["reference_vectors"]["inputs"]) == 2
    return result.card_path


def run_bench(build_dir: Path, card: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    model = card.parent / json.loads(card.read_text())["artifact"]["file"]
    cmd = [str(build_dir / "elir_bench"), "--model", str(model), "--card", str(card), "--out", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_unit_tests_pass_and_sample_record_is_schema_valid(build_dir, tmp_path):
    """C++ stats/parity/SHA-256 (OpenSSL)/card reader (nlohmann/json) against the known values; its record writer
    against the schema."""
    sample = tmp_path / "sample.json"
    proc = subprocess.run([str(build_dir / "elir_bench_unit"), "--write-record", str(sample)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(sample.read_text())
    assert validation_errors(record) == []
    assert record["parity"]["passed"] is False  # 79.9 dB against an 80 dB gate


def test_elir_bench_runs_with_parity_and_a_valid_record(build_dir, tiny_pte, tmp_path):
    from export.card import validate

    card = validate(json.loads(tiny_pte.read_text()))  # the card elir_bench reads follows export/card.schema.json
    out = tmp_path / "result.json"
    proc = run_bench(build_dir, tiny_pte, out, "--warmup", "2", "--runs", "5", "--threads", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads(out.read_text())
    assert validation_errors(record) == []
    # Identity from the card, not the file name.
    a = record["artifact"]
    assert (a["file"], a["sha256"], a["task"], a["precision"], a["backend"]) == (
        card["artifact"]["file"], card["artifact"]["sha256"], card["task"], card["artifact"]["precision"],
        card["artifact"]["backend"])
    assert record["runtime"]["threads"] == 2
    assert record["runtime"]["options"] == {"weight_cache_enabled": True}  # on unless --weight-cache off
    assert record["timing"]["warm"]["n"] == 5 and len(record["timing"]["samples_ms"]) == 5
    assert record["parity"]["gate_db"] == card["parity"]["gate_db"] == 80.0
    assert record["parity"]["psnr_db"] >= 80.0 and record["parity"]["passed"] is True
    assert record["parity"]["max_abs_err"] < 1e-3
    assert "PASS" in proc.stdout

    # ...and collate turns it into the device table.
    tables = tmp_path / "tables"
    assert collate.main([str(out), "--out", str(tables)]) == 0
    md = next(tables.glob("*.md")).read_text()
    assert card["artifact"]["file"] in md and "| pass |" in md


def test_elir_bench_parity_failure_exits_1_with_a_record(build_dir, tiny_pte, tmp_path):
    """A gate the artifact cannot meet: the record is still written, marked failed, exit status 1."""
    out = tmp_path / "result.json"
    proc = run_bench(build_dir, tiny_pte, out, "--warmup", "0", "--runs", "1", "--gate-db", "1000")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    record = json.loads(out.read_text())
    assert validation_errors(record) == [] and record["parity"]["passed"] is False


def test_elir_bench_without_the_weight_cache_computes_the_same_and_says_so(build_dir, tiny_pte, tmp_path):
    out = tmp_path / "result.json"
    proc = run_bench(build_dir, tiny_pte, out, "--warmup", "0", "--runs", "1", "--weight-cache", "off")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads(out.read_text())
    assert validation_errors(record) == [] and record["runtime"]["options"] == {"weight_cache_enabled": False}
    assert record["parity"]["psnr_db"] >= 80.0


def test_elir_bench_detects_wrong_expected_output(build_dir, tiny_pte, tmp_path):
    """Parity is real: corrupt the expected vector and the runner must fail the gate."""
    import numpy as np

    work = tmp_path / "copy"
    shutil.copytree(tiny_pte.parent, work)
    card = json.loads(tiny_pte.read_text())
    expected = work / card["reference_vectors"]["output"]["file"]
    values = np.fromfile(expected, dtype="<f4")
    (1.0 - values).astype("<f4").tofile(expected)
    out = tmp_path / "result.json"
    proc = run_bench(build_dir, work / tiny_pte.name, out, "--warmup", "0", "--runs", "1")
    assert proc.returncode == 1
    assert json.loads(out.read_text())["parity"]["psnr_db"] < 40


@pytest.mark.parametrize("case", ["wrong_model", "missing_vector", "bad_runs", "unknown_flag", "bad_card",
                                  "bad_weight_cache"])
def test_elir_bench_bad_input_is_one_line_exit_2_nothing_written(build_dir, tiny_pte, tmp_path, case):
    work = tmp_path / "copy"
    shutil.copytree(tiny_pte.parent, work)
    card_path = work / tiny_pte.name
    card = json.loads(card_path.read_text())
    out = tmp_path / "result.json"
    extra: list[str] = []
    if case == "wrong_model":  # the model file is not the one the card describes
        (work / card["artifact"]["file"]).write_bytes(b"not a program")
    elif case == "missing_vector":
        (work / card["reference_vectors"]["inputs"][0]["file"]).unlink()
    elif case == "bad_runs":
        extra = ["--runs", "0"]
    elif case == "unknown_flag":
        extra = ["--iterations", "3"]
    elif case == "bad_weight_cache":
        extra = ["--weight-cache", "yes"]
    elif case == "bad_card":  # not *.json: the session's card check validates every *.json it finds
        del card["artifact"]["precision"]
        card_path = work / "bad.card"
        card_path.write_text(json.dumps(card))
    proc = run_bench(build_dir, card_path, out, *extra)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert {"wrong_model": "does not match", "missing_vector": "not found", "bad_runs": "--runs",
            "unknown_flag": "unknown option", "bad_card": "artifact.precision is missing",
            "bad_weight_cache": "--weight-cache must be on or off"}[case] in errors[0]
    assert not out.exists() and not Path(str(out) + ".tmp").exists()
