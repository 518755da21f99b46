"""Host and quality benchmarks run end to end on fixture-size models; their metrics are right on known cases."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from benchmarks import host, quality


def test_metrics_on_known_cases():
    rng = np.random.default_rng(0)
    image = rng.uniform(0.2, 0.8, (3, 64, 64))
    same = quality.scores(image, image)
    assert same["psnr"] == math.inf or same["psnr"] > 100
    assert same["ssim"] == pytest.approx(1.0)
    sigma = 0.05  # additive noise that never clips: PSNR = 20 log10(1 / sigma) = 26.02 dB
    noisy = image + rng.normal(0, sigma, image.shape)
    assert quality.scores(noisy, image)["psnr"] == pytest.approx(20 * math.log10(1 / sigma), abs=0.1)
    assert quality.scores(noisy, image)["ssim"] < 0.99


@pytest.fixture()
def photo_folder(tmp_path):
    folder = tmp_path / "hq"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        yy, xx = np.mgrid[0:80, 0:96]
        img = np.stack([xx / 96, yy / 80, 0.5 + 0.3 * np.sin(xx / 7.0 + i)], -1) + rng.normal(0, 0.02, (80, 96, 3))
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


def test_quality_end_to_end(tmp_path, photo_folder):
    out = tmp_path / "q"
    assert quality.main(["--task", "denoising", "--tiny", "--images", str(photo_folder), "--out", str(out)]) == 0
    report = json.loads((out / "quality_denoising.json").read_text())
    assert report["images"] == 2 and report["lpips"].startswith("skipped")
    for key in ("lq", "float"):
        assert set(report["summary"][key]) == {"psnr", "ssim"}
    assert len(report["per_image"]) == 2 and report["per_image"][0]["image"] == "img0.png"
    grid = Image.open(out / "quality_denoising_grid.png")
    assert grid.size == (64 * 3, (64 + 14) * 2)  # LQ, float, HQ for two images
    assert (out / "quality_denoising.md").read_text().startswith("### Quality")


def test_quality_on_the_bundled_sample_photos(tmp_path):
    out = tmp_path / "q"
    assert quality.main(["--task", "denoising", "--tiny", "--sample-images", "--limit", "2", "--grid", "1",
                         "--out", str(out)]) == 0
    report = json.loads((out / "quality_denoising.json").read_text())
    assert [r["image"] for r in report["per_image"]] == ["astronaut.png", "coffee.png"]
    assert report["summary"]["float"]["psnr"] > 0


def test_quality_pairs_need_matching_names(tmp_path, photo_folder, capsys):
    lq = tmp_path / "lq"
    lq.mkdir()
    Image.new("RGB", (16, 16)).save(lq / "other.png")
    code = quality.main(["--task", "sr", "--tiny", "--lq", str(lq), "--hq", str(photo_folder),
                         "--out", str(tmp_path / "q")])
    assert code == 2 and "other.png has no ground truth" in capsys.readouterr().err


def test_host_eager_end_to_end(tmp_path):
    out = tmp_path / "h"
    code = host.main(["--task", "sr", "--tiny", "--runs", "3", "--warmup", "1", "--out", str(out), "--whole-photo"])
    assert code == 0
    report = json.loads((out / "host_sr.json").read_text())
    row = report["rows"][0]
    assert row["name"] == "eager PyTorch" and row["ratio_to_eager"] == 1.0
    assert row["ms"]["n"] == 3 and row["ms"]["min"] <= row["ms"]["median"] <= row["ms"]["p90"]
    assert row["peak_rss_mb"] > 50 and report["macs"] > 0
    assert report["machine"]["cpu"]["model"] and report["machine"]["cpu"]["arch"]
    if report["roof"] is not None:  # None only without cmake / a C++ compiler (roof_missing says so)
        assert row["roof"] == "fp32_fma" and 0 < row["share_of_roof"] < 1.5
    assert set(report["stages_ms"]["eager"]) == {"encoder", "coarse", "encode", "unet_step", "unet_all_steps",
                                                 "decoder"}
    photo = report["whole_photo"]  # the group photo's six faces, each stage timed
    assert photo["faces"] == 6 and photo["detect_ms"] > 0 and photo["restore_ms"] > 0 and photo["paste_ms"] > 0
    assert "Whole photo" in (out / "host_sr.md").read_text()


def test_host_times_an_artifact_beside_eager(tmp_path, tiny_cli_export):
    card_path, _, _ = tiny_cli_export
    out = tmp_path / "h"
    code = host.main(["--task", "sr", "--tiny", "--image-size", "32", "--artifacts", str(card_path.parent),
                      "--runs", "2", "--warmup", "1", "--out", str(out), "--no-rss"])
    assert code == 0
    rows = {r["name"]: r for r in json.loads((out / "host_sr.json").read_text())["rows"]}
    assert set(rows) == {"eager PyTorch", "elir_sr_tflite_fp32.tflite"}
    assert rows["elir_sr_tflite_fp32.tflite"]["ms"]["n"] == 2


def test_quality_compares_an_artifact_with_the_noise_it_was_exported_with(tmp_path):
    """An artifact exported with --seed 7 bakes seed 7's noise: "vs float" must use that noise, not the
    benchmark's own --seed (it read a card field no exporter wrote, and compared against seed 0's noise)."""
    pytest.importorskip("litert_torch", reason='needs the LiteRT exporter: pip install "elir-mobile[tflite]"')
    from export import cli, pipeline, registry

    target = registry.TARGETS["tflite"]
    artifacts = tmp_path / "a"
    pipeline.export(target, cli.parse_args(target, ["--task", "sr", "--tiny", "--image-size", "32", "--seed", "7",
                                                    "--out", str(artifacts), "--quiet"]))
    out = tmp_path / "q"
    assert quality.main(["--task", "sr", "--tiny", "--image-size", "32", "--sample-images", "--limit", "1",
                         "--artifacts", str(artifacts), "--out", str(out)]) == 0
    report = json.loads((out / "quality_sr.json").read_text())
    vs_float = report["summary"]["artifacts"]["elir_sr_tflite_fp32.tflite"]["vs_float"]["psnr"]
    assert vs_float > 80, vs_float


def test_an_avx2_only_table_with_a_pte_says_the_wheel_kernels_are_slow():
    avx2 = {"isa": ["avx2", "fma"]}
    assert host.machine_notes(avx2, ["pte", "tflite"])[0].startswith("without AVX-512, ExecuTorch's pip wheel")
    assert host.machine_notes(avx2, ["tflite"]) == []
    assert host.machine_notes({"isa": ["avx2", "fma", "avx512f", "avx512_vnni"]}, ["pte"]) == []
    assert host.machine_notes({"isa": ["asimd", "asimddp"]}, ["pte"]) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss carries over exec on Linux")
def test_probe_reports_its_own_peak_memory_not_its_parents():
    """A probe is a child of the (large) benchmark process; its peak must be its own."""
    ballast = np.ones(64 << 20)  # 512 MB, touched, in this process
    child = subprocess.run([sys.executable, "-c", "from benchmarks.host import peak_rss_mb; print(peak_rss_mb())"],
                           capture_output=True, text=True, check=True)
    assert float(child.stdout.split()[-1]) < host.peak_rss_mb() - 400
    del ballast


def test_the_roof_builds_runs_and_names_its_kernels():
    """The native roof microbenchmark on a short setting: real kernels for this ISA; figures printed, not asserted
    against a speed (they depend on the machine)."""
    from benchmarks import roof

    result = roof.measure(threads=1, seconds=0.05)
    print(roof.to_markdown(result))
    assert result["threads"] == 1 and result["cpu"] == roof.cpu_info()
    if result["cpu"]["arch"] in ("x86_64", "AMD64") and "avx2" in result["cpu"]["isa"]:
        assert result["fp32_fma"]["kernel"] in ("avx512f", "avx2+fma")
        assert result["int8_dot"]["kernel"] == ("avx512_vnni" if "avx512_vnni" in result["cpu"]["isa"] else
                                                "avx_vnni" if "avx_vnni" in result["cpu"]["isa"] else "avx2")
    assert result["fp32_fma"]["gmacs"] > 0
    # An int8 dot product retires at least as many MACs per cycle as an fp32 FMA on every listed kernel.
    assert result["int8_dot"] is None or result["int8_dot"]["gmacs"] > result["fp32_fma"]["gmacs"]
