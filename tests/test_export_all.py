"""`python -m export.all`: artifacts and model cards in one folder, and one report whose numbers come from them."""

from __future__ import annotations

import json

import pytest

from export import all as export_all
from export.card import validate


def test_report_is_built_from_the_cards(tmp_path, monkeypatch):
    pytest.importorskip("litert_torch", reason='needs the LiteRT exporter: pip install "elir-mobile[tflite]"')
    monkeypatch.setitem(export_all.DEFAULT_VARIANTS, "tflite", [["--precision", "fp32"], ["--precision", "fp16"]])
    out = tmp_path / "release"
    code = export_all.main(["--task", "sr", "--tiny", "--image-size", "32", "--targets", "tflite", "--out", str(out),
                            "--quiet"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    rows = {r["artifact"]: r for r in report["rows"]}
    assert set(rows) == {"elir_sr_tflite_fp32.tflite", "elir_sr_tflite_fp16.tflite"}
    for name, row in rows.items():
        card = validate(json.loads((out / name.replace(".tflite", ".json")).read_text()))
        assert row["min_psnr_db"] == card["parity"]["min_psnr_db"] and row["parity_runtime_kind"] == "real"
        assert row["size_mb"] == card["artifact"]["size_bytes"] / 1e6
        assert card["weights"]["source"] == "tiny"
    # One model, one float conversion: the fp16 variant was quantized from the fp32 conversion.
    fp16 = json.loads((out / "elir_sr_tflite_fp16.json").read_text())
    assert fp16["export"]["reused_float_conversion"] is True
    markdown = (out / "REPORT.md").read_text()
    assert "elir_sr_tflite_fp32.tflite" in markdown and "| real |" in markdown


def test_unknown_target_is_a_user_error(tmp_path, capsys):
    assert export_all.main(["--task", "sr", "--tiny", "--targets", "onnx", "--out", str(tmp_path)]) == 2
    assert "unknown target(s) onnx" in capsys.readouterr().err
