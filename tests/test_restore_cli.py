"""`python -m elir_mobile restore`: end to end on a generated checkpoint, an aligned crop and a whole photo (float
model and a tiny exported artifact), and every bad input."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from elir_mobile.cli import main
from elir_mobile.testing import make_test_weights


@pytest.fixture(scope="module")
def sr_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "elir_sr_test.pth"
    torch.save(make_test_weights("sr"), path)
    return path


@pytest.fixture()
def lq_face(tmp_path):
    path = tmp_path / "lq.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


def run_cli(capsys, *args) -> tuple[int, str]:
    code = main(["restore", *map(str, args)])
    return code, capsys.readouterr().err


def test_restore_end_to_end_in_a_subprocess(tmp_path, sr_checkpoint, lq_face):
    out = tmp_path / "restored.png"
    cmd = [sys.executable, "-m", "elir_mobile", "restore", "--task", "sr", "--checkpoint", str(sr_checkpoint),
           "--input", str(lq_face), "--output", str(out), "--seed", "3", "--aligned"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    first = np.asarray(Image.open(out))
    assert first.shape == (256, 256, 3) and first.std() > 1
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    assert np.array_equal(first, np.asarray(Image.open(out)))  # the seed makes it reproducible
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lq.png", "restored.png"]


def test_image_variants_are_read(tmp_path, sr_checkpoint, capsys):
    """Grayscale 16-bit, RGBA and EXIF-rotated inputs all restore."""
    gray16 = tmp_path / "gray16.png"
    Image.fromarray((np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16)).save(gray16)
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (32, 32), (10, 200, 30, 128)).save(rgba)
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    Image.new("RGB", (40, 24), (90, 60, 30)).save(rotated, exif=exif)
    from elir_mobile.image_io import read_image

    assert read_image(gray16).shape == (1, 3, 32, 32) and abs(read_image(gray16).max().item() - 61380 / 65535) < 1e-6
    assert read_image(rotated).shape == (1, 3, 40, 24)
    for image in (gray16, rgba, rotated):
        code, err = run_cli(capsys, "--task", "sr", "--checkpoint", sr_checkpoint, "--input", image,
                            "--output", tmp_path / f"{image.stem}_out.webp", "--aligned")
        assert code == 0, err


def _png_with_zero_width() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 0, 16, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _evil_pickle(marker) -> bytes:
    import pickle

    class RunsCode:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    return pickle.dumps({"enc.layers.0.weight": RunsCode()})


@pytest.mark.parametrize("case", ["unknown task", "not a checkpoint", "truncated", "pickle with code",
                                  "other task", "undecodable image", "zero-size image", "empty image",
                                  "missing output dir"])
def test_bad_input_one_line_exit_2_nothing_written(case, tmp_path, capsys, lq_face, sr_checkpoint):
    out = tmp_path / "out" / "restored.png"
    out.parent.mkdir()
    args = {"--task": "sr", "--checkpoint": sr_checkpoint, "--input": lq_face, "--output": out}
    expect = {"unknown task": "unknown task", "not a checkpoint": "not a PyTorch checkpoint",
              "truncated": "truncated or corrupt", "pickle with code": "refused",
              "other task": "checkpoint for bsr", "undecodable image": "cannot decode",
              "zero-size image": "zero size|cannot decode", "empty image": "empty",
              "missing output dir": "does not exist"}[case]
    bad = tmp_path / "bad"
    if case == "unknown task":
        args["--task"] = "deblur"
    elif case == "not a checkpoint":
        bad.write_text("hello")
        args["--checkpoint"] = bad
    elif case == "truncated":
        bad.write_bytes(sr_checkpoint.read_bytes()[:5_000_000])
        args["--checkpoint"] = bad
    elif case == "pickle with code":
        bad.write_bytes(_evil_pickle(tmp_path / "executed"))
        args["--checkpoint"] = bad
    elif case == "other task":
        torch.save(make_test_weights("bsr"), bad)
        args["--checkpoint"] = bad
    elif case == "undecodable image":
        bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        args["--input"] = bad
    elif case == "zero-size image":
        bad.write_bytes(_png_with_zero_width())
        args["--input"] = bad
    elif case == "empty image":
        bad.write_bytes(b"")
        args["--input"] = bad
    else:
        args["--output"] = tmp_path / "nowhere" / "restored.png"
    code, err = run_cli(capsys, *[v for pair in args.items() for v in pair], "--aligned")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    import re

    assert re.search(expect, lines[0]), lines[0]
    assert not any(out.parent.iterdir())
    assert not (tmp_path / "executed").exists()


# ------------------------------------------------------------------------------------------- whole photos

@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """scikit-image's astronaut (one face) and coffee (none) as PNG files."""
    pytest.importorskip("ai_edge_litert", reason='face detection needs LiteRT: pip install "elir-mobile[faces]"')
    data = pytest.importorskip("skimage.data", reason="the test photos ship with scikit-image (dev extras)")
    d = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "coffee"):
        Image.fromarray(getattr(data, name)()).save(d / f"{name}.png")
    return d


def test_a_whole_photo_in_a_whole_photo_out(tmp_path, capsys, sr_checkpoint, photos):
    crops = tmp_path / "crops"
    crops.mkdir()
    out = tmp_path / "restored.png"
    code, err = run_cli(capsys, "--task", "sr", "--checkpoint", sr_checkpoint, "--input", photos / "astronaut.png",
                        "--output", out, "--upscale", "2", "--save-crops", crops)
    assert code == 0, err
    restored = np.asarray(Image.open(out)).astype(np.int16)
    assert restored.shape == (1024, 1024, 3)
    assert sorted(p.name for p in crops.iterdir()) == ["face00_aligned.png", "face00_restored.png"]
    assert Image.open(crops / "face00_aligned.png").size == (32, 32)  # sr sees its face at 32 px
    assert Image.open(crops / "face00_restored.png").size == (256, 256)
    photo = np.asarray(Image.open(photos / "astronaut.png").resize((1024, 1024), Image.BICUBIC)).astype(np.int16)
    assert np.abs(restored - photo)[170:340, 360:540].mean() > 5  # the face (x 177-272, y 81-175 at 1x) changed
    assert np.abs(restored - photo)[800:, :200].mean() < 2  # far from it, the upscaled photo


def test_a_whole_photo_through_an_exported_artifact(tmp_path, capsys, photos, tiny_cli_export):
    card_path = tiny_cli_export[0]
    out = tmp_path / "restored.png"
    code, err = run_cli(capsys, "--task", "sr", "--artifact", card_path.with_suffix(".tflite"),
                        "--input", photos / "astronaut.png", "--output", out)
    assert code == 0, err
    restored, photo = (np.asarray(Image.open(p)).astype(np.int16) for p in (out, photos / "astronaut.png"))
    assert restored.shape == photo.shape
    assert np.abs(restored - photo)[90:170, 190:260].mean() > 5
    assert np.array_equal(restored[400:, :100], photo[400:, :100])  # outside the face, the photo's own pixels


@pytest.mark.parametrize("case", ["no face", "artifact of another task", "undecodable image", "missing crops dir",
                                  "face option on an aligned crop", "background checkpoint alone"])
def test_whole_photo_bad_input_one_line_exit_2_nothing_written(case, tmp_path, capsys, photos, sr_checkpoint,
                                                               tiny_cli_export):
    out = tmp_path / "out" / "restored.png"
    out.parent.mkdir()
    args = ["--task", "sr", "--checkpoint", sr_checkpoint, "--input", photos / "astronaut.png", "--output", out,
            "--save-crops", out.parent]
    expect = {"no face": "no face found .*--aligned", "artifact of another task": "artifact of task sr, not bfr",
              "undecodable image": "cannot decode", "missing crops dir": "--save-crops directory",
              "face option on an aligned crop": "--upscale only apply to whole photos",
              "background checkpoint alone": "--background bsr"}[case]
    if case == "no face":
        args[5] = photos / "coffee.png"
    elif case == "artifact of another task":
        args[1:4] = ["bfr", "--artifact", tiny_cli_export[0].with_suffix(".tflite")]
    elif case == "undecodable image":
        (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        args[5] = tmp_path / "bad.jpg"
    elif case == "missing crops dir":
        args[-1] = tmp_path / "nowhere"
    elif case == "face option on an aligned crop":
        args[-2:] = ["--aligned", "--upscale", "2"]
    else:
        args += ["--background-checkpoint", sr_checkpoint]
    code, err = run_cli(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    import re

    assert re.search(expect, lines[0]), lines[0]
    assert not any(out.parent.iterdir())
