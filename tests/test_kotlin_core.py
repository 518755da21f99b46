"""The Android app's pure-Kotlin core (android_demo/core): compiled here with the pinned Kotlin compiler, its JUnit
tests run on the JVM against values this file computes with the Python reference, and the record it writes
checked against benchmarks/device/result.schema.json.

Compiler: the Kotlin compiler jar inside PyPI's ``kotlin-jupyter-kernel`` (pinned in the ``dev`` extra), held to
language and API version 2.3, the Kotlin the Gradle build pins.  JUnit 4 and Android's own ``org.json`` come from
Debian (``junit4``, ``libandroid-json-java``; ``.ci/run`` installs them).  Every ``.kt`` under core/src/main and
every test class under core/src/test is compiled and run, so modules added there are covered without editing this.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.device.parity import max_abs_err, psnr_db
from benchmarks.device.records import validation_errors
from benchmarks.device.stats import summarize
from elir_mobile import noise, tiling
from elir_mobile.runtimes import to_float, to_model_dtype
from elir_mobile.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "android_demo" / "core" / "src"
DEBIAN_JARS = {"junit4": Path("/usr/share/java/junit4.jar"),
               "libandroid-json-java": Path("/usr/share/java/com.android.json.jar")}
KOTLIN_LANGUAGE = "2.3"


def kotlin_jars() -> tuple[Path, Path]:
    """(compiler, stdlib) from the installed kotlin-jupyter-kernel, or a skip saying what to install."""
    try:
        jars = Path(str(resources.files("run_kotlin_kernel") / "jars"))
    except ModuleNotFoundError:
        pytest.skip('needs the Kotlin compiler from the dev extra: pip install -e ".[dev]"')
    compiler = sorted(jars.glob("kotlin-jupyter-kernel-*-all.jar"))
    stdlib = sorted(jars.glob("kotlin-stdlib-*.jar"))
    if not compiler or not stdlib:
        pytest.skip(f"no Kotlin compiler / stdlib jar in {jars}: reinstall the dev extra")
    return compiler[-1], stdlib[-1]


@pytest.fixture(scope="session")
def classpath() -> list[Path]:
    if shutil.which("java") is None:
        pytest.skip("needs a Java runtime: apt-get install openjdk-17-jre-headless")
    missing = [pkg for pkg, jar in DEBIAN_JARS.items() if not jar.is_file()]
    if missing:
        pytest.skip(f"needs JUnit 4 and Android's org.json on the JVM: apt-get install {' '.join(missing)}")
    return [kotlin_jars()[1], *DEBIAN_JARS.values()]


@pytest.fixture(scope="session")
def compiled(classpath, tmp_path_factory) -> Path:
    """core/src/main and core/src/test compiled once per session (about 11 s on 2 cores)."""
    compiler, stdlib = kotlin_jars()
    out = tmp_path_factory.mktemp("kotlin-core-classes")
    sources = sorted(str(p) for p in CORE.glob("*/kotlin/**/*.kt"))
    cmd = ["java", "-cp", f"{compiler}:{stdlib}", "org.jetbrains.kotlin.cli.jvm.K2JVMCompiler",
           "-no-stdlib", "-no-reflect", "-jvm-target", "17", "-language-version", KOTLIN_LANGUAGE,
           "-api-version", KOTLIN_LANGUAGE, "-Werror", "-cp", ":".join(map(str, classpath)), "-d", str(out), *sources]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"kotlinc failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    return out


def write_f32(path: Path, values) -> str:
    np.ascontiguousarray(values, dtype="<f4").tofile(path)
    return path.name


def tiling_vectors() -> dict:
    starts = [{"length": n, "tile": t, "overlap": o, "starts": tiling.tile_starts(n, t, o)}
              for n, t, o in [(200, 256, 64), (600, 256, 64), (744, 256, 64), (65, 64, 16), (1000, 64, 16),
                              (520, 512, 128), (96, 32, 8)]]
    padded = [{"h": h, "w": w, "tile": t, "padded_h": ph, "padded_w": pw}
              for h, w, t in [(100, 37, 256), (597, 300, 256), (70, 45, 32), (513, 1024, 512)]
              for ph, pw in [tiling.padded_size(h, w, t)]]
    weights = [{"tile": t, "overlap": o, "fade_start": fs, "fade_end": fe,
                "weights": tiling.edge_weights(t, o, fade_start=fs, fade_end=fe).tolist()}
               for t, o in [(32, 8), (256, 64), (64, 16)] for fs in (False, True) for fe in (False, True)]
    return {"starts": starts, "padded": padded, "weights": weights}


def noise_vectors(d: Path) -> dict:
    streams = []
    for seed, sigma, count in [(0, 1.0, 20000), (12345, 0.1, 5000), (-1, 0.025, 5000), (2**63 + 7, 0.04, 2000)]:
        name = write_f32(d / f"noise_{len(streams)}.f32", noise.latent_noise((count,), seed, sigma))
        streams.append({"seed": seed - 2**64 if seed >= 2**63 else seed, "sigma": sigma, "count": count,
                        "file": name})
    # The window run_tiled cuts for the tile at pixel (192, 344) of a 600 x 744 padded image (latent stride 8).
    field = noise.latent_noise((1, 4, 75, 93), 9, 0.1)
    window = {"seed": 9, "sigma": 0.1, "channels": 4, "lh": 75, "lw": 93, "ly": 24, "lx": 43, "t": 32,
              "file": write_f32(d / "noise_window.f32", field[0, :, 24:56, 43:75])}
    return {"generator": noise.GENERATOR, "streams": streams, "window": window}


def restore_vectors(d: Path) -> dict:
    """run_tiled over a 70 x 45 image (6 tiles of 32) with a model that adds its noise window to half the image."""
    h, w, tile, channels, seed, sigma = 70, 45, 32, 4, 3, 0.1
    image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    field = torch.from_numpy(noise.latent_noise(tiling.latent_noise_shape(h, w, tile, channels), seed, sigma))

    def model(crop: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        up = eps[:, [c % channels for c in range(3)]].repeat_interleave(8, 2).repeat_interleave(8, 3)
        return 0.5 * crop + up

    out = tiling.run_tiled(model, image, field, tile=tile, overlap=tile // 4, progress=False).clamp(0, 1)
    ph, pw = tiling.padded_size(h, w, tile)
    tiles = len(tiling.tile_starts(ph, tile, tile // 4)) * len(tiling.tile_starts(pw, tile, tile // 4))
    return {"h": h, "w": w, "tile": tile, "channels": channels, "seed": seed, "sigma": sigma, "tiles": tiles,
            "image": write_f32(d / "restore_image.f32", image), "expected": write_f32(d / "restore_out.f32", out),
            "prepare": {name: task.prepare for name, task in TASKS.items()}}


def quantization_vectors(d: Path) -> list[dict]:
    rng = np.random.default_rng(0)
    cases = []
    for i, (scale, zero_point) in enumerate([(1 / 255, -128), (0.0078125, 0), (0.0123, 17)]):
        # Values on and between the grid's half steps, out of range on both sides (clamping).
        x = np.concatenate([rng.uniform(-0.5, 1.5, 2000), (np.arange(-300, 300) + 0.5) * scale]).astype(np.float32)
        q = to_model_dtype(x, np.int8, (scale, zero_point))
        (d / f"q{i}.i8").write_bytes(q.tobytes())
        cases.append({"scale": scale, "zero_point": zero_point, "count": x.size, "float": write_f32(d / f"q{i}.f32", x),
                      "int8": f"q{i}.i8", "dequantized": write_f32(d / f"dq{i}.f32", to_float(q, (scale, zero_point)))})
    return cases


def card_vectors(d: Path, card_path: Path) -> dict:
    """The real card, a valid int8-I/O variant, and invalid ones (named *.bad so the session's card check, which
    validates every *.json under the temp folders, leaves them alone)."""
    from export.card import validate

    card = json.loads(card_path.read_text())
    validate(card)
    int8 = json.loads(card_path.read_text())
    quant = {"scale": 1 / 255, "zero_point": -128}
    for t in (*int8["inputs"], *int8["outputs"]):
        t.update(dtype="int8", quantization=quant)
    validate(int8)
    (d / "int8.json").write_text(json.dumps(int8))
    variants = {"v1": lambda c: c.update(schema_version=1),
                "no_precision": lambda c: c["artifact"].pop("precision"),
                "no_quantization": lambda c: c["inputs"][0].pop("quantization")}
    names = {}
    for name, change in variants.items():
        bad = json.loads(card_path.read_text())
        change(bad)
        (d / f"{name}.bad").write_text(json.dumps(bad))
        names[name] = f"{name}.bad"
    a, t = card["artifact"], card["inputs"][0]
    expected = {"task": card["task"], "K": card["K"], "sigma_s": card["sigma_s"], "noise_mode": card["noise_mode"],
                "image_size": card["image_size"], "file": a["file"], "precision": a["precision"],
                "size_bytes": a["size_bytes"], "sha256": a["sha256"], "shape": t["shape"], "layout": t["layout"],
                "gate_db": card["parity"]["gate_db"], "runtime_kind": card["parity"]["runtime_kind"],
                "measure": card["placement"]["measure"], "share": card["placement"]["share"]}
    return {"real": str(card_path), "expected": expected, "int8": "int8.json", "int8_quantization": quant, **names}


def parity_vectors(d: Path, card_path: Path) -> dict:
    card = json.loads(card_path.read_text())
    expected = np.fromfile(card_path.parent / card["reference_vectors"]["output"]["file"], dtype="<f4")
    output = expected + np.random.default_rng(1).normal(0, 0.01, expected.size).astype(np.float32)
    return {"card": str(card_path), "output": write_f32(d / "parity_output.f32", output),
            "psnr_db": psnr_db(output, expected), "max_abs_err": max_abs_err(output, expected)}


@pytest.fixture(scope="session")
def vectors(tmp_path_factory, tiny_cli_export) -> Path:
    """The Python reference's values for the Kotlin tests, as one JSON file (arrays as raw files beside it)."""
    card_path = tiny_cli_export[0]
    d = tmp_path_factory.mktemp("kotlin-vectors")
    rng = np.random.default_rng(2)
    stats = [{"samples": s, "summary": summarize(s)}
             for s in ([float(x) for x in rng.gamma(4.0, 3.0, n)] for n in (1, 2, 7, 10, 33, 101))]
    data = {"tiling": tiling_vectors(), "noise": noise_vectors(d), "restore": restore_vectors(d), "stats": stats,
            "quantization": quantization_vectors(d), "cards": card_vectors(d, card_path),
            "parity": parity_vectors(d, card_path), "record": {"out": "record.json"}}
    path = d / "vectors.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="session")
def junit(compiled, classpath, vectors) -> subprocess.CompletedProcess:
    tests = sorted(".".join(p.relative_to(compiled).with_suffix("").parts) for p in compiled.rglob("*Test.class"))
    cmd = ["java", f"-Delir.vectors={vectors}", "-cp", ":".join(map(str, [compiled, *classpath])),
           "org.junit.runner.JUnitCore", *tests]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_core_compiles_and_every_junit_test_passes(junit):
    assert junit.returncode == 0, junit.stdout[-8000:] + junit.stderr[-4000:]
    declared = sum(len(re.findall(r"^\s*@Test\b", p.read_text(), re.M)) for p in (CORE / "test").rglob("*.kt"))
    ran = re.search(r"^OK \((\d+) tests?\)", junit.stdout, re.M)
    assert ran and int(ran.group(1)) == declared, junit.stdout[-2000:]


def test_the_record_kotlin_writes_is_schema_valid(junit, vectors):
    assert junit.returncode == 0, junit.stdout[-4000:]
    record = json.loads((vectors.parent / "record.json").read_text())
    assert validation_errors(record) == []
    assert record["harness"]["name"] == "android_demo" and record["timing"]["input_ms"] == 0.4



def test_the_swift_noise_vectors_are_what_noise_py_draws():
    """ELIRKit cannot be compiled here: its NoiseTests.swift carries noise.py's values as literals, checked here."""
    text = (REPO / "ios_demo" / "Tests" / "ELIRKitTests" / "NoiseTests.swift").read_text()
    streams = re.findall(r"\((-?\d+), ([\d.]+), \[([^\]]+)\]\)", text)
    assert len(streams) == 3
    for seed, sigma, bits in streams:
        want = [int(b, 16) for b in bits.split(",")]
        got = noise.latent_noise((len(want),), int(seed), float(sigma)).view(np.uint32).tolist()
        assert got == want, (seed, sigma)
    window = noise.latent_noise((1, 4, 75, 93), 9, 0.1)[0, :, 24:56, 43:75]
    for name, values in (("channel1Row0", window[1, 0, :4]), ("channel3Row31End", window[3, 31, 28:32])):
        literal = re.search(name + r": \[UInt32\] = \[([^\]]+)\]", text).group(1)
        assert [int(b, 16) for b in literal.split(",")] == values.view(np.uint32).tolist(), name
