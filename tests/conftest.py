"""Shared fixtures: paths to ../shared (skipping cleanly where a user's clone lacks it) and small models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "fixtures").is_dir():
        pytest.skip(f"golden fixtures not found at {SHARED}/fixtures (they ship beside the repository in CI)")
    return SHARED


@pytest.fixture(scope="session")
def golden(shared_dir) -> dict:
    return torch.load(shared_dir / "fixtures" / "elir_reference_tiny.pt", weights_only=True)


@pytest.fixture(scope="session")
def tiny_config() -> dict:
    """The golden fixture's small architecture (64 px images, 8x8 latent); needs no ../shared."""
    from elir_mobile.testing import tiny_config

    return tiny_config()


@pytest.fixture(scope="session")
def tiny_weights(tiny_config) -> dict:
    """Test weights by the fixtures-README recipe (seed 0) for the tiny architecture."""
    from elir_mobile.testing import make_test_weights

    return make_test_weights(tiny_config, seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_config, tiny_weights):
    import elir_mobile

    return elir_mobile.load_model(config=tiny_config, checkpoint=tiny_weights)
