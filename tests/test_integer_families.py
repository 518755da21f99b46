"""Every integer variant of LiteRT and Core ML on both test-weight families at fixture size, through the whole
pipeline with the policy gate: the artifact meets its gate, or the export refuses it with one line that says why
and names the layers that cost most, and writes nothing.  (XNNPACK int8 lowers for minutes even at fixture size:
tests/test_executorch.py covers it on the recipe weights; both families are measured at full size in the
README.)"""

from __future__ import annotations

import json
import math

import pytest

from elir_mobile.testing import FAMILIES, make_test_weights, tiny_config
from export import cli, pipeline, registry
from export.sensitivity import conv_names

VARIANTS = [("tflite", ["--precision", "int8"]), ("tflite", ["--precision", "int16x8"]),
            ("tflite", ["--precision", "int8-mixed-int16"]), ("tflite", ["--precision", "dynamic-int8"]),
            ("coreml", ["--compress", "w8a8"])]
NPU_VARIANTS = ("int16x8", "int8-mixed-int16")  # no float compute op: an NPU runs them whole
SDKS = {"tflite": ("litert_torch", "tflite"), "coreml": ("coremltools", "coreml")}


def test_the_weights_family_option_reaches_the_card():
    args = cli.parse_args(registry.TARGETS["tflite"], ["--task", "sr", "--tiny", "--weights-family", "trained-like"])
    weights = pipeline.load_weights(args)
    assert weights.card()["family"] == "trained-like" and weights.source == "tiny"
    recipe = pipeline.load_weights(cli.parse_args(registry.TARGETS["tflite"], ["--task", "sr", "--tiny"]))
    assert recipe.card()["family"] == "recipe" and recipe.sha256 != weights.sha256


# Family outermost: the LiteRT precisions of one family that keep the same convs float quantize one conversion.
@pytest.mark.parametrize("target,options", VARIANTS, ids=[" ".join(o) for _, o in VARIANTS])
@pytest.mark.parametrize("family", FAMILIES)
def test_integer_variant_meets_its_gate_or_says_which_layers_could_not_be_quantized(tmp_path, target, options,
                                                                                     family):
    module, extra = SDKS[target]
    pytest.importorskip(module, reason=f'needs the {target} exporter: pip install "elir-mobile[{extra}]"')
    config = dict(tiny_config(32), K=1)  # one Euler step at 32 px: every op type at a fraction of the conversion
    weights = make_test_weights(config, seed=0, family=family)
    out, failed = tmp_path / "out", tmp_path / "failed"
    argv = ["--task", "sr", "--calibration-images", "2", "--out", str(out), "--keep-failed", str(failed), "--quiet",
            *options]
    args = cli.parse_args(registry.TARGETS[target], argv)
    try:
        card = pipeline.export(registry.TARGETS[target], args, config=config, checkpoint=weights).card
    except pipeline.GateFailure as failure:
        message = str(failure)
        assert "\n" not in message and "cost most" in message
        model = pipeline.load_weights(args, config, weights).model
        assert any(name in message for name in conv_names(model).values())
        assert not out.exists() or not any(out.iterdir()), "nothing may be published when the gate fails"
        # The variant with 16-bit activations is suggested unless the int8 weights alone miss the target too.
        sensitivity = json.loads(next(failed.glob("*.json")).read_text())["quantization"]["sensitivity"]
        weights_pass = (sensitivity["simulated_int8_weights_db"] or math.inf) >= sensitivity["target_db"]
        wider = registry.TARGETS[target].wider_variant(args)
        assert (wider is not None and f"try {wider}" in message) == (wider is not None and weights_pass)
        return
    assert card["parity"]["passed"] and card["parity"]["min_psnr_db"] >= card["parity"]["gate_db"]
    sensitivity = card["quantization"]["sensitivity"]
    assert "mean error" in sensitivity["bias_correction"]
    assert sensitivity["weight_rounding"].startswith("GPTQ")
    if options[-1] in NPU_VARIANTS:
        assert card["op_audit"]["float_compute_ops"] == {}
