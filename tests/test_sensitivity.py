"""The shared per-layer int8 sensitivity measurement (`export.sensitivity`) on the fixture architecture."""

from __future__ import annotations

import math

import pytest
import torch

import elir_mobile
from export import sensitivity


def _images(blue: bool = True) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    images = [torch.rand(1, 3, 32, 32, generator=generator) for _ in range(2)]
    if not blue:
        for x in images:
            x[:, 2] = 0.0
    return images


def _count_simulations(monkeypatch) -> list[int]:
    """A list that gets one entry per `_Simulation` the sensitivity opens from here on (a forward pass each)."""
    simulations = []

    class Counted(sensitivity._Simulation):
        def __init__(self, *args, **kwargs):
            simulations.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(sensitivity, "_Simulation", Counted)
    return simulations


@pytest.fixture(scope="module")
def model_and_samples(tiny_config, tiny_weights):
    """The fixture architecture on 32 px crops: every conv measured at the smallest cost."""
    model = elir_mobile.load_model(config=tiny_config, checkpoint=tiny_weights)
    return model, sensitivity.sample_inputs(model, _images())


def test_fake_int8_weight_is_per_output_channel():
    w = torch.tensor([[1.0, 0.0, -1.0], [100.0, 0.3, 0.0]]).reshape(2, 3, 1, 1)
    q = sensitivity.fake_int8_weight(w)
    assert torch.equal(q[0], w[0])                        # 1 and -1 are exact at a step of 1/127
    assert q[1, 1].item() == 0.0                          # row 1's step is 100/127: 0.3 rounds to 0
    qt = sensitivity.fake_int8_weight(w.transpose(0, 1), transposed=True)
    assert torch.equal(qt, q.transpose(0, 1))             # transposed convs keep channels in dim 1


def test_fake_int8_activation_error_is_within_half_a_step():
    x = torch.linspace(-1.0, 3.0, 1001)
    q = sensitivity.fake_int8_activation(x, -1.0, 3.0)
    assert float((q - x).abs().max()) <= 4.0 / 255 / 2 + 1e-6
    assert float(sensitivity.fake_int8_activation(torch.tensor([10.0]), -1.0, 3.0)) == pytest.approx(3.0, abs=0.02)


def test_symmetric_activation_is_centred_on_zero():
    """Core ML's w8a8 scheme: 127 steps each side of 0 over the larger magnitude, so a skewed range loses a bit."""
    x = torch.linspace(-0.25, 3.0, 1001)
    q = sensitivity.fake_int8_activation(x, -0.25, 3.0, symmetric=True)
    assert float((q - x).abs().max()) == pytest.approx(3.0 / 127 / 2, rel=1e-3)
    assert float((sensitivity.fake_int8_activation(x, -0.25, 3.0) - x).abs().max()) < 3.25 / 255 / 2 + 1e-6


def test_core_ml_scheme_costs_more_than_its_weights_alone(model_and_samples):
    model, samples = model_and_samples
    runs = {a: sensitivity.measure(model, samples, activations=a, target_db=0.0) for a in ("none", "symmetric-io")}
    assert runs["symmetric-io"].all_int8_db < runs["none"].all_int8_db
    assert all(runs["symmetric-io"].alone_db[n] <= db for n, db in runs["none"].alone_db.items())
    assert "symmetric" in runs["symmetric-io"].card()["method"]
    assert "per MAC" in runs["none"].card()["method"]
    by_size = sensitivity.measure(model, samples, activations="none", target_db=0.0, cost="params")
    assert "per parameter" in by_size.card()["method"]                # Core ML's choice is by weight size
    with pytest.raises(ValueError, match="activations must be one of"):
        sensitivity.measure(model, samples, activations="int4", target_db=0.0)


def test_every_conv_is_measured_and_a_low_target_keeps_nothing_float(model_and_samples):
    model, samples = model_and_samples
    result = sensitivity.measure(model, samples, activations="affine-inputs", target_db=0.0)
    assert set(result.alone_db) == set(sensitivity.conv_names(model).values())
    assert all(db > result.all_int8_db for db in result.alone_db.values())  # one layer costs less than all
    assert result.float_layers == [] and result.chosen_db == result.all_int8_db
    card = result.card()
    assert card["float_mac_share"] == 0.0 and len(card["most_sensitive"]) == 12


def test_a_broken_layer_is_found_and_kept_float(tiny_config, tiny_weights):
    """A huge weight on the blue input of the first conv, with images that have no blue: the float model is
    unchanged, but per-channel int8 rounds the rest of that conv's weights to zero."""
    model = elir_mobile.load_model(config=tiny_config, checkpoint=tiny_weights)
    conv = model.encoder.layers[0]
    with torch.no_grad():
        conv.weight[:, 2, 0, 0] = 1e4 * conv.weight.abs().amax()
    samples = sensitivity.sample_inputs(model, _images(blue=False))
    result = sensitivity.measure(model, samples, activations="none", target_db=200.0, max_float_share=0.2)
    worst = min(result.alone_db, key=result.alone_db.get)
    assert worst == "encoder.layers.0" and result.float_layers[0] == worst
    assert result.chosen_db > result.all_int8_db
    assert 0.0 < result.float_mac_share <= 0.2               # the cap holds even when the target is not met
    assert result.chosen_db < 200.0 and math.isfinite(result.chosen_db)


def test_layers_kept_at_16bit_activations_keep_their_int8_weights(model_and_samples):
    """For NPU artifacts with no float op (LiteRT int8-mixed-int16): every conv's weights stay int8, the kept layers'
    activations leave 8 bits, so the choice is made between all-int8 and the int8 weights' own error."""
    model, samples = model_and_samples
    plain = sensitivity.measure(model, samples, activations="affine-io", target_db=0.0)
    probe = sensitivity.measure(model, samples, activations="affine-io", target_db=0.0, keep="w8a16")
    assert probe.all_int8_db == pytest.approx(plain.all_int8_db)      # the same simulation: everything in int8
    assert probe.all_int8_db < probe.weights_db < math.inf
    target = (probe.all_int8_db + probe.weights_db) / 2
    result = sensitivity.measure(model, samples, activations="affine-io", target_db=target, max_float_share=1.0,
                                 keep="w8a16")
    assert result.kept and result.w8a16_layers == result.kept and result.float_layers == []
    assert target <= result.chosen_db <= result.weights_db
    card = result.card()
    assert card["kept_as"] == "w8a16" and card["float_mac_share"] == 0.0
    assert card["w8a16_layers"] == result.kept and card["w8a16_mac_share"] > 0.0
    name = next(n for n in result.kept if dict(model.named_modules())[n].bias is not None)
    original, kept = dict(model.named_modules())[name], dict(result.corrected(model).named_modules())[name]
    assert not torch.equal(kept.bias, original.bias)                  # an int8 layer: its bias is corrected
    with pytest.raises(ValueError, match="keep must be one of"):
        sensitivity.measure(model, samples, activations="affine-io", target_db=0.0, keep="int4")


def test_backend_weights_leave_the_others_float_and_key_the_sweep(model_and_samples, monkeypatch, tmp_path):
    """A backend's own weights (Core ML's, `replacements`) cover the convs it compresses; the others keep float
    weights.  With ``keep="w8a16"`` those are candidates all the same, since the backend quantizes every conv's
    activations (a package with them unsimulated read 3-4 dB below the simulation); as weight-only candidates
    they are not.  The weights are part of the sweep's key: the same ones reuse it, others measure afresh."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(sensitivity, "_SWEEPS", {})
    model, samples = model_and_samples[0], model_and_samples[1][:1]       # three sweeps: one crop is enough
    convs = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    uncompressed = next(iter(convs))
    backend = {n: sensitivity.fake_int8_weight(m.weight.detach()) for n, m in convs.items() if n != uncompressed}
    weights_only = sensitivity.measure(model, samples, activations="none", target_db=0.0, replacements=backend)
    assert uncompressed not in weights_only.alone_db and set(weights_only.alone_db) == set(backend)
    w8a16 = dict(activations="symmetric-io", target_db=0.0, replacements=backend, keep="w8a16")
    result = sensitivity.measure(model, samples, **w8a16)
    assert uncompressed in result.alone_db and uncompressed not in result.corrections    # float weight, int8 io
    assert result.alone_db[uncompressed] < result.weights_db
    simulations = _count_simulations(monkeypatch)
    monkeypatch.setattr(sensitivity, "_SWEEPS", {})
    assert sensitivity.measure(model, samples, **w8a16).alone_db == result.alone_db
    assert len(simulations) == 2                                            # int8 weights alone, all-int8
    other = {**backend, next(iter(backend)): 0.5 * next(iter(backend.values()))}
    sensitivity.measure(model, samples, **{**w8a16, "replacements": other})
    assert len(simulations) > 2 + len(result.alone_db)


def test_16bit_activations_cannot_rescue_a_broken_int8_weight(tiny_config, tiny_weights):
    """The broken first conv above loses its weights to per-channel int8: keeping its activations at 16 bits
    cannot lift that, and the shortfall says the weights are the limit."""
    model = elir_mobile.load_model(config=tiny_config, checkpoint=tiny_weights)
    conv = model.encoder.layers[0]
    with torch.no_grad():
        conv.weight[:, 2, 0, 0] = 1e4 * conv.weight.abs().amax()
    samples = sensitivity.sample_inputs(model, _images(blue=False))
    result = sensitivity.measure(model, samples, activations="affine-io", target_db=40.0, max_float_share=1.0,
                                 keep="w8a16")
    assert result.weights_db < 40.0 and result.chosen_db <= result.weights_db + 1e-6
    assert "int8 weights alone reach only" in result.shortfall(result.chosen_db)


def test_a_repeated_sweep_is_reused_only_for_the_same_model_and_samples(tiny_config, tiny_weights, monkeypatch):
    """export.all and the suite quantize one model several times in a process: the per-layer sweep is kept by
    content, so a different weight (or sample, or scheme) is measured afresh."""
    model = elir_mobile.load_model(config=tiny_config, checkpoint=tiny_weights)
    samples = sensitivity.sample_inputs(model, _images())
    first = sensitivity.measure(model, samples, activations="none", target_db=0.0)
    simulations = _count_simulations(monkeypatch)
    again = sensitivity.measure(model, samples, activations="none", target_db=0.0)
    assert again.alone_db == first.alone_db and len(simulations) == 1      # only the all-int8 simulation ran
    with torch.no_grad():
        model.encoder.layers[0].weight.mul_(2.0)
    simulations.clear()
    changed = sensitivity.measure(model, samples, activations="none", target_db=0.0)
    assert len(simulations) == len(first.alone_db) + 2                     # ranges, every layer, all-int8
    assert changed.alone_db != first.alone_db


def test_a_sweep_is_reused_from_disk_by_a_new_process(tiny_config, tiny_weights, monkeypatch, tmp_path):
    """A second export of the same weights (another target, or the same one again) reads the sweep from the
    cache on disk instead of measuring every layer again; a cache entry that cannot be read is measured afresh."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    model = elir_mobile.load_model(config=tiny_config, checkpoint=tiny_weights)
    samples = sensitivity.sample_inputs(model, _images())
    first = sensitivity.measure(model, samples, activations="affine-inputs", target_db=0.0)
    files = list(sensitivity.sweep_cache_dir().glob("*.json"))
    assert len(files) == 1 and not list(sensitivity.sweep_cache_dir().glob("*.tmp"))
    monkeypatch.setattr(sensitivity, "_SWEEPS", {})                       # what a new process starts with
    simulations = _count_simulations(monkeypatch)
    again = sensitivity.measure(model, samples, activations="affine-inputs", target_db=0.0)
    assert again.alone_db == first.alone_db and len(simulations) == 1      # only the all-int8 simulation ran
    files[0].write_text("{not json")
    monkeypatch.setattr(sensitivity, "_SWEEPS", {})
    simulations.clear()
    assert sensitivity.measure(model, samples, activations="affine-inputs", target_db=0.0).alone_db == first.alone_db
    assert len(simulations) == len(first.alone_db) + 2


def test_each_steps_call_of_a_unet_conv_has_its_own_ranges(model_and_samples):
    """The U-Net's convs run once per Euler step: the simulation records (and quantizes with) each call site's
    ranges, as every artifact quantizes each step's activations."""
    model, samples = model_and_samples
    sensitivity.measure(model, samples, activations="affine-inputs", target_db=0.0)
    record = next(iter(sensitivity._SWEEPS.values()))[0]
    unet = [n for n in record if n.startswith("velocity.")]
    assert unet and all(len(record[n]["sites"]) == model.K for n in unet)
    assert all(len(entry["sites"]) == 1 for n, entry in record.items() if not n.startswith("velocity."))
    first = record[unet[0]]["sites"]
    assert len({(r["lo"], r["hi"]) for r in first}) == model.K             # the latent moves between steps


def test_bias_correction_moves_each_convs_mean_weight_error_into_its_bias(model_and_samples):
    """The corrected copy's int8 conv has the float conv's per-channel output mean on the calibration crops;
    a conv without a bias gets one, float layers and the original model are left alone."""
    model, samples = model_and_samples
    result = sensitivity.measure(model, samples, activations="none", target_db=0.0)
    result.kept = ["decoder.layers.0"]
    corrected = result.corrected(model)
    first, fixed = model.encoder.layers[0], corrected.encoder.layers[0]
    x = torch.cat([s[0] for s in samples])
    with torch.no_grad():
        reference = first(x).mean(dim=(0, 2, 3))
        quantized = sensitivity.fake_int8_weight(first.weight)
        plain = torch.nn.functional.conv2d(x, quantized, first.bias, padding=1).mean(dim=(0, 2, 3))
        fixed_mean = torch.nn.functional.conv2d(x, quantized, fixed.bias, padding=1).mean(dim=(0, 2, 3))
    assert float((fixed_mean - reference).abs().max()) < 1e-5 < float((plain - reference).abs().max())
    no_bias = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and m.bias is None]
    assert no_bias and all(dict(corrected.named_modules())[n].bias is not None for n in no_bias)
    assert all(m.bias is None for n, m in model.named_modules() if n in no_bias)       # the original is untouched
    assert torch.equal(corrected.decoder.layers[0].bias, model.decoder.layers[0].bias)
    assert "bias" in result.card()["bias_correction"]


@pytest.mark.parametrize("family", ["recipe", "trained-like"])
def test_bias_correction_and_requantized_outputs_in_the_simulation(tiny_config, family):
    """Measured on both weight families: bias correction raises the all-int8 simulation; quantizing every conv's
    output too (static int8 as XNNPACK and LiteRT run it) costs more than quantizing its input alone."""
    from elir_mobile.testing import make_test_weights

    model = elir_mobile.load_model(config=tiny_config, checkpoint=make_test_weights(tiny_config, family=family))
    samples = sensitivity.sample_inputs(model, _images())

    def db(activations, bias_correction=True):
        return sensitivity.measure(model, samples, activations=activations, target_db=0.0,
                                   bias_correction=bias_correction).all_int8_db

    assert db("none") > db("none", bias_correction=False) + 1.0
    assert db("affine-io") < db("affine-inputs")


def test_a_shortfall_names_the_layers_that_cost_most(model_and_samples):
    model, samples = model_and_samples
    capped = sensitivity.measure(model, samples, activations="affine-io", target_db=200.0, max_float_share=0.05)
    why = capped.shortfall(20.0)
    assert "at most 5 % may stay float" in why and "cost most" in why
    assert any(n in why for n in capped.alone_db if n not in capped.float_layers)
    met = sensitivity.measure(model, samples, activations="affine-io", target_db=0.0)
    assert "runtime's other quantized ops" in met.shortfall(met.chosen_db - 2.0)
