"""The result schema and `python -m benchmarks.device.collate` on records from several devices and runs."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.device import collate
from benchmarks.device.records import validation_errors
from benchmarks.device.stats import summarize

REPO = Path(__file__).resolve().parents[1]


def make_record(*, maker="Google", model="Pixel 8 Pro", soc="Google Tensor G3", os_name="Android",
                os_version="15 (API 35)", runtime="litert", requested="npu", used="npu", samples=(30.0, 32.0, 31.0),
                task="bfr", precision="int8", psnr=41.0, gate=35.0) -> dict:
    return {
        "schema_version": 1,
        "harness": {"name": "android_demo", "version": "0.1.0"},
        "timestamp": "2026-11-26T12:00:00Z",
        "artifact": {"file": f"elir_{task}_{precision}.tflite", "sha256": "0" * 64, "task": task,
                     "precision": precision, "backend": "litert", "format": "tflite", "compression": None,
                     "size_bytes": 1000, "image_size": 512, "K": 3, "noise_mode": "fixed",
                     "card": f"elir_{task}_{precision}.json"},
        "device": {"maker": maker, "model": model, "soc": soc, "os": os_name, "os_version": os_version,
                   "abi": "arm64-v8a"},
        "runtime": {"name": runtime, "version": "2.1.0", "threads": 4},
        "accelerator": {"requested": requested, "used": used,
                        "fallback": {"occurred": requested != used, "detail": "CompiledModel"},
                        "op_placement": None},
        "timing": {"load_ms": 120.0, "first_run_ms": 80.0, "warmup": 10, "warm": summarize(list(samples)),
                   "samples_ms": list(samples)},
        "memory": {"peak_mb": 210.5, "metric": "pss"},
        "thermal": {"before": {"state": "NONE", "headroom": 0.4, "temp_c": None},
                    "after": {"state": "LIGHT", "headroom": 0.7, "temp_c": None}, "cooldown_s": 30},
        "parity": {"psnr_db": psnr, "max_abs_err": 0.01, "gate_db": gate, "passed": psnr >= gate},
    }


def test_example_record_is_valid():
    assert validation_errors(make_record()) == []


@pytest.mark.parametrize("mutate,where", [
    (lambda r: r["artifact"].pop("sha256"), "artifact"),
    (lambda r: r["artifact"].update(sha256="xyz"), "artifact/sha256"),
    (lambda r: r["device"].update(os="Windows"), "device/os"),
    (lambda r: r["runtime"].update(name="tflite-nnapi"), "runtime/name"),
    (lambda r: r["accelerator"].pop("used"), "accelerator"),
    (lambda r: r["timing"]["warm"].pop("p90"), "timing/warm"),
    (lambda r: r["timing"].update(load_ms=-1), "timing/load_ms"),
    (lambda r: r["memory"].update(metric="rss"), "memory/metric"),
    (lambda r: r["parity"].update(psnr_db=None), "parity/psnr_db"),
    (lambda r: r.update(timestamp="yesterday"), "timestamp"),
    (lambda r: r.update(extra=1), "<root>"),
])
def test_schema_rejects(mutate, where):
    rec = make_record()
    mutate(rec)
    errors = validation_errors(rec)
    assert errors and errors[0].startswith(where), errors


def _write(dir_: Path, name: str, rec: dict) -> Path:
    p = dir_ / name
    p.write_text(json.dumps(rec))
    return p


def test_collate_writes_a_table_per_device_and_json(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    _write(runs, "a.json", make_record(samples=(30.0, 31.0, 29.0, 40.0)))
    _write(runs, "b.json", make_record(runtime="executorch", requested="qnn", used="qnn", psnr=20.0))
    _write(runs, "c.json", make_record(requested="gpu", used="cpu"))
    iphone = _write(tmp_path, "iphone.json",
                    make_record(maker="Apple", model="iPhone16,1", soc="A17 Pro", os_name="iOS", os_version="18.1",
                                runtime="coreml", requested="cpuAndNeuralEngine", used="cpuAndNeuralEngine"))
    out = tmp_path / "tables"
    assert collate.main([str(runs), str(iphone), "--out", str(out)]) == 0

    pixel = (out / "google-pixel-8-pro-google-tensor-g3-android-15-api-35.md").read_text()
    assert pixel.startswith("# Google Pixel 8 Pro — Google Tensor G3, Android 15 (API 35)")
    rows = [line for line in pixel.splitlines() if line.startswith("| bfr")]
    assert len(rows) == 3
    assert any("| 30.50 |" in r for r in rows)  # median of 29, 30, 31, 40
    assert any("gpu → cpu (fallback)" in r for r in rows)
    assert any("**FAIL**" in r and "executorch" in r for r in rows)
    assert (out / "apple-iphone16-1-a17-pro-ios-18-1.md").is_file()

    summary = json.loads((out / "collated.json").read_text())
    assert [d["slug"] for d in summary["devices"]] == ["apple-iphone16-1-a17-pro-ios-18-1",
                                                       "google-pixel-8-pro-google-tensor-g3-android-15-api-35"]
    pix = summary["devices"][1]["results"]
    assert {r["accelerator"] for r in pix} == {"npu → npu", "qnn → qnn", "gpu → cpu (fallback)"}
    assert {r["median_ms"] for r in pix} >= {30.5}


def test_collate_bad_record_exits_2_and_writes_nothing(tmp_path):
    good = _write(tmp_path, "good.json", make_record())
    bad_rec = copy.deepcopy(make_record())
    del bad_rec["parity"]
    bad = _write(tmp_path, "bad.json", bad_rec)
    out = tmp_path / "tables"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.device.collate", str(good), str(bad), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "bad.json" in proc.stderr and "parity" in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("content,msg", [("{not json", "not JSON"), (None, "no such file")])
def test_collate_unreadable_input(tmp_path, capsys, content, msg):
    p = tmp_path / "r.json"
    if content is not None:
        p.write_text(content)
    assert collate.main([str(p), "--out", str(tmp_path / "o")]) == 2
    assert msg in capsys.readouterr().err


def test_card_files_lists_what_a_card_vouches_for(tmp_path):
    from benchmarks.device.card_files import main

    card = {"artifact": {"file": "m.pte"},
            "reference_vectors": {"dtype": "float32", "byte_order": "little",
                                  "inputs": [{"file": "m.input0.f32", "shape": [1]}],
                                  "output": {"file": "m.expected.f32", "shape": [1]}}}
    (tmp_path / "m.json").write_text(json.dumps(card))
    for name in ("m.pte", "m.input0.f32"):
        (tmp_path / name).write_bytes(b"x")
    assert main([str(tmp_path / "m.json")]) == 2  # expected vector missing
    (tmp_path / "m.expected.f32").write_bytes(b"x")
    assert main([str(tmp_path / "m.json")]) == 0


@pytest.mark.parametrize("script", ["android_native.sh", "android.sh", "ios.sh"])
def test_device_scripts_parse_and_reject_missing_arguments(script):
    """The device scripts cannot run here (no adb/xcrun devices), but they must parse and fail cleanly."""
    path = REPO / "benchmarks" / "device" / script
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    proc = subprocess.run(["bash", str(path)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.startswith("error:")
