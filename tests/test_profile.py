"""benchmarks.profile: per-layer times under eager, ExecuTorch (ETDump) and LiteRT (op profiler), named alike."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import profile
from benchmarks.profile.layers import AlignmentError, Op, Profile, by_layer, name_convs

ROOT = Path(__file__).resolve().parents[1]


def _eager_ops():
    return [Op("aten::conv2d", 1.0, conv=True, shape=(8, 3, 3), layer="encoder.layers.0"),
            Op("aten::relu", 0.1, layer="encoder.layers.1"),
            Op("aten::conv_transpose2d", 2.0, conv=True, transposed=True, shape=(4, 4, 4),
               layer="euler.velocity.up_blocks.0.0.convtr"),
            Op("aten::conv2d", 0.5, conv=True, shape=(3, 1, 1), layer="decoder.layers.0")]


def test_runtime_convolutions_take_the_eager_layer_names_in_order():
    runtime = Profile("rt", [Op("Transpose (ND, X32)", 0.2), Op("Convolution (NHWC, F32) IGEMM", 0.9, conv=True),
                             Op("Deconvolution (NHWC, F32) Subconv2D", 3.0, conv=True, transposed=True),
                             Op("Add (ND)", 0.3), Op("Fully Connected (NC, F32) GEMM", 0.4, conv=True)], 5.0)
    named = name_convs(_eager_ops(), runtime)
    assert [op.layer for op in named.ops if op.conv] == ["encoder.layers.0", "euler.velocity.up_blocks.0.0.convtr",
                                                         "decoder.layers.0"]
    rows = by_layer(named)
    # the leading transpose counts in the first convolution's part, the add in the U-Net's (the conv before it)
    assert rows[("encoder", "other ops")] == pytest.approx(0.2)
    assert rows[("euler", "other ops")] == pytest.approx(0.3)
    assert sum(rows.values()) == pytest.approx(4.8)


def test_a_runtime_that_does_not_line_up_is_refused():
    three = [Op("c", 1.0, conv=True), Op("c", 1.0, conv=True, transposed=True), Op("c", 1.0, conv=True)]
    with pytest.raises(AlignmentError, match="runs 2 convolutions, the eager model 3"):
        name_convs(_eager_ops(), Profile("rt", three[:2], 2.0))
    with pytest.raises(AlignmentError, match="#1"):
        name_convs(_eager_ops(), Profile("rt", [three[1], three[1], three[2]], 3.0))
    subpixel = name_convs(_eager_ops(), Profile("rt", [three[0], three[0], three[2]], 3.0))  # convtr run as a conv
    assert subpixel.ops[1].layer == "euler.velocity.up_blocks.0.0.convtr"
    wrong_shape = [Op("c", 1.0, conv=True, shape=(16, 3, 3)), three[1], three[2]]
    with pytest.raises(AlignmentError, match="#1"):
        name_convs(_eager_ops(), Profile("rt", wrong_shape, 3.0))


def test_profile_names_the_same_layers_under_eager_executorch_and_litert(tmp_path, tiny_cli_export):
    """The fixture-size model exported for both runtimes: every conv layer of the eager model has a time in all
    three columns, the U-Net's run once per step, and each column's parts add up to its operators."""
    pytest.importorskip("executorch", reason='needs ExecuTorch: pip install "elir-mobile[executorch]"')
    card_path, _, _ = tiny_cli_export
    artifacts = tmp_path / "artifacts"
    shutil.copytree(card_path.parent, artifacts)
    proc = subprocess.run([sys.executable, "-m", "export.executorch", "--task", "sr", "--tiny", "--image-size", "32",
                           "--no-bundle", "--quiet", "--out", str(artifacts)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "profile"
    assert profile.main(["--task", "sr", "--tiny", "--image-size", "32", "--artifacts", str(artifacts),
                         "--runs", "2", "--warmup", "1", "--out", str(out)]) == 0
    report = json.loads((out / "profile_sr.json").read_text())
    assert report["columns"] == ["eager", "elir_sr_executorch-xnnpack_fp32.pte", "elir_sr_tflite_fp32.tflite"]
    layers = [r for r in report["rows"] if r["calls"]]
    assert {r["layer"].split(".")[0] for r in layers} == {"encoder", "coarse", "euler", "decoder"}
    assert all(v is not None for r in layers for v in r["ms"])  # the same layer, timed in all three
    steps = {r["calls"] for r in layers if r["layer"].startswith("euler.")}
    assert steps == {3}  # the fixture model's K
    totals = [r["ms"] for r in report["rows"] if r["layer"].endswith(" total")]
    operators = next(r["ms"] for r in report["rows"] if r["layer"] == "sum of operators")
    wall = next(r["ms"] for r in report["rows"] if r["layer"] == "forward (wall)")
    for column in range(3):
        assert sum(t[column] for t in totals) == pytest.approx(operators[column])
        assert 0 < operators[column] <= wall[column] * 1.01  # one forward's operators, not every run's
    markdown = (out / "profile_sr.md").read_text()
    assert "euler.velocity.mid_blocks.0.block1" in markdown and "Transpose" in markdown
