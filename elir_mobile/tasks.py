"""The five released ELIR configurations, as data.

Every number here comes from the reference spec (`ELIR_REFERENCE.md`): the shape of each network, the sampler
settings (K, sigma_s), the model's input size and where the released weights live.  Architecture dicts use the
same format as the golden fixture's ``config`` so test models and released models go through one code path.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

RELEASE_BASE_URL = "https://github.com/eladc-git/ELIR/releases/download/v1.0"
# The ELIR weights are released by their authors under this license (upstream repository's LICENSE).
WEIGHTS_LICENSE = "Apache-2.0 (ELIR reference weights, eladc-git/ELIR)"
# How an exported sampler gets its latent noise (see `elir_mobile.baked_sampler`).
NOISE_MODES = ("fixed", "input", "zero")


def architecture(*, unet_hid: int, n_mid_blocks: int, image_size: int, K: int) -> dict:
    """An architecture dict in the fixture's ``config`` format, for the released widths."""
    return {
        "K": K,
        "image_size": image_size,
        "latent_shape": [16, image_size // 8, image_size // 8],
        "t_emb_dim": 160,
        "time_scale": 1000,
        "fmir": {
            "ch_mult": [1, 2, 1, 2],
            "n_mid_blocks": n_mid_blocks,
            "in_channels": 16,
            "hid_channels": unet_hid,
            "out_channels": 16,
            "t_emb_dim": 160,
        },
        "mmse": {"c_inout": 16, "c_hid": 96, "n_rrdb": 3},
    }


@dataclass(frozen=True)
class Task:
    """One released configuration: what the model expects and how its inputs are made."""

    name: str
    description: str
    K: int
    sigma_s: float
    image_size: int
    unet_hid: int
    n_mid_blocks: int
    # How `restore` turns a user's image into model input: "resize" to image_size (aligned faces),
    # "upsample8" (x8 nearest-exact LQ faces), "upsample4" (bicubic x4, general images, tiled),
    # "tile" (use the image as is, tiled when larger than image_size).
    prepare: str
    degradation: str
    params: int
    config: dict = field(init=False, repr=False)

    def __post_init__(self):
        arch = architecture(unet_hid=self.unet_hid, n_mid_blocks=self.n_mid_blocks,
                            image_size=self.image_size, K=self.K)
        object.__setattr__(self, "config", arch)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (16, self.image_size // 8, self.image_size // 8)

    @property
    def file_name(self) -> str:
        return f"elir_{self.name}.pth"

    @property
    def url(self) -> str:
        return f"{RELEASE_BASE_URL}/{self.file_name}"

    def model_config(self) -> dict:
        """A copy of the architecture dict with the sampler settings, safe to modify."""
        cfg = copy.deepcopy(self.config)
        cfg["sigma_s"] = self.sigma_s
        return cfg


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("bfr", "blind face restoration (aligned 512x512 faces)", K=5, sigma_s=0.1, image_size=512,
             unet_hid=128, n_mid_blocks=3, prepare="resize", degradation="bfr", params=37_518_771),
        Task("sr", "face super-resolution x8 (32x32 LQ faces)", K=3, sigma_s=0.1, image_size=256,
             unet_hid=128, n_mid_blocks=1, prepare="upsample8", degradation="sr", params=26_893_747),
        Task("denoising", "face denoising (256x256)", K=3, sigma_s=0.025, image_size=256,
             unet_hid=128, n_mid_blocks=1, prepare="tile", degradation="denoising", params=26_893_747),
        Task("inpainting", "face inpainting, 90% of pixels missing (256x256)", K=3, sigma_s=0.1,
             image_size=256, unet_hid=128, n_mid_blocks=1, prepare="tile", degradation="inpainting",
             params=26_893_747),
        Task("bsr", "blind super-resolution x4 of general images (256x256 tiles)", K=3, sigma_s=0.04,
             image_size=256, unet_hid=96, n_mid_blocks=1, prepare="upsample4", degradation="bsr",
             params=19_083_923),
    )
}


def get_task(name: str) -> Task:
    """The task called `name`, or an error listing the valid names."""
    from .errors import ElirError

    try:
        return TASKS[name]
    except KeyError:
        raise ElirError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}") from None
