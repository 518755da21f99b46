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


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """The suite's own cache folder (released weights, sensitivity sweeps), shared by its subprocesses: a run
    never reads a user's cache or one left by an earlier run."""
    import os

    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME")
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="session", autouse=True)
def every_card_the_suite_writes_validates(tmp_path_factory):
    """After the session, every model card under the session's temp folders must follow export/card.schema.json
    (the exporter validates before publishing; this catches any card written some other way)."""
    yield
    import json

    try:
        from export.card import validate
    except ImportError:  # jsonschema is in the dev extra
        return
    for path in sorted(tmp_path_factory.getbasetemp().rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and "schema_version" in data and "reference_vectors" in data:
            validate(data)


@pytest.fixture(scope="session")
def tiny_cli_export(tmp_path_factory):
    """What a new user's first command does: ``python -m export.tflite --task sr --tiny`` (at 32 px) in a fresh
    process.  Returns (card path, stdout, stderr); its card is a real one for the readers' tests."""
    import subprocess
    import sys

    pytest.importorskip("litert_torch", reason='needs the LiteRT exporter: pip install "elir-mobile[tflite]"')
    out = tmp_path_factory.mktemp("tiny-cli")
    proc = subprocess.run([sys.executable, "-m", "export.tflite", "--task", "sr", "--tiny", "--image-size", "32",
                           "--out", str(out)], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    return out / "elir_sr_tflite_fp32.json", proc.stdout, proc.stderr
