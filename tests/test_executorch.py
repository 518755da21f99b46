"""ExecuTorch export (export/executorch/): XNNPACK fp32 / int8 parity in the real ExecuTorch runtime, the stage
methods, op placement, BundledProgram self-check, other delegates' lowering and clean failures."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

executorch = pytest.importorskip("executorch", reason='ExecuTorch is not installed: pip install '
                                                      '"elir-mobile[executorch]"')

import elir_mobile  # noqa: E402
from elir_mobile.runtimes import load_pte  # noqa: E402
from elir_mobile.testing import make_test_weights, tiny_config  # noqa: E402
from export import cli, gates, pipeline, registry  # noqa: E402
from export.executorch import DELEGATES, INT8  # noqa: E402
from export.executorch import lower as lowering  # noqa: E402
from export.executorch.lower import check_stages, op_placement  # noqa: E402

TARGET = registry.TARGETS["executorch"]


def run_pte(artifact, inputs, method="forward"):
    return load_pte(artifact, method)(*inputs)


@pytest.fixture(scope="module")
def micro():
    """32 px, one Euler step of the fixture architecture: every code path at the smallest lowering cost."""
    cfg = tiny_config(32)
    cfg["K"] = 1
    return cfg, make_test_weights(cfg, seed=0)


def _export(tmp_path, model, argv=()):
    cfg, sd = model
    args = cli.parse_args(TARGET, ["--task", "sr", "--out", str(tmp_path), "--quiet",
                                   "--calibration-images", "2", *argv])
    return pipeline.export(TARGET, args, config=cfg, checkpoint=sd)


def _read_vectors(tmp_path, card):
    rv = card["reference_vectors"]
    inputs = [np.fromfile(tmp_path / i["file"], dtype="<f4").reshape(i["shape"]) for i in rv["inputs"]]
    expected = np.fromfile(tmp_path / rv["output"]["file"], dtype="<f4").reshape(rv["output"]["shape"])
    return inputs, expected


@pytest.fixture(scope="module")
def noise_input_pte(tmp_path_factory, micro):
    """The XNNPACK fp32 export of the one-step model with NHWC I/O, noise as its second input and the stage
    methods, and its folder (one lowering for all of these: lowering is most of the ExecuTorch tests' time)."""
    tmp_path = tmp_path_factory.mktemp("pte")
    return _export(tmp_path, micro, ["--layout", "nhwc", "--noise", "input", "--stages"]), tmp_path


def test_xnnpack_fp32_one_partition_and_runtime_parity(noise_input_pte):
    result, tmp_path = noise_input_pte
    card = result.card
    assert result.artifact.name == "elir_sr_executorch-xnnpack_fp32.pte"
    assert card["parity"]["passed"] is True and card["parity"]["runtime_kind"] == "real"
    assert card["parity"]["min_psnr_db"] is None or card["parity"]["min_psnr_db"] >= 80  # None: bit-exact (inf dB)
    place = card["placement"]
    assert place["measure"] == "delegated_mac_share" and place["share"] == 1.0
    assert place["details"]["partitions"] == 1 and place["details"]["fallback_ops"] == {}
    assert card["op_audit"]["flagged"] == []
    # Independently of the pipeline: the runtime on the written reference vectors gives the written output.
    inputs, expected = _read_vectors(tmp_path, card)
    assert [i.shape for i in inputs] == [(1, 32, 32, 3), (1, 4, 4, 16)]
    assert card["inputs"][0]["shape"] == [1, 32, 32, 3] and card["outputs"][0]["layout"] == "NHWC"
    np.testing.assert_allclose(run_pte(result.artifact, inputs), expected, atol=1e-4)
    # The BundledProgram runs its own inputs and raises if the outputs differ from its expected ones.
    from executorch.extension.pybindings import portable_lib as rt

    bundle = rt._load_bundled_program_from_buffer(result.artifact.with_suffix(".bpte").read_bytes())
    outputs = bundle.verify_result_with_bundled_expected_output("forward", 0, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(outputs[0].numpy(), expected, atol=1e-4)
    for case in range(1, pipeline.PARITY_CASES):  # every parity case is in the bundle
        bundle.verify_result_with_bundled_expected_output("forward", case, rtol=1e-4, atol=1e-4)


def test_stage_methods_compose_to_forward_and_share_the_weights(noise_input_pte, micro, monkeypatch):
    """encode, step_0 .. step_<K-1>, decode run in the ExecuTorch runtime and compose to forward within 1e-5; the
    weights the stage methods use are stored once: the file is smaller than the convs' weights plus half the
    U-Net's (a second copy of the U-Net, or of the encoder or decoder, would put it above)."""
    result, tmp_path = noise_input_pte
    card = result.card
    assert list(card["artifact"]["methods"]) == ["forward", "encode", "step_0", "decode"]
    inputs, _ = _read_vectors(tmp_path, card)
    z = run_pte(result.artifact, inputs, "encode")
    z = run_pte(result.artifact, [z], "step_0")
    composed = run_pte(result.artifact, [z], "decode")
    np.testing.assert_allclose(composed, run_pte(result.artifact, inputs), atol=1e-5, rtol=0)
    # The export ran the same check; with no tolerance left it refuses.
    names, tensors = list(card["artifact"]["methods"]), tuple(torch.from_numpy(i) for i in inputs)
    check_stages(result.artifact, names, tensors)
    monkeypatch.setattr(lowering, "STAGE_TOLERANCE", -1.0)
    with pytest.raises(pipeline.GateFailure, match="do not compose to forward"):
        check_stages(result.artifact, names, tensors)
    cfg, sd = micro
    model = elir_mobile.load_model(config=cfg, checkpoint=sd)
    convs, unet = _conv_bytes(model), _conv_bytes(model.velocity)
    assert card["artifact"]["size_bytes"] < convs + unet / 2, (card["artifact"]["size_bytes"], convs, unet)


def _xnnpack_nodes(lowered) -> list[tuple[str, int]]:
    """(node type, flags) of every node in a lowered module's XNNPACK graph, read back from its flatbuffer."""
    import json

    from executorch.backends.xnnpack.serialization.xnnpack_graph_serialize import XNNHeader, _get_schema_bytes
    from executorch.exir._serialize._flatbuffer import _flatc_decompile

    blob = lowered.processed_bytes
    header = XNNHeader.from_bytes(blob[:XNNHeader.EXPECTED_LENGTH])
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "schema.fbs").write_bytes(_get_schema_bytes())
        (Path(d) / "graph.bin").write_bytes(blob[header.flatbuffer_offset:][:header.flatbuffer_size])
        _flatc_decompile(d, f"{d}/schema.fbs", f"{d}/graph.bin", ["--raw-binary"])
        graph = json.loads((Path(d) / "graph.json").read_text())
    return [(n["xnode_union_type"], n["xnode_union"].get("flags", 0)) for n in graph["xnodes"]]


def test_xnnpack_convs_build_their_indirection_buffers_in_the_shared_workspace(tmp_path):
    """Every conv and depthwise conv node carries XNNPACK's transient-indirection flag (full-size bfr: 300 MB less
    peak memory), the transposed conv (no such buffer) does not, and the runtime runs it to eager's output."""
    from executorch.backends.xnnpack.utils.xnnpack_constants import XNN_FLAG_TRANSIENT_INDIRECTION_BUFFER
    from executorch.exir import to_edge_transform_and_lower

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),
                                torch.nn.ConvTranspose2d(8, 4, 2, 2)).eval()
    x = torch.rand(1, 3, 16, 16)
    edge = to_edge_transform_and_lower(torch.export.export(model, (x,)),
                                       partitioner=lowering.make_partitioners("xnnpack"))
    nodes = _xnnpack_nodes(edge.exported_program().graph_module.lowered_module_0)
    flags = {t: f for t, f in nodes if "Conv" in t}
    assert flags == {"XNNConv2d": XNN_FLAG_TRANSIENT_INDIRECTION_BUFFER,
                     "XNNDepthwiseConv2d": XNN_FLAG_TRANSIENT_INDIRECTION_BUFFER, "XNNConvTranspose2d": 0}
    artifact = tmp_path / "convs.pte"
    artifact.write_bytes(edge.to_executorch().buffer)
    with torch.no_grad():
        np.testing.assert_allclose(run_pte(artifact, [x.numpy()]), model(x).numpy(), atol=1e-5)


def _conv_bytes(module: torch.nn.Module) -> int:
    """float32 bytes of the convs' weights and biases in `module`."""
    return sum(4 * p.numel() for m in module.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
               for p in m.parameters())


def test_without_rewrites_group_norm_falls_back(micro):
    """Why graph_rewrites exists: the plain baked module leaves GroupNorm and upsample outside XNNPACK."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    cfg, sd = micro
    baked = elir_mobile.baked(elir_mobile.load_model(config=cfg, checkpoint=sd)).eval()
    edge = to_edge_transform_and_lower(torch.export.export(baked, baked.example_inputs()),
                                       partitioner=[XnnpackPartitioner()])
    place, audit = op_placement(edge.exported_program().graph_module, DELEGATES["xnnpack"])
    assert place["details"]["partitions"] > 1 and "native_group_norm" in place["details"]["fallback_ops"]
    assert any(f["op"] == "native_group_norm" for f in audit["flagged"])


def _int8_weights(part: torch.nn.Module) -> list[torch.Tensor]:
    return [t for _, t in part.named_buffers() if t.dtype == torch.int8]


def _per_channel_weights(part: torch.nn.Module) -> int:
    return sum(1 for n in part.graph.nodes if n.op == "call_function" and "dequantize_per_channel" in str(n.target))


def _activation_scales(part: torch.nn.Module) -> list[float]:
    return [float(n.args[1]) for n in part.graph.nodes
            if n.op == "call_function" and ".quantize_per_tensor" in str(n.target)]


@pytest.mark.slow  # lowering a quantized graph takes minutes even at fixture size
def test_xnnpack_int8_per_step_ranges_one_weight_copy(tmp_path, micro):
    """int8 on the fixture-size model with two steps: each step is calibrated on its own latents (its own
    activation scales) while both steps' int8 U-Net weights are bit-identical and stored once in the .pte; the
    convs the sensitivity measurement did not keep float run quantized in XNNPACK.  (The 34 dB gate is sized for
    full-size weights, whose export takes minutes.)"""
    from elir_mobile.graph_rewrites import rewrite_for_export
    from export.executorch.lower import lower
    from export.executorch.quantize import quantize_baked
    from export.sensitivity import conv_names, measure_job

    cfg, sd = micro
    cfg = dict(cfg, K=2)  # two steps, so per-step ranges and weight sharing are observable
    args = cli.parse_args(TARGET, ["--task", "sr", "--precision", "int8", "--out", str(tmp_path),
                                   "--calibration-images", "2", "--quiet"])
    job = pipeline.prepare_job(TARGET, args, tmp_path, pipeline.load_weights(args, cfg, sd), progress=False)
    job.sensitivity = measure_job(job, target_db=gates.gate_for("executorch", "int8") + INT8.margin_db,
                                  max_float_share=INT8.max_float_share)
    module, record = quantize_baked(job, rewrite_for_export(job.baked).eval())
    first, second = module.step_parts
    w0, w1 = _int8_weights(first), _int8_weights(second)
    assert w0 and len(w0) == len(w1) and all(torch.equal(a, b) for a, b in zip(w0, w1))
    s0, s1 = _activation_scales(first), _activation_scales(second)
    assert len(s0) == len(s1) > 0 and s0 != s1  # each step quantizes its activations with its own ranges
    kept = record["fp32_convs"]
    assert set(kept) <= set(conv_names(job.model).values())
    assert record["sensitivity"]["float_mac_share"] <= INT8.max_float_share
    parts = (module.encode_part, first, module.decode_part)
    assert sum(_per_channel_weights(p) for p in parts) == len(conv_names(job.model)) - len(kept)  # rest: int8
    conv = lower(job, module, record)
    assert conv.placement["share"] == 1.0 and conv.quantization is record
    once = sum(t.numel() for p in parts for t in _int8_weights(p))
    step = sum(t.numel() for t in w1)
    assert conv.artifact.stat().st_size < once + step / 2, "the second step's int8 weights are stored again"
    out = run_pte(conv.artifact, [t.numpy() for t in job.reference_inputs])
    psnr = pipeline.parity(job.expected.numpy(), out)["psnr_db"]
    assert psnr > 20.0  # int8 of random tiny weights; far below this means the quantized graph is broken
    assert abs(psnr - record["eager_psnr_db"]) < 3.0  # runtime agrees with the eager int8 model


@pytest.mark.slow  # lowering a quantized graph takes about a minute at fixture size
def test_xnnpack_dynamic_int8_runs_in_one_partition_with_one_weight_copy(tmp_path, micro):
    """dynamic-int8 (XNNPACK qd8 convs) on the fixture-size model with two steps: one partition with every MAC
    delegated, each quantized input behind its layout barrier (without one ExecuTorch 1.5.1's XNNPACK refuses the
    program at its first run), the U-Net's int8 weights in the file once, and the runtime agreeing with the eager
    quantized model."""
    from elir_mobile.graph_rewrites import rewrite_for_export
    from export.executorch import DYNAMIC_INT8
    from export.executorch.lower import lower
    from export.executorch.quantize import quantize_baked
    from export.sensitivity import conv_names, measure_job

    cfg, sd = micro
    cfg = dict(cfg, K=2)
    args = cli.parse_args(TARGET, ["--task", "sr", "--precision", "dynamic-int8", "--out", str(tmp_path),
                                   "--calibration-images", "2", "--quiet", "--no-bundle"])
    job = pipeline.prepare_job(TARGET, args, tmp_path, pipeline.load_weights(args, cfg, sd), progress=False)
    job.sensitivity = measure_job(job, target_db=gates.gate_for("executorch", "dynamic-int8"),
                                  max_float_share=DYNAMIC_INT8.max_float_share, activations=DYNAMIC_INT8.activations)
    module, record = quantize_baked(job, rewrite_for_export(job.baked).eval())
    kept = record["fp32_convs"]
    parts = (module.encode_part, module.step_parts[0], module.decode_part)
    quantized = sum(_per_channel_weights(p) for p in parts)
    assert quantized == len(conv_names(job.model)) - len(kept) > 0
    dynamic_inputs = [n for p in parts for n in p.graph.nodes if "choose_qparams" in str(n.target)]
    assert len(dynamic_inputs) == quantized
    assert all(n.args[0].target is torch.ops.aten.cat.default for n in dynamic_inputs)  # the barriers
    conv = lower(job, module, record)
    assert conv.placement["share"] == 1.0 and conv.placement["details"]["partitions"] == 1
    once = sum(t.numel() for p in parts for t in _int8_weights(p))
    step = sum(t.numel() for t in _int8_weights(module.step_parts[0]))
    params = dict(job.model.named_parameters())
    kept_bytes = 4 * sum(params[f"{layer}.weight"].numel() for layer in kept)  # fp32, also stored once
    assert conv.artifact.stat().st_size < once + kept_bytes + step / 2, "a step's weights are stored twice"
    out = run_pte(conv.artifact, [t.numpy() for t in job.reference_inputs])
    psnr = pipeline.parity(job.expected.numpy(), out)["psnr_db"]
    assert psnr > 25.0 and abs(psnr - record["eager_psnr_db"]) < 1.0


def test_qnn_without_sdk_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("QNN_SDK_ROOT", raising=False)
    code = cli.main(TARGET, ["--task", "sr", "--tiny", "--backend", "qnn", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "QNN_SDK_ROOT" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_int8_other_backend_is_a_user_error(tmp_path, capsys):
    code = cli.main(TARGET, ["--task", "sr", "--tiny", "--backend", "vulkan", "--precision", "int8",
                                   "--out", str(tmp_path)])
    assert code == 2 and "xnnpack only" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["vulkan", "coreml"])
def test_other_delegates_lower_and_say_they_did_not_run(tmp_path, micro, backend):
    card = _export(tmp_path, micro, ["--backend", backend, "--no-bundle"]).card
    assert card["artifact"]["file"] == f"elir_sr_executorch-{backend}_fp32.pte"
    assert card["artifact"]["backend"] == backend
    assert card["placement"]["details"]["delegate"] == DELEGATES[backend] and card["placement"]["share"] > 0.5
    par = card["parity"]
    if par["runtime_kind"] == "not_run":  # this machine's runtime has no such delegate: said, never faked
        assert par["passed"] is None and DELEGATES[backend] in par["not_run_reason"] and par["cases"] == []
    else:
        assert par["min_psnr_db"] is None or par["min_psnr_db"] >= 80
