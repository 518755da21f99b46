"""The host interpreter of saved ML programs (export.mil): bit unpacking, op semantics against PyTorch,
compressed weights against coremltools' own decompression, and loud failure on unknown ops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

ct = pytest.importorskip("coremltools")
cto = pytest.importorskip("coremltools.optimize")

from export.coreml.mil import MILProgram, UnknownOp  # noqa: E402
from export.coreml.mil.values import unpack_bits  # noqa: E402


def _pack_reference(values: list[int], nbits: int) -> np.ndarray:
    """Independent packer: element i occupies bits [i*nbits, (i+1)*nbits), least significant bit first."""
    out = bytearray(math.ceil(len(values) * nbits / 8))
    for i, v in enumerate(values):
        for b in range(nbits):
            if (v >> b) & 1:
                pos = i * nbits + b
                out[pos // 8] |= 1 << (pos % 8)
    return np.frombuffer(bytes(out), dtype=np.uint8)


@pytest.mark.parametrize("nbits", [1, 2, 3, 4, 6])
def test_unpack_bits_matches_an_independent_packer(nbits):
    rng = np.random.default_rng(nbits)
    values = rng.integers(0, 1 << nbits, size=101).tolist()
    assert unpack_bits(_pack_reference(values, nbits), nbits, len(values)).tolist() == values


def test_unpack_signed_int4():
    values = [-8, -1, 0, 7, 3, -5, 1]
    packed = _pack_reference([v & 0xF for v in values], 4)
    assert unpack_bits(packed, 4, len(values), signed=True).tolist() == values


class OpZoo(nn.Module):
    """Every op kind the baked ELIR sampler uses, on small shapes."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 32, 3, padding=1)
        self.down = nn.Conv2d(32, 32, 3, stride=2, padding=1, bias=False)
        self.norm = nn.GroupNorm(8, 32)
        self.up = nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1)
        self.mix = nn.Conv2d(64, 3, 1)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        d = nn.functional.silu(self.norm(self.down(h)))
        u = self.up(d) + nn.functional.interpolate(d, scale_factor=2.0, mode="nearest")
        y = self.mix(torch.cat((u, h), 1))
        return torch.clamp(torch.tanh(y / 3.0) * 3.0 * 0.2 + 0.5, 0.0, 1.0)


def _convert(module, x, precision, tmp_path, name, target=None):
    ep = torch.export.export(module.eval(), (x,), strict=True).run_decompositions({})
    model = ct.convert(ep, convert_to="mlprogram", inputs=[ct.TensorType(name="x", shape=x.shape, dtype=np.float32)],
                       outputs=[ct.TensorType(name="y", dtype=np.float32)], compute_precision=precision,
                       minimum_deployment_target=target or ct.target.iOS17, skip_model_load=True)
    path = tmp_path / f"{name}.mlpackage"
    model.save(str(path))
    return model, path


@pytest.fixture(scope="module")
def zoo():
    torch.manual_seed(1)
    x = torch.rand(1, 3, 16, 16)
    module = OpZoo().eval()
    with torch.no_grad():
        return module, x, module(x).numpy()


def test_fp32_program_matches_pytorch(zoo, tmp_path):
    module, x, expected = zoo
    _, path = _convert(module, x, ct.precision.FLOAT32, tmp_path, "zoo32")
    program = MILProgram(path)
    assert {"conv", "conv_transpose", "upsample_nearest_neighbor", "concat", "silu", "tanh", "clip"} <= set(
        program.op_counts())
    out = program.run({"x": x.numpy()})["y"]
    np.testing.assert_allclose(out, expected, atol=2e-5)


def test_fp16_program_rounds_like_fp16(zoo, tmp_path):
    module, x, expected = zoo
    _, path = _convert(module, x, ct.precision.FLOAT16, tmp_path, "zoo16")
    out = MILProgram(path).run({"x": x.numpy()})["y"]
    exact = MILProgram(path, emulate_fp16=False).run({"x": x.numpy()})["y"]
    err16, err32 = np.abs(out - expected).max(), np.abs(exact - expected).max()
    assert 0 < err16 < 5e-3          # fp16 storage: visibly rounded, still close
    assert err32 < err16             # the same program without fp16 rounding is closer


@pytest.mark.parametrize("mode,target", [("int8", 17), ("int8", 18), ("palettize4", 17), ("palettize6", 18)])
def test_compressed_weights_match_coremltools_decompression(zoo, tmp_path, mode, target):
    """Our constexpr decoding equals coremltools' decompress_weights on the same package, weight for weight."""
    from export.coreml.compress import compress_weights

    module, x, expected = zoo
    ios = {17: ct.target.iOS17, 18: ct.target.iOS18}[target]
    model, _ = _convert(module, x, ct.precision.FLOAT16, tmp_path, "base", ios)
    compressed = compress_weights(model, mode, target)
    path = tmp_path / "compressed.mlpackage"
    compressed.save(str(path))
    program = MILProgram(path)
    constexprs = [t for t in program.op_counts() if t.startswith("constexpr_")]
    assert constexprs, "nothing was compressed"
    decompressed_path = tmp_path / "decompressed.mlpackage"
    cto.coreml.decompress_weights(compressed).save(str(decompressed_path))
    reference = MILProgram(decompressed_path)

    def conv_weights(p):
        return {o.name: p.constants[o.inputs["weight"][0][1]] for o in p.body if o.type in ("conv", "conv_transpose")}

    ours, theirs = conv_weights(program), conv_weights(reference)
    assert ours.keys() == theirs.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=0)
    np.testing.assert_allclose(program.run({"x": x.numpy()})["y"], reference.run({"x": x.numpy()})["y"], atol=1e-6)


def test_unknown_op_fails_loudly(tmp_path):
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.sin(x=x, name="y")

    model = ct.convert(prog, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17, skip_model_load=True)
    path = tmp_path / "sin.mlpackage"
    model.save(str(path))
    with pytest.raises(UnknownOp, match="sin"):
        MILProgram(path)


def test_inputs_are_checked(zoo, tmp_path):
    module, x, _ = zoo
    _, path = _convert(module, x, ct.precision.FLOAT32, tmp_path, "zoo32")
    program = MILProgram(path)
    with pytest.raises(Exception, match="shape"):
        program.run({"x": np.zeros((1, 3, 8, 8), np.float32)})
    with pytest.raises(Exception, match="inputs"):
        program.run({"image": x.numpy()})
