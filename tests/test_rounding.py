"""GPTQ weight rounding (`export.rounding`) and its use by the shared sensitivity."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import elir_mobile
from export import rounding, sensitivity


@pytest.mark.parametrize("output_padding", [0, 1])
def test_input_columns_reproduce_a_transposed_conv(output_padding):
    """H is taken over the columns a filter multiplies: for a transposed conv, the zero-stuffed input against the
    flipped, transposed kernel; columns times rows must be the conv's output exactly."""
    generator = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, 5, 6, 7, generator=generator), torch.randn(5, 3, 4, 4, generator=generator)
    options = {"stride": 2, "padding": 1, "output_padding": output_padding, "groups": 1, "dilation": 1}
    expected = F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=output_padding)
    cols = rounding._columns(F.conv_transpose2d, x, w, options)
    out = rounding.as_rows(w, transposed=True) @ cols                      # (C_out, N * positions)
    assert torch.allclose(out.reshape(3, 2, -1).transpose(0, 1).reshape(expected.shape), expected, atol=1e-4)
    assert torch.equal(rounding.from_rows(rounding.as_rows(w, True), w, True), w)


def test_input_columns_reproduce_a_conv():
    generator = torch.Generator().manual_seed(1)
    x, w = torch.randn(2, 4, 9, 9, generator=generator), torch.randn(6, 4, 3, 3, generator=generator)
    options = rounding._conv_options(F.conv2d, (x, w, None, 2, 1), {})
    expected = F.conv2d(x, w, stride=2, padding=1)
    out = rounding.as_rows(w, transposed=False) @ rounding._columns(F.conv2d, x, w, options)
    assert torch.allclose(out.reshape(6, 2, -1).transpose(0, 1).reshape(expected.shape), expected, atol=1e-4)


def test_a_transposed_convs_kernel_phases_round_apart_as_they_would_together():
    """A stride-2 transposed conv's zero-stuffed input never meets two kernel phases at one output position, so H
    splits into four independent groups (each a 64th of the inverse's work); rounding them apart gives the levels
    of rounding all columns together.  A plain conv's taps all overlap: one group."""
    generator = torch.Generator().manual_seed(4)
    x, w = torch.randn(4, 6, 8, 8, generator=generator), torch.randn(6, 5, 4, 4, generator=generator)
    options = {"stride": 2, "padding": 1, "output_padding": 0, "groups": 1, "dilation": 1}
    cols = rounding._columns(F.conv_transpose2d, x, w, options)
    h, rows = cols @ cols.T, rounding.as_rows(w, transposed=True)
    groups = rounding.coupled_columns(h, taps=16)
    assert len(groups) == 4 and torch.equal(torch.cat(groups).sort().values, torch.arange(96))
    assert all(float(h[a][:, b].abs().max()) == 0 for i, a in enumerate(groups) for b in groups[i + 1:])
    apart, together = rounding.rounded_rows(rows, h, taps=16), rounding.rounded_rows(rows, h, taps=1)
    assert float((apart - together).abs().max()) <= 1 and float((apart != together).float().mean()) < 0.02
    plain = torch.randn(3, 6, 3, 3, generator=generator)
    conv = rounding._columns(F.conv2d, x, plain, rounding._conv_options(F.conv2d, (x, plain), {}))
    assert len(rounding.coupled_columns(conv @ conv.T, taps=9)) == 1


def _correlated(mixing: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n inputs whose channels `mixing` correlates, as a conv's neighbouring pixels and channels are."""
    return mixing @ torch.randn(mixing.shape[1], n, generator=generator)


def test_rounding_stays_on_the_backends_grid_and_cuts_output_error():
    """The levels are int8 with each row's largest weight at +-127 (so a backend's max|w| / 127 observer gets
    them back exactly), and on inputs like the ones H came from they give less output error than nearest."""
    generator = torch.Generator().manual_seed(2)
    w = torch.randn(16, 64, generator=generator)
    mixing = torch.randn(64, 64, generator=generator) / 8 + torch.eye(64)
    x, held_out = _correlated(mixing, 4096, generator), _correlated(mixing, 1024, generator)
    levels = rounding.rounded_rows(w, x @ x.T)
    assert torch.equal(levels, levels.round()) and levels.abs().max() == 127
    peak = w.abs().argmax(dim=1)
    assert torch.equal(levels[torch.arange(16), peak].abs(), torch.full((16,), 127.0, dtype=levels.dtype))
    rounded = sensitivity.fake_int8_weight(w, levels=levels.reshape(16, 64))
    assert torch.equal(sensitivity.fake_int8_weight(rounded), rounded)  # requantizing gives the same levels
    nearest = sensitivity.fake_int8_weight(w)
    gptq_error = float(((rounded - w) @ held_out).pow(2).mean())
    nearest_error = float(((nearest - w) @ held_out).pow(2).mean())
    assert gptq_error < 0.7 * nearest_error


@pytest.fixture(scope="module")
def model(tiny_config, tiny_weights):
    return elir_mobile.load_model(config=tiny_config, checkpoint=tiny_weights)


def _images(count: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return [torch.rand(1, 3, 64, 64, generator=generator) for _ in range(count)]


def test_sensitivity_with_rounding_simulates_and_exports_the_rounded_weights(model, monkeypatch, tmp_path):
    """Every conv is rounded (U-Net convs once for all steps, transposed ones included); the simulation with
    those levels beats nearest on the same crops, the corrected copy carries them on the int8 grid, and a second
    rounding of the same weights on the same images is read from the cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    samples = sensitivity.sample_inputs(model, _images(2), crop=32)
    levels = sensitivity.rounded_levels(model, sensitivity.sample_inputs(model, _images(2), crop=None))
    nearest = sensitivity.measure(model, samples, activations="none", target_db=0.0)
    rounded = sensitivity.measure(model, samples, activations="none", target_db=0.0, levels=levels)
    assert set(levels) == set(sensitivity.conv_names(model).values())
    assert rounded.all_int8_db > nearest.all_int8_db
    assert rounded.card()["weight_rounding"].startswith("GPTQ") and nearest.card()["weight_rounding"] == "to nearest"
    copy = dict(rounded.corrected(model).named_modules())
    for name, q in levels.items():
        conv = copy[name]
        transposed = isinstance(conv, torch.nn.ConvTranspose2d)
        assert q.dtype == torch.int8
        assert torch.equal(sensitivity.fake_int8_weight(conv.weight, transposed), conv.weight)
        original = dict(model.named_modules())[name].weight
        assert torch.allclose(conv.weight, q.float() * sensitivity.int8_scale(original, transposed))
    assert len(list(sensitivity.sweep_cache_dir().glob("*.levels.safetensors"))) == 1
    monkeypatch.setattr(rounding, "int8_levels", lambda *a, **k: pytest.fail("rounded again"))
    again = sensitivity.rounded_levels(model, sensitivity.sample_inputs(model, _images(2), crop=None))
    assert all(torch.equal(again[n], q) for n, q in levels.items())
