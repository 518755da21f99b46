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


def test_every_conv_is_measured_and_a_low_target_keeps_nothing_float(model_and_samples):
    model, samples = model_and_samples
    result = sensitivity.measure(model, samples, activations=True, target_db=0.0)
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
    result = sensitivity.measure(model, samples, activations=False, target_db=200.0, max_float_share=0.2)
    worst = min(result.alone_db, key=result.alone_db.get)
    assert worst == "encoder.layers.0" and result.float_layers[0] == worst
    assert result.chosen_db > result.all_int8_db
    assert 0.0 < result.float_mac_share <= 0.2               # the cap holds even when the target is not met
    assert result.chosen_db < 200.0 and math.isfinite(result.chosen_db)
