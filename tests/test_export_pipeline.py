"""The shared export pipeline (export/pipeline.py, export/cli.py, export/gates.py, the card schema), degradations,
calibration and graph rewrites.

Pipeline mechanics are tested through a real target, LiteRT, at the smallest size (32 px, one Euler step): its
float conversion is done once and reused by every export of the same model in this process, as the pipeline
does.  Each target's own steps are tested in its test file."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import elir_mobile
from elir_mobile.degradations import DEGRADATIONS, degrade
from elir_mobile.errors import ElirError
from elir_mobile.graph_rewrites import (ReshapeGroupNorm, SubpixelConvTranspose, rewrite_for_export,
                                       subpixel_conv_transposes, upsample_nearest_2x)
from elir_mobile.testing import make_test_weights, tiny_config
from export import calibration, cli, gates, pipeline, registry
from export.card import CardError, validate
from export.target import GateFailure, RuntimeInfo

ROOT = Path(__file__).resolve().parents[1]
TFLITE = registry.TARGETS["tflite"]


@pytest.fixture(scope="module")
def micro():
    """A 32 px, one-step version of the fixture architecture: every code path, seconds to export."""
    cfg = tiny_config(32)
    cfg["K"] = 1
    return cfg, make_test_weights(cfg, seed=0)


def _export(tmp_path, micro, argv=(), target=TFLITE):
    pytest.importorskip("litert_torch", reason="the pipeline tests export through LiteRT: pip install "
                                               "\"elir-mobile[tflite]\"")
    cfg, sd = micro
    args = cli.parse_args(target, ["--task", "sr", "--out", str(tmp_path), "--quiet", *argv])
    return pipeline.export(target, args, config=cfg, checkpoint=sd)


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


@pytest.mark.parametrize("bias,size", [(True, (3, 5)), (False, (4, 4)), (True, (1, 1))])
def test_subpixel_conv_transpose_matches_torch(bias, size):
    ct = torch.nn.ConvTranspose2d(6, 5, 4, stride=2, padding=1, bias=bias)
    x = torch.randn(2, 6, *size)
    with torch.no_grad():
        torch.testing.assert_close(SubpixelConvTranspose(ct)(x), ct(x), atol=1e-5, rtol=1e-5)


def test_only_the_k4_s2_p1_conv_transpose_is_rewritten():
    model = torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1),
                                torch.nn.ConvTranspose2d(4, 4, 2, stride=2))
    rewritten = subpixel_conv_transposes(model)
    assert [type(m).__name__ for m in rewritten] == ["SubpixelConvTranspose", "ConvTranspose2d"]
    assert isinstance(model[0], torch.nn.ConvTranspose2d)  # the original is untouched


def test_rewritten_baked_sampler_matches_and_leaves_original(micro):
    cfg, sd = micro
    baked = elir_mobile.baked(elir_mobile.load_model(config=cfg, checkpoint=sd))
    rewritten = subpixel_conv_transposes(rewrite_for_export(baked))
    assert not any(isinstance(m, (torch.nn.GroupNorm, torch.nn.Upsample, torch.nn.ConvTranspose2d))
                   for m in rewritten.modules())
    assert any(isinstance(m, torch.nn.GroupNorm) for m in baked.modules())
    x = calibration.degraded_images("sr", 32, 1, seed=1, progress=False)[0]
    with torch.no_grad():
        torch.testing.assert_close(rewritten(x), baked(x), atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------------ the pipeline


def test_export_writes_artifact_vectors_and_a_valid_card(tmp_path, micro):
    result = _export(tmp_path, micro)
    stem = "elir_sr_tflite_fp32"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([f"{stem}.tflite", f"{stem}.json", f"{stem}.input0.f32", f"{stem}.expected.f32"])
    card = json.loads((tmp_path / f"{stem}.json").read_text())
    assert card == result.card and validate(card) is card
    art = card["artifact"]
    assert art["sha256"] == hashlib.sha256((tmp_path / art["file"]).read_bytes()).hexdigest()
    assert art["size_bytes"] == (tmp_path / art["file"]).stat().st_size
    assert card["K"] == 1 and card["noise_mode"] == "fixed" and card["image_size"] == 32
    assert card["inputs"] == [{"name": "image", "shape": [1, 32, 32, 3], "layout": "NHWC", "dtype": "float32",
                               "kind": "tensor", "range": [0.0, 1.0], "quantization": None}]
    par = card["parity"]
    assert par["runtime_kind"] == "real" and par["passed"] is True and par["gate_source"] == "policy"
    assert len(par["cases"]) == pipeline.PARITY_CASES
    assert len({c["input"] for c in par["cases"]}) == pipeline.PARITY_CASES  # different photos
    assert par["min_psnr_db"] == min(c["psnr_db"] for c in par["cases"]) <= par["mean_psnr_db"]
    assert par["gate_db"] == par["policy_gate_db"] == gates.gate_for("tflite", "fp32")
    assert card["weights"]["source"] == "in-memory" and card["weights"]["sha256_of"] == "state_dict"
    assert card["export"]["seed"] == 0 and card["export"]["target"] == "tflite"
    assert card["placement"]["measure"] == TFLITE.placement_measure and 0 < card["placement"]["share"] <= 1
    assert card["macs"] > 0 and card["parameters"] > 0 and card["versions"]["torch"].startswith("2.")
    # The reference vectors are parity case 0 and reproduce: the artifact's runtime on input0 gives expected.
    rv = card["reference_vectors"]
    x = np.fromfile(tmp_path / rv["inputs"][0]["file"], dtype="<f4").reshape(rv["inputs"][0]["shape"])
    expected = np.fromfile(tmp_path / rv["output"]["file"], dtype="<f4").reshape(rv["output"]["shape"])
    out = TFLITE.load(tmp_path / art["file"])(x)
    assert pipeline.parity(expected, out)["psnr_db"] == pytest.approx(par["cases"][0]["psnr_db"] or np.inf, abs=1e-3)


def test_a_second_precision_reuses_the_float_conversion(tmp_path, micro):
    _export(tmp_path, micro)
    card = _export(tmp_path, micro, ["--precision", "fp16"]).card
    assert card["export"]["reused_float_conversion"] is True
    assert card["artifact"]["file"] == "elir_sr_tflite_fp16.tflite"


def test_nhwc_with_noise_input(tmp_path, micro):
    card = _export(tmp_path, micro, ["--noise", "input"]).card
    assert [(i["name"], i["shape"], i["layout"]) for i in card["inputs"]] == [
        ("image", [1, 32, 32, 3], "NHWC"), ("noise", [1, 4, 4, 16], "NHWC")]
    assert card["inputs"][1]["range"] == [-0.6, 0.6]  # six sigma of sigma_s = 0.1
    assert card["outputs"][0]["shape"] == [1, 32, 32, 3]
    assert (tmp_path / "elir_sr_tflite_fp32.input1.f32").stat().st_size == 4 * 4 * 4 * 16
    assert "noise seed" in card["parity"]["cases"][0]["input"]


def test_gate_failure_keeps_nothing(tmp_path, micro):
    with pytest.raises(GateFailure, match="worst of 3 inputs .* < 150 dB.*nothing written"):
        _export(tmp_path, micro, ["--gate-db", "150"])
    assert list(tmp_path.iterdir()) == []


def test_keep_failed_keeps_the_artifact_with_a_failed_card(tmp_path, micro, capsys):
    kept = tmp_path / "failed"
    out = tmp_path / "out"
    pytest.importorskip("litert_torch")
    code = cli.main(TFLITE, ["--task", "sr", "--tiny", "--image-size", "32", "--out", str(out), "--quiet",
                             "--gate-db", "150", "--keep-failed", str(kept)])
    assert code == 1 and "kept for inspection" in capsys.readouterr().err
    assert not out.exists()
    card = validate(json.loads((kept / "elir_sr_tflite_fp32.json").read_text()))
    assert card["parity"]["passed"] is False and card["parity"]["gate_source"] == "override"
    assert (kept / card["artifact"]["file"]).is_file()


def test_gate_override_is_recorded_beside_the_policy(tmp_path, micro):
    par = _export(tmp_path, micro, ["--gate-db", "60"]).card["parity"]
    assert par["gate_db"] == 60 and par["gate_source"] == "override" and par["policy_gate_db"] == 80
    assert par["passed"] is True


def test_failed_first_export_leaves_no_empty_output_folder(tmp_path, micro):
    out = tmp_path / "new" / "folder"
    with pytest.raises(GateFailure):
        _export(out, micro, ["--gate-db", "150"])
    assert not out.exists()


class NotRunHere(type(TFLITE)):
    """LiteRT as if its runtime could not run the artifact here (as for an NPU-only program)."""

    def runtime(self, args):
        return RuntimeInfo("not_run", None, "no NPU on this machine")


def test_an_artifact_that_cannot_run_here_says_so(tmp_path, micro):
    card = _export(tmp_path, micro, target=NotRunHere()).card
    par = card["parity"]
    assert par["runtime_kind"] == "not_run" and par["passed"] is None and par["cases"] == []
    assert par["not_run_reason"] == "no NPU on this machine" and par["min_psnr_db"] is None


def test_seeds_are_separate_and_recorded(tmp_path):
    def weights(*argv):
        return pipeline.load_weights(cli.parse_args(TFLITE, ["--task", "sr", "--tiny", "--image-size", "32", *argv]))

    base = weights()
    assert weights("--seed", "5").sha256 == base.sha256  # the export seed does not reseed the test weights
    other = weights("--weights-seed", "3")
    assert other.sha256 != base.sha256 and other.card() == {**base.card(), "sha256": other.sha256, "seed": 3}
    assert base.card()["source"] == "tiny" and base.card()["file"] is None


def test_calibration_batches_follow_noise_and_layout(tmp_path, micro):
    cfg, sd = micro
    args = cli.parse_args(TFLITE, ["--task", "bfr", "--out", str(tmp_path), "--noise", "input",
                                   "--calibration-images", "2"])
    job = pipeline.prepare_job(TFLITE, args, tmp_path, pipeline.load_weights(args, cfg, sd), progress=False)
    nchw, nhwc = job.calibration("nchw"), job.calibration("nhwc")
    assert len(nchw) == 2 and nchw[0][0].shape == (1, 3, 32, 32) and nchw[0][1].shape == (1, 16, 4, 4)
    assert nhwc[1][0].shape == (1, 32, 32, 3) and torch.equal(nhwc[1][0].permute(0, 3, 1, 2), nchw[1][0])
    assert not torch.equal(nchw[0][1], nchw[1][1])  # each calibration input has its own noise draw
    assert len(job.cases) == pipeline.PARITY_CASES and not torch.equal(job.cases[0].inputs[1], job.cases[1].inputs[1])


@pytest.mark.parametrize("argv, message", [
    (["--image-size", "48"], "multiple of 32"),
    (["--checkpoint", "/nonexistent/elir.pth"], "does not exist"),
    (["--calibration-dir", "/nonexistent"], "not a directory"),
    (["--gate-db", "-3"], "--gate-db must be"),
])
def test_cli_user_errors_are_one_line_exit_2(tmp_path, capsys, argv, message):
    code = cli.main(TFLITE, ["--task", "sr", "--out", str(tmp_path), *argv])
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
    b[0, 1, 0, 0] = np.nan
    with pytest.raises(GateFailure, match="not finite"):
        pipeline.parity(a, b)


# ------------------------------------------------------------------------------------------ the contract


def test_every_variant_has_a_gate_and_a_stem_of_its_own():
    """The gate table covers every (target, precision, compression) a command line can ask for, and no two
    variants, of one target or of two, share a file stem (so no card can overwrite another's)."""
    stems = {}
    for target in registry.TARGETS.values():
        parser = cli.build_parser(target)
        options = {a.dest: a.choices for a in parser._actions if a.choices and a.dest in ("backend", "compress")}
        for precision in target.precisions:
            for backend in options.get("backend", [None]):
                for compress in options.get("compress", ["none"]):
                    argv = ["--task", "sr", "--precision", precision]
                    argv += ["--backend", backend] if backend else []
                    argv += ["--compress", compress, "--min-ios", "18"] if "compress" in options else []
                    args = parser.parse_args(argv)
                    try:
                        target.validate(args)
                    except ElirError:
                        continue  # a combination the target refuses up front
                    assert 0 < target.policy_gate_db(args) < 200
                    stem = target.artifact_stem("sr", args)
                    assert stem not in stems, (stem, stems.get(stem))
                    stems[stem] = (target.name, argv)
    assert len(stems) > 10


def test_readme_shows_the_gate_table():
    assert gates.to_markdown() in (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def a_card(tmp_path_factory, micro) -> dict:
    return _export(tmp_path_factory.mktemp("card"), micro).card


@pytest.mark.parametrize("breakage, field", [
    (lambda c: c.pop("weights"), "(top level)"),
    (lambda c: c["inputs"][0].update(dtype="float64"), "inputs[0].dtype"),
    (lambda c: c["parity"].pop("min_psnr_db"), "parity"),
    (lambda c: c["artifact"].update(file="elir_sr_fp16.tflite"), "artifact.file"),
    (lambda c: c["parity"].update(runtime_kind="not_run", not_run_reason=None), "parity"),
    (lambda c: c["reference_vectors"]["output"].update(file="../x.f32"), "reference_vectors.output.file"),
])
def test_a_broken_card_is_rejected_naming_the_field(a_card, breakage, field):
    card = copy.deepcopy(a_card)
    breakage(card)
    with pytest.raises(CardError, match=re.escape(f"model card field {field}")):
        validate(card)


# ------------------------------------------------------------------------------------------ the command line


def _python(code: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def test_help_and_option_errors_load_no_sdk_and_no_torch():
    proc = _python("import sys\n"
                   "from export import cli, registry\n"
                   "for t in registry.TARGETS.values(): cli.build_parser(t).format_help()\n"
                   "print(sorted(m for m in ('torch', 'coremltools', 'executorch', 'litert_torch', 'ai_edge_litert')"
                   " if m in sys.modules))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("target, hidden", [("executorch", "executorch"), ("coreml", "coremltools"),
                                            ("tflite", "ai_edge_quantizer")])
def test_a_missing_sdk_is_one_line_naming_the_extra(tmp_path, target, hidden):
    out = tmp_path / "out"
    proc = _python(f"import sys\nsys.modules[{hidden!r}] = None  # as if not installed\n"
                   f"from export.cli import main\n"
                   f"sys.exit(main({target!r}, ['--task', 'sr', '--tiny', '--out', {str(out)!r}]))")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and f'pip install "elir-mobile[{target}]"' in lines[0]
    assert not out.exists()


def test_a_new_users_first_export_prints_only_our_lines(tiny_cli_export):
    card_path, stdout, stderr = tiny_cli_export
    assert card_path.is_file()
    foreign = [line for line in stderr.splitlines() if not line.startswith("[sr] ")]
    assert foreign == [], "third-party output reached the user:\n" + "\n".join(foreign)
    assert stdout.splitlines()[0].startswith("artifact ") and "worst" in stdout


def test_export_never_imports_benchmarks_and_the_core_never_imports_export():
    """The layers point one way: benchmarks -> export -> elir_mobile."""
    import ast

    def imported(package: str) -> dict[str, set[str]]:
        found = {}
        for path in (ROOT / package).rglob("*.py"):
            names = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
            found[str(path.relative_to(ROOT))] = names
        return found

    assert {p for p, names in imported("export").items() if "benchmarks" in names} == set()
    assert {p for p, names in imported("elir_mobile").items() if names & {"export", "benchmarks"}} == set()
