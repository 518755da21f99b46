"""Warm-run statistics shared by every harness.  Definitions (mirrored exactly in native/src/stats.cpp,
android_demo .../Stats.kt and ios_demo .../Stats.swift; all four are checked against the same known values):

- median: middle value of the sorted samples, mean of the middle two when n is even;
- p90: linear interpolation between closest ranks (numpy's default "linear"): h = 0.9 (n - 1),
  x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]);
- trimmed_mean_10_90: drop n // 10 samples from each end of the sorted list, mean of the rest
  (scipy.stats.trim_mean(x, 0.1)); robust to the odd scheduler hiccup without hiding a slow tail, which p90 shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from elir_mobile.errors import ElirError


def percentile(sorted_samples: Sequence[float], q: float) -> float:
    """q in [0, 100], samples already sorted ascending."""
    n = len(sorted_samples)
    h = (n - 1) * q / 100.0
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    return sorted_samples[lo] + (h - lo) * (sorted_samples[hi] - sorted_samples[lo])


def median(sorted_samples: Sequence[float]) -> float:
    n = len(sorted_samples)
    mid = n // 2
    return sorted_samples[mid] if n % 2 else 0.5 * (sorted_samples[mid - 1] + sorted_samples[mid])


def trimmed_mean_10_90(sorted_samples: Sequence[float]) -> float:
    n = len(sorted_samples)
    k = n // 10  # integer division, not floor(0.1 * n): identical in every language, no rounding surprises
    kept = sorted_samples[k : n - k]
    return sum(kept) / len(kept)


def summarize(samples_ms: Sequence[float]) -> dict:
    """The schema's `timing.warm` object for a list of per-run milliseconds."""
    if not samples_ms:
        raise ElirError("no timed runs to summarize (--runs must be >= 1)")
    xs = sorted(float(x) for x in samples_ms)
    if any(not math.isfinite(x) or x < 0 for x in xs):
        raise ElirError("timings must be finite and non-negative")
    return {
        "n": len(xs),
        "median": median(xs),
        "p90": percentile(xs, 90.0),
        "min": xs[0],
        "max": xs[-1],
        "mean": sum(xs) / len(xs),
        "trimmed_mean_10_90": trimmed_mean_10_90(xs),
    }
