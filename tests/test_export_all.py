"""`python -m export.all`: artifacts, model cards, host timings and one report whose numbers come from them."""

from __future__ import annotations

import json

from export import all as export_all


def test_report_is_built_from_cards_and_benchmark(tmp_path, monkeypatch):
    monkeypatch.setitem(export_all.DEFAULT_VARIANTS, "tflite", [["--precision", "fp32"]])
    out = tmp_path / "release"
    code = export_all.main(["--task", "sr", "--tiny", "--targets", "tflite", "--runs", "2", "--out", str(out),
                            "--quiet"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    (row,) = report["rows"]
    card = json.loads((out / "tflite" / "elir_sr_fp32.json").read_text())
    assert row["artifact"] == card["artifact"]["file"] == "elir_sr_fp32.tflite"
    assert row["parity_psnr_db"] == card["parity"]["psnr_db"] and row["size_mb"] == card["artifact"]["size_bytes"] / 1e6
    timed = {r["name"]: r for r in report["host"]["rows"]}
    assert row["host_median_ms"] == timed["elir_sr_fp32.tflite"]["ms"]["median"]
    assert row["ratio_to_eager"] == timed["elir_sr_fp32.tflite"]["ratio_to_eager"]
    markdown = (out / "REPORT.md").read_text()
    assert "elir_sr_fp32.tflite" in markdown and f"{card['parity']['psnr_db']:.1f}" in markdown


def test_unknown_target_is_a_user_error(tmp_path, capsys):
    assert export_all.main(["--task", "sr", "--tiny", "--targets", "onnx", "--out", str(tmp_path)]) == 2
    assert "unknown target(s) onnx" in capsys.readouterr().err
