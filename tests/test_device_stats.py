"""Statistics and parity definitions shared by every device harness (benchmarks/device/stats.py, parity.py).

The known values below are repeated verbatim in native/tests/unit_tests.cpp, android_demo's StatsTest.kt and
ios_demo's StatsTests.swift, so all four implementations are held to the same numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from benchmarks.device.parity import PSNR_CAP_DB, max_abs_err, psnr_db, reference_vectors
from benchmarks.device.stats import summarize
from elir_mobile.errors import ElirError

KNOWN = [  # samples, median, p90, min, max, mean, trimmed_mean_10_90
    ([7.5], 7.5, 7.5, 7.5, 7.5, 7.5, 7.5),
    ([5, 1, 4, 2, 3], 3, 4.6, 1, 5, 3, 3),
    ([3, 1, 2, 100, 4, 5, 6, 7, 8, 9], 5.5, 18.1, 1, 100, 14.5, 5.5),
    ([*range(1, 20), 1000], 10.5, 18.1, 1, 1000, 59.5, 10.5),
    ([*range(1, 50), 500], 25.5, 45.1, 1, 500, 34.5, 25.5),
]


@pytest.mark.parametrize("samples,median,p90,lo,hi,mean,trimmed", KNOWN)
def test_summary_known_values(samples, median, p90, lo, hi, mean, trimmed):
    s = summarize(samples)
    assert s["n"] == len(samples)
    assert s["median"] == pytest.approx(median, abs=1e-12)
    assert s["p90"] == pytest.approx(p90, abs=1e-12)
    assert (s["min"], s["max"]) == (lo, hi)
    assert s["mean"] == pytest.approx(mean, abs=1e-12)
    assert s["trimmed_mean_10_90"] == pytest.approx(trimmed, abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 9, 10, 11, 19, 20, 21, 49, 50, 51, 99, 100, 1000])
def test_summary_matches_numpy_and_scipy(n):
    """p90 is numpy's default (linear) percentile, the trimmed mean scipy's trim_mean(x, 0.1)."""
    xs = np.random.default_rng(n).lognormal(mean=3.0, sigma=0.5, size=n)
    s = summarize(xs.tolist())
    assert s["p90"] == pytest.approx(np.percentile(xs, 90), rel=1e-12)
    assert s["median"] == pytest.approx(np.median(xs), rel=1e-12)
    assert s["trimmed_mean_10_90"] == pytest.approx(sps.trim_mean(xs, 0.1), rel=1e-12)
    assert s["mean"] == pytest.approx(xs.mean(), rel=1e-12)


def test_trimmed_mean_resists_outliers_where_the_mean_does_not():
    s = summarize([10.0] * 18 + [500.0, 900.0])
    assert s["trimmed_mean_10_90"] == 10.0
    assert s["mean"] > 50


@pytest.mark.parametrize("bad,msg", [([], "no timed runs"), ([1.0, -1.0], "non-negative"),
                                     ([1.0, math.nan], "finite")])
def test_summary_rejects_bad_samples(bad, msg):
    with pytest.raises(ElirError, match=msg):
        summarize(bad)


def test_psnr_known_values():
    a, b = np.full(12, 0.5, np.float32), np.full(12, 0.75, np.float32)
    assert psnr_db(a, b) == pytest.approx(-10 * math.log10(0.0625), abs=1e-12)
    assert max_abs_err(a, b) == 0.25
    # Clamped to [0, 1] before PSNR (as the export gate is), raw for the max error; identical -> the cap.
    over, clamped = np.array([1.5, -0.25], np.float32), np.array([1.0, 0.0], np.float32)
    assert psnr_db(over, clamped) == PSNR_CAP_DB
    assert max_abs_err(over, clamped) == 0.5
    one = np.array([0.1, 0, 0, 0], np.float32)
    assert psnr_db(np.zeros(4, np.float32), one) == pytest.approx(-10 * math.log10(float(np.float32(0.1)) ** 2 / 4))


def test_psnr_rejects_size_mismatch():
    with pytest.raises(ElirError, match="reference has 4"):
        psnr_db(np.zeros(3), np.zeros(4))


def test_reference_vectors_read_as_the_card_says(tmp_path):
    x = np.arange(12, dtype="<f4").reshape(1, 3, 2, 2) / 12
    x.tofile(tmp_path / "m.input0.f32")
    (x * 2).astype("<f4").tofile(tmp_path / "m.expected.f32")
    card = {"reference_vectors": {"dtype": "float32", "byte_order": "little",
                                  "inputs": [{"file": "m.input0.f32", "shape": [1, 3, 2, 2], "layout": "NCHW"}],
                                  "output": {"file": "m.expected.f32", "shape": [1, 3, 2, 2], "layout": "NCHW"}}}
    (tmp_path / "m.json").write_text(json.dumps(card))
    inputs, expected = reference_vectors(tmp_path / "m.json")
    np.testing.assert_array_equal(inputs[0], x)
    np.testing.assert_array_equal(expected, x * 2)
    card["reference_vectors"]["output"]["shape"] = [1, 3, 2, 3]
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(ElirError, match="needs 18"):
        reference_vectors(tmp_path / "m.json")
