"""The model core reproduces the reference implementation and loads every released layout strictly."""

from __future__ import annotations

import json

import pytest
import torch

import elir_mobile
from elir_mobile import TASKS, CheckpointError
from elir_mobile.checkpoint import collapse_overparametrized, expected_shapes
from elir_mobile.model import ELIR


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("layout", ["released", "training"])
def test_golden_fixture_trace(golden, layout):
    case = golden if layout == "released" else golden["training_checkpoint_case"]
    weights = golden["state_dict"] if layout == "released" else case["checkpoint"]
    model = elir_mobile.load_model(config=golden["config"], checkpoint=weights)
    with torch.no_grad():
        trace = model.trace(case["x"], case["noise"])
    for name, expected in case["trace"].items():
        assert rel_err(trace[name], expected) < 1e-5, name
    assert rel_err(trace["y"], case["y"]) < 1e-5
    if layout == "released":
        assert rel_err(trace["y"].clamp(0, 1), golden["y_clipped"]) < 1e-5


@pytest.fixture(scope="module")
def manifest(shared_dir) -> dict:
    return json.loads((shared_dir / "fixtures" / "official_state_dict_manifest.json").read_text())


@pytest.mark.parametrize("task", list(TASKS))
def test_released_layout_loads_strictly_and_runs(manifest, task):
    entry = manifest[task]
    generator = torch.Generator().manual_seed(1)
    state = {k: 0.02 * torch.randn(shape, generator=generator) for k, shape in entry["keys"].items()}
    model = elir_mobile.load_model(task, state)
    assert sum(p.numel() for p in model.parameters()) == entry["params_total"] == TASKS[task].params
    assert (model.K, model.sigma_s, model.image_size) == (entry["K"], entry["sigma_s"], entry["image_size"])
    assert list(model.latent_shape(entry["image_size"], entry["image_size"])) == entry["latent_shape"]
    for part, prefix in (("enc", "encoder"), ("mmse", "coarse"), ("fmir", "velocity"), ("dec", "decoder")):
        assert sum(p.numel() for p in getattr(model, prefix).parameters()) == entry["params"][part]
    x = torch.rand(1, 3, 64, 64, generator=generator)
    with torch.no_grad():
        y = model(x, torch.zeros(1, 16, 8, 8))
    assert y.shape == (1, 3, 64, 64) and torch.isfinite(y).all()


def test_overparametrized_collapse_is_exact():
    generator = torch.Generator().manual_seed(0)
    w1, b1 = torch.randn(64, 12, 3, 3, generator=generator), torch.randn(64, generator=generator)
    w2, b2 = torch.randn(16, 64, 1, 1, generator=generator), torch.randn(16, generator=generator)
    state = {"x.block.0.weight": w1, "x.block.0.bias": b1, "x.block.1.weight": w2, "x.block.1.bias": b2}
    collapsed = collapse_overparametrized(state)
    assert set(collapsed) == {"x.block.0.weight", "x.block.0.bias"}
    z = torch.randn(2, 12, 9, 9, generator=generator, dtype=torch.float64)
    two_convs = torch.conv2d(torch.conv2d(z, w1.double(), b1.double(), padding=1), w2.double(), b2.double())
    one_conv = torch.conv2d(z, collapsed["x.block.0.weight"].double(), collapsed["x.block.0.bias"].double(),
                            padding=1)
    assert rel_err(one_conv, two_convs) < 1e-6


def test_strict_loading_names_the_bad_keys(tiny_config, tiny_weights):
    state = dict(tiny_weights)
    state.pop("dec.layers.18.bias")
    state["fmir.extra.weight"] = torch.zeros(1)
    state["enc.layers.0.weight"] = torch.zeros(64, 3, 5, 5)
    with pytest.raises(CheckpointError) as info:
        elir_mobile.load_model(config=tiny_config, checkpoint=state)
    message = str(info.value)
    assert "dec.layers.18.bias" in message and "fmir.extra.weight" in message and "enc.layers.0.weight" in message


def test_checkpoint_of_another_task_is_named():
    with torch.device("meta"):
        bsr_shapes = expected_shapes(ELIR(TASKS["bsr"].model_config()))
    state = {k: torch.zeros(shape) for k, shape in bsr_shapes.items()}
    with pytest.raises(CheckpointError, match="checkpoint for bsr, not for task 'sr'"):
        elir_mobile.load_model("sr", state)


@pytest.mark.parametrize("noise_mode", ["input", "fixed", "zero"])
def test_baked_equals_reference(tiny_model, noise_mode):
    baked = elir_mobile.baked(tiny_model, noise_mode, seed=3)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    if noise_mode == "input":
        noise = tiny_model.draw_noise(x, torch.Generator().manual_seed(1))
        args = (x, noise)
    else:
        noise = baked.noise.expand(2, -1, -1, -1) if noise_mode == "fixed" else torch.zeros(2, 16, 8, 8)
        args = (x,)
    with torch.no_grad():
        assert rel_err(baked(*args), tiny_model(x, noise).clamp(0, 1)) < 1e-5


def test_fixed_noise_is_seeded_and_scaled(tiny_model):
    a, b = elir_mobile.baked(tiny_model, seed=5), elir_mobile.baked(tiny_model, seed=5)
    assert torch.equal(a.noise, b.noise)
    assert not torch.equal(a.noise, elir_mobile.baked(tiny_model, seed=6).noise)
    assert abs(a.noise.std().item() - tiny_model.sigma_s) < 0.02


@pytest.mark.parametrize("task", list(TASKS))
def test_baked_exports_strict_without_time_ops(task):
    """Every released architecture exports; nothing that depends only on time is left in the graph."""
    model = elir_mobile.load_model(config=TASKS[task].model_config())
    baked = elir_mobile.baked(model, "input", image_size=64)
    program = torch.export.export(baked, baked.example_inputs(), strict=True)
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert not {t for t in targets if any(w in t for w in ("linear", "addmm", ".sin", ".cos", "rand"))}
    assert sum(1 for n in program.graph.nodes if "conv" in str(n.target)) > 0
    x, noise = baked.example_inputs()
    with torch.no_grad():
        assert rel_err(program.module()(x, noise), baked(x, noise)) < 1e-6


def test_restore_is_reproducible(tiny_model):
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    a = elir_mobile.restore(tiny_model, x, seed=7)
    assert torch.equal(a, elir_mobile.restore(tiny_model, x, seed=7))
    assert not torch.equal(a, elir_mobile.restore(tiny_model, x, seed=8))
    assert a.min() >= 0 and a.max() <= 1


def test_unknown_task_and_noise_mode_are_user_errors(tiny_model):
    with pytest.raises(elir_mobile.ElirError, match="unknown task 'faces'"):
        elir_mobile.load_model("faces", {})
    with pytest.raises(elir_mobile.ElirError, match="unknown noise mode"):
        elir_mobile.baked(tiny_model, "random")
