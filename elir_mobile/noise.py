"""The seeded latent noise that Python, the Android core (`Noise.kt`) and ELIRKit (`Noise.swift`) draw alike.

A restore of a photo larger than the model draws one noise field for the whole padded image and slices it per
tile (`tiling.run_tiled`).  For the phone to compute what the desktop computes, every platform must draw the same
field from the same seed; torch's generator cannot be reproduced in Kotlin or Swift, so this one is defined here
("elir-noise-1") and mirrored line for line there.

Value ``i`` of a field in C order (for a latent (C, H, W): ``i = (c * H + y) * W + x``) is::

    a  = splitmix64_mix(seed + (2 i + 1) * GAMMA)      # all uint64, wrapping: outputs 2i+1 and 2i+2 of the
    b  = splitmix64_mix(seed + (2 i + 2) * GAMMA)      # SplitMix64 stream seeded with `seed`
    u1 = ((a >> 11) + 1) * 2**-53                      # (0, 1]: log(u1) is finite
    u2 = (b >> 11) * 2**-53                            # [0, 1)
    noise = float32(sigma * (sqrt(-2 log(u1)) * cos((2 pi) u2)))   # Box-Muller in float64, rounded once

Each value depends only on (seed, i), so an app computes a tile's slice without the whole field.  The integer
part is exact everywhere; log and cos come from each platform's math library (numpy here, fdlibm through
`StrictMath` on the JVM, Apple's libm in Swift), which may round a float64 differently in the last bit, so values
agree exactly except, rarely, by one float32 ulp.  A negative seed is taken modulo 2**64.
"""

from __future__ import annotations

import numpy as np

GENERATOR = "elir-noise-1"
GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (Steele, Lea, Flood 2014), on uint64 arrays (numpy wraps on overflow)."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def gaussian(seed: int, start: int, count: int) -> np.ndarray:
    """Standard normal values ``start .. start + count - 1`` of the stream for `seed`, as float64."""
    i = np.arange(start, start + count, dtype=np.uint64)
    base = np.uint64(seed % 2**64)
    a = _mix(base + (np.uint64(2) * i + np.uint64(1)) * GAMMA)
    b = _mix(base + (np.uint64(2) * i + np.uint64(2)) * GAMMA)
    u1 = ((a >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0**-53
    u2 = (b >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def latent_noise(shape: tuple[int, ...], seed: int, sigma: float) -> np.ndarray:
    """A float32 field of `shape` (C order) with N(0, sigma^2) values from `seed`."""
    count = int(np.prod(shape))
    return (sigma * gaussian(seed, 0, count)).astype(np.float32).reshape(shape)
