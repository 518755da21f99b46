"""Tiled restoration: exact where one tile covers the image, seamless where tiles overlap."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from elir_mobile.restoration import prepare_input, restore_image
from elir_mobile.tasks import TASKS
from elir_mobile.tiling import run_tiled, tile_starts


def ramp_image(height: int, width: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    return torch.stack((xx, yy, 0.5 * (xx + yy)))[None]


def box_blur(image: torch.Tensor, _noise: torch.Tensor) -> torch.Tensor:
    """A zero-padded 9x9 blur: like any conv net, wrong near a tile's border, right inside."""
    return F.conv2d(image, torch.ones(3, 1, 9, 9) / 81, padding=4, groups=3)


def test_tile_starts_cover_the_image_on_the_latent_grid():
    for length in (64, 65, 200, 1000):
        starts = tile_starts(max(length, 64), 64, 16)
        assert starts[0] == 0 and starts[-1] + 64 == max(length, 64)
        assert all(s % 8 == 0 for s in starts) or max(length, 64) % 8
        assert all(b - a <= 64 - 16 for a, b in zip(starts, starts[1:]))


def test_one_tile_reproduces_the_untiled_model(tiny_model):
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    noise = 0.1 * torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        tiled = run_tiled(lambda x, e: tiny_model(x, e), image, noise, tile=64, overlap=16, progress=False)
        direct = tiny_model(image, noise)
    assert torch.allclose(tiled, direct, atol=1e-6)


def test_no_seams_on_a_smooth_ramp():
    image = ramp_image(200, 328)
    untiled = box_blur(image, None)
    noise = torch.zeros(1, 16, 25, 41)
    blended = run_tiled(box_blur, image, noise, tile=64, overlap=16, progress=False)
    hard = run_tiled(box_blur, image, noise, tile=64, overlap=0, progress=False)

    def worst_step(result: torch.Tensor) -> float:
        """Largest jump of (tiled - untiled) between neighbouring pixels, in 8-bit levels."""
        d = result - untiled
        return 255 * max((d[..., 1:] - d[..., :-1]).abs().max().item(),
                         (d[..., 1:, :] - d[..., :-1, :]).abs().max().item())

    assert worst_step(hard) > 10  # the test can see a seam when there is one
    assert worst_step(blended) < 0.5  # invisible in an 8-bit image
    assert (blended - untiled).abs().max().item() * 255 < 1.0


def test_restore_image_sizes_per_task(tiny_model):
    image = torch.rand(1, 3, 24, 40)
    assert prepare_input(image, TASKS["bfr"]).shape[-2:] == (512, 512)
    assert prepare_input(image, TASKS["sr"]).shape[-2:] == (256, 256)
    assert prepare_input(image, TASKS["bsr"]).shape[-2:] == (96, 160)
    assert prepare_input(image, TASKS["denoising"]).shape[-2:] == (24, 40)
    big = ramp_image(100, 150)
    out = restore_image(tiny_model, big, TASKS["denoising"], seed=0, progress=False)
    assert out.shape == big.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, restore_image(tiny_model, big, TASKS["denoising"], seed=0, progress=False))
