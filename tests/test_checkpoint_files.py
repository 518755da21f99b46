"""Checkpoint files on disk: every accepted layout loads, every bad file is refused with one clear message."""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

import elir_mobile
from elir_mobile import CheckpointError
from elir_mobile.checkpoint import read_checkpoint


class _RunsCode:
    """Unpickling this would run a shell command that leaves a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def _same_weights(model, state):
    loaded = elir_mobile.load_model(config=model.config, checkpoint=state)
    return all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_pth_and_safetensors_round_trip(tmp_path, tiny_config, tiny_weights, tiny_model):
    torch.save(tiny_weights, tmp_path / "w.pth")
    save_file(tiny_weights, str(tmp_path / "w.safetensors"))
    for name in ("w.pth", "w.safetensors"):
        assert _same_weights(tiny_model, read_checkpoint(tmp_path / name))


def test_training_ckpt_file_collapses(tmp_path, golden):
    path = tmp_path / "last.ckpt"
    torch.save({**golden["training_checkpoint_case"]["checkpoint"], "epoch": 12}, path)
    model = elir_mobile.load_model(config=golden["config"], checkpoint=path)
    case = golden["training_checkpoint_case"]
    with torch.no_grad():
        y = model(case["x"], case["noise"])
    assert ((y - case["y"]).norm() / case["y"].norm()).item() < 1e-5


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_pickle_with_code_is_refused_not_run(tmp_path, tiny_config, how):
    marker = tmp_path / "was_executed"
    path = tmp_path / "evil.pth"
    payload = {"enc.layers.0.weight": _RunsCode(marker)}
    if how == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(CheckpointError, match="refused"):
        elir_mobile.load_model(config=tiny_config, checkpoint=path)
    assert not marker.exists()


def test_not_a_checkpoint(tmp_path, tiny_config):
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        elir_mobile.load_model(config=tiny_config, checkpoint=path)


def test_truncated_checkpoint(tmp_path, tiny_config, tiny_weights):
    path = tmp_path / "cut.pth"
    torch.save(tiny_weights, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        elir_mobile.load_model(config=tiny_config, checkpoint=path)


def test_bad_safetensors_and_missing_file(tmp_path, tiny_config):
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        elir_mobile.load_model(config=tiny_config, checkpoint=tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        elir_mobile.load_model(config=tiny_config, checkpoint=tmp_path / "absent.pth")
