"""The shared export pipeline (export/pipeline.py), degradations, calibration and graph rewrites.

Pipeline mechanics are tested with a minimal real backend: a ``torch.export`` archive (.pt2) run by torch's own
ExportedProgram loader.  Target runtimes are tested in each target's test file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import elir_mobile
from elir_mobile.degradations import DEGRADATIONS, degrade
from elir_mobile.errors import ElirError
from elir_mobile.graph_rewrites import ReshapeGroupNorm, rewrite_for_export, upsample_nearest_2x
from elir_mobile.testing import make_test_weights, tiny_config
from export import calibration, pipeline
from export.pipeline import Backend, Conversion, GateFailure, RuntimeUnavailable

CARD_KEYS = {"schema_version", "task", "K", "sigma_s", "noise_mode", "image_size", "artifact", "inputs", "outputs",
             "parameters", "macs", "parity", "op_placement", "op_audit", "quantization", "conversion_seconds",
             "versions", "reference_vectors", "runtime_notes"}


@pytest.fixture(scope="module")
def micro():
    """A 32 px, one-step version of the fixture architecture: every code path, seconds to export."""
    cfg = tiny_config(32)
    cfg["K"] = 1
    return cfg, make_test_weights(cfg, seed=0)


class Pt2Backend(Backend):
    """A real, minimal target: a torch.export archive executed by torch.export.load."""

    name = "pt2"
    format = "pt2"
    suffix = ".pt2"
    runtime = "torch.export.load"
    layouts = ("nchw", "nhwc")

    def __init__(self, offset: float = 0.0, runnable: bool = True):
        self.offset, self.runnable = offset, runnable

    def gate_db(self, precision):
        return 80.0

    def convert(self, job):
        ep = torch.export.export(job.module, job.example_inputs)
        path = job.workdir / f"{job.stem}{self.suffix}"
        torch.export.save(ep, path)
        ops = sorted({str(n.target) for n in ep.graph.nodes if n.op == "call_function"})
        return Conversion(artifact=path, backend="cpu", op_placement={"delegated_mac_share": 1.0},
                          op_audit={"op_counts": {o: 1 for o in ops}, "flagged": []})

    def run(self, artifact, inputs):
        if not self.runnable:
            raise RuntimeUnavailable("pt2 runtime switched off for this test")
        out = torch.export.load(artifact).module()(*(torch.from_numpy(a) for a in inputs))
        return out.detach().numpy() + self.offset


def _export(tmp_path, micro, argv=(), backend=None):
    cfg, sd = micro
    backend = backend or Pt2Backend()
    args = pipeline.parse_args(backend, ["--task", "sr", "--out", str(tmp_path), "--quiet", *argv])
    return pipeline.export(backend, args, config=cfg, checkpoint=sd)


# ------------------------------------------------------------------------------------------ degradations


@pytest.mark.parametrize("kind", sorted(DEGRADATIONS))
def test_degradations_are_seeded_shaped_and_change_the_image(kind):
    clean = calibration.source_images(None)[0][1]
    a = degrade(kind, clean, np.random.default_rng(3), 64)
    b = degrade(kind, clean, np.random.default_rng(3), 64)
    c = degrade(kind, clean, np.random.default_rng(4), 64)
    assert a.shape == (3, 64, 64) and a.dtype == torch.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    reference = F.interpolate(clean[None], size=(64, 64), mode="bicubic", antialias=True)[0].clamp(0, 1)
    assert (a - reference).abs().mean() > 0.02  # visibly degraded


def test_inpainting_masks_about_ninety_percent():
    clean = torch.full((3, 64, 64), 0.8)
    out = degrade("inpainting", clean, np.random.default_rng(0), 64)
    dark = (out.mean(0) < 0.4).float().mean()  # masked pixels are 0 + small noise
    assert 0.85 < dark < 0.95


def test_unknown_degradation_is_a_user_error():
    with pytest.raises(ElirError, match="unknown degradation"):
        degrade("nope", torch.zeros(3, 8, 8), np.random.default_rng(0), 8)


# ------------------------------------------------------------------------------------------ calibration


def test_default_calibration_uses_scikit_image_samples():
    images = calibration.source_images(None)
    assert [n for n, _ in images] == list(calibration.SKIMAGE_SAMPLES)
    assert all(t.shape[0] == 3 and t.dtype == torch.float32 for _, t in images)


def test_calibration_dir_and_its_errors(tmp_path):
    with pytest.raises(ElirError, match="holds no images"):
        calibration.source_images(tmp_path)
    Image.fromarray(np.full((40, 50, 3), 200, np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ElirError, match="cannot read calibration image"):
        calibration.source_images(tmp_path)
    (tmp_path / "b.jpg").unlink()
    batches = calibration.degraded_images("denoising", 32, 3, seed=0, calibration_dir=tmp_path, progress=False)
    assert len(batches) == 3 and batches[0].shape == (1, 3, 32, 32)


# ------------------------------------------------------------------------------------------ graph rewrites


def test_reshape_group_norm_matches_torch():
    gn = torch.nn.GroupNorm(8, 32, eps=1e-5)
    with torch.no_grad():
        gn.weight.normal_()
        gn.bias.normal_()
    x = torch.randn(2, 32, 5, 7) * 3 + 1
    torch.testing.assert_close(ReshapeGroupNorm(gn)(x), gn(x), atol=1e-5, rtol=1e-5)


def test_upsample_rewrite_matches_nearest():
    x = torch.randn(1, 4, 3, 5)
    assert torch.equal(upsample_nearest_2x(x), F.interpolate(x, scale_factor=2, mode="nearest"))


def test_rewritten_baked_sampler_matches_and_leaves_original(micro):
    cfg, sd = micro
    baked = elir_mobile.baked(elir_mobile.load_model(config=cfg, checkpoint=sd))
    rewritten = rewrite_for_export(baked)
    assert not any(isinstance(m, (torch.nn.GroupNorm, torch.nn.Upsample)) for m in rewritten.modules())
    assert any(isinstance(m, torch.nn.GroupNorm) for m in baked.modules())
    x = calibration.degraded_images("sr", 32, 1, seed=1, progress=False)[0]
    with torch.no_grad():
        torch.testing.assert_close(rewritten(x), baked(x), atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------------ the pipeline


def test_export_writes_artifact_vectors_and_card(tmp_path, micro):
    result = _export(tmp_path, micro)
    stem = "elir_sr_fp32"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([f"{stem}.pt2", f"{stem}.json", f"{stem}.input0.f32", f"{stem}.expected.f32"])
    card = json.loads((tmp_path / f"{stem}.json").read_text())
    assert card == result.card and set(card) == CARD_KEYS
    art = card["artifact"]
    assert art["sha256"] == hashlib.sha256((tmp_path / art["file"]).read_bytes()).hexdigest()
    assert art["size_bytes"] == (tmp_path / art["file"]).stat().st_size
    assert card["K"] == 1 and card["noise_mode"] == "fixed" and card["image_size"] == 32
    assert card["inputs"] == [{"name": "image", "shape": [1, 3, 32, 32], "layout": "NCHW", "dtype": "float32",
                               "range": [0, 1]}]
    assert card["parity"]["passed"] is True and card["parity"]["max_abs_err"] < 1e-5
    assert card["macs"] > 0 and card["parameters"] > 0 and card["versions"]["torch"].startswith("2.")
    # The reference vectors reproduce: the artifact's runtime on input0 gives expected.
    rv = card["reference_vectors"]
    x = np.fromfile(tmp_path / rv["inputs"][0]["file"], dtype="<f4").reshape(rv["inputs"][0]["shape"])
    expected = np.fromfile(tmp_path / rv["output"]["file"], dtype="<f4").reshape(rv["output"]["shape"])
    out = Pt2Backend().run(tmp_path / art["file"], [x])
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_nhwc_with_noise_input(tmp_path, micro):
    card = _export(tmp_path, micro, ["--layout", "nhwc", "--noise", "input"]).card
    assert [(i["name"], i["shape"], i["layout"]) for i in card["inputs"]] == [
        ("image", [1, 32, 32, 3], "NHWC"), ("noise", [1, 4, 4, 16], "NHWC")]
    assert card["outputs"][0]["shape"] == [1, 32, 32, 3]
    assert (tmp_path / "elir_sr_fp32.input1.f32").stat().st_size == 4 * 4 * 4 * 16


def test_gate_failure_keeps_nothing(tmp_path, micro):
    with pytest.raises(GateFailure, match="parity gate failed"):
        _export(tmp_path, micro, backend=Pt2Backend(offset=0.01))
    assert list(tmp_path.iterdir()) == []


def test_another_targets_card_is_never_overwritten(tmp_path, micro):
    """Core ML and LiteRT both name their fp16 card elir_sr_fp16.json: the second export into one folder stops."""
    first = _export(tmp_path, micro).card
    other = Pt2Backend()
    other.suffix = ".other"
    with pytest.raises(ElirError, match="is the model card of elir_sr_fp32.pt2"):
        _export(tmp_path, micro, backend=other)
    assert json.loads((tmp_path / "elir_sr_fp32.json").read_text()) == first
    _export(tmp_path, micro)  # the same artifact again is an update, not a clash


def test_failed_first_export_leaves_no_empty_output_folder(tmp_path, micro):
    out = tmp_path / "new" / "folder"
    args = pipeline.parse_args(Pt2Backend(offset=0.01), ["--task", "sr", "--out", str(out), "--quiet"])
    with pytest.raises(GateFailure):
        pipeline.export(Pt2Backend(offset=0.01), args, config=micro[0], checkpoint=micro[1])
    assert not out.exists()


def test_unavailable_runtime_is_recorded_not_faked(tmp_path, micro):
    card = _export(tmp_path, micro, backend=Pt2Backend(runnable=False)).card
    assert card["parity"]["passed"] is None and card["parity"]["psnr_db"] is None
    assert "not run here" in card["runtime_notes"]


def test_calibration_batches_follow_noise_and_layout(tmp_path, micro):
    cfg, sd = micro
    backend = Pt2Backend()
    args = pipeline.parse_args(backend, ["--task", "bfr", "--out", str(tmp_path), "--noise", "input",
                                         "--calibration-images", "2"])
    job = pipeline.prepare_job(backend, args, tmp_path, config=cfg, checkpoint=sd, progress=False)
    nchw, nhwc = job.calibration("nchw"), job.calibration("nhwc")
    assert len(nchw) == 2 and nchw[0][0].shape == (1, 3, 32, 32) and nchw[0][1].shape == (1, 16, 4, 4)
    assert nhwc[1][0].shape == (1, 32, 32, 3) and torch.equal(nhwc[1][0].permute(0, 3, 1, 2), nchw[1][0])
    assert not torch.equal(nchw[0][1], nchw[1][1])  # each calibration input has its own noise draw


@pytest.mark.parametrize("argv, message", [
    (["--image-size", "48"], "multiple of 32"),
    (["--checkpoint", "/nonexistent/elir.pth"], "does not exist"),
    (["--calibration-dir", "/nonexistent"], "not a directory"),
])
def test_cli_user_errors_are_one_line_exit_2(tmp_path, capsys, argv, message):
    code = pipeline.main(Pt2Backend(), ["--task", "sr", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_parity_metrics():
    a = np.zeros((1, 3, 4, 4), np.float32)
    b = a.copy()
    b[0, 0, 0, 0] = 2.0  # clamped to 1 before comparing
    p = pipeline.parity(a, b)
    assert p["max_abs_err"] == 1.0
    assert p["psnr_db"] == pytest.approx(10 * np.log10(48))
    assert pipeline.parity(a, a)["psnr_db"] == float("inf")
