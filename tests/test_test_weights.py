"""The two test-weight families of `elir_mobile.testing`: the fixtures' Gaussian recipe and the trained-like one
(heavy tails, a spread of channel scales) that the integer exports are also tested on."""

from __future__ import annotations

import pytest
import torch

import elir_mobile
from elir_mobile.testing import CHANNEL_SPREAD, FAMILIES, make_test_weights, smooth_test_image, tiny_config


def _kurtosis(w: torch.Tensor) -> float:
    v = w.flatten().double()
    v = v - v.mean()
    return float((v ** 4).mean() / (v ** 2).mean() ** 2)


@pytest.fixture(scope="module")
def families():
    cfg = tiny_config()
    return cfg, {f: make_test_weights(cfg, seed=0, family=f) for f in FAMILIES}


def test_families_share_keys_and_shapes_and_are_seeded(families):
    cfg, weights = families
    recipe, trained = weights["recipe"], weights["trained-like"]
    assert recipe.keys() == trained.keys()
    assert all(recipe[k].shape == trained[k].shape for k in recipe)
    again = make_test_weights(cfg, seed=0, family="trained-like")
    assert all(torch.equal(trained[k], again[k]) for k in trained)
    other = make_test_weights(cfg, seed=1, family="trained-like")
    assert not torch.equal(trained["enc.layers.0.weight"], other["enc.layers.0.weight"])
    with pytest.raises(ValueError, match="unknown test-weight family"):
        make_test_weights(cfg, family="uniform")


def test_trained_like_weights_are_heavy_tailed_with_spread_channel_scales(families):
    _, weights = families
    key = "enc.layers.3.conv.2.weight"                  # a 64 -> 64 3x3 conv: 576 weights per output channel
    recipe, trained = weights["recipe"][key], weights["trained-like"][key]
    assert _kurtosis(recipe) == pytest.approx(3.0, abs=0.3)            # Gaussian
    assert _kurtosis(trained) > 6.0                                     # Student's t, 3 degrees of freedom
    rms = trained.flatten(1).pow(2).mean(1).sqrt()
    assert 0.3 * CHANNEL_SPREAD < float(rms.max() / rms.min()) < 3.0 * CHANNEL_SPREAD
    spread = recipe.flatten(1).pow(2).mean(1).sqrt()
    assert float(spread.max() / spread.min()) < 2.0
    # The same gain per layer on average: both families keep activations of the same order.
    assert float(trained.pow(2).mean() / recipe.pow(2).mean()) == pytest.approx(1.0, rel=0.5)


def test_trained_like_model_restores_into_the_unit_range(families):
    cfg, weights = families
    model = elir_mobile.load_model(config=cfg, checkpoint=weights["trained-like"])
    with torch.no_grad():
        y = model(smooth_test_image(64), torch.zeros(1, *model.latent_shape(64, 64)))
    assert torch.isfinite(y).all()
    assert 0.2 < float(y.mean()) < 0.8 and 0.05 < float(y.std()) < 0.5
