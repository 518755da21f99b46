"""A .tflite's operators, timed by LiteRT's own profiler (the one behind ``benchmark_model --enable_op_profiling``).

ai-edge-litert's Python classes expose no profiler, but its ``libLiteRt.so`` exports the C API that does
(``litert/c/litert_profiler.h``): a compiled model built with the runtime option ``enable_profiling`` records one
event per builtin operator and, through the XNNPACK delegate's profiler, one per XNNPACK operator.  This module
calls that API with ctypes.  The struct layouts are those of ai-edge-litert 2.3.0, the version the ``tflite`` extra
pins; another version is refused rather than misread.

Builtin events carry their node index, so their op type and output tensor are read from the flatbuffer.  XNNPACK
events carry only an index inside their partition; the k-th XNNPACK convolution is the k-th delegated conv node.
Convolutions that `ChannelsLastGroupNorm` adds (its group averages on a 1x1 map) are counted as GroupNorm work.
"""

from __future__ import annotations

import ctypes as C
import statistics
from functools import lru_cache
from pathlib import Path

import numpy as np

from elir_mobile.errors import ElirError
from elir_mobile.quiet import native_output
from elir_mobile.runtimes import to_model_dtype

from .layers import XNNPACK_CONVS, Op, Profile, median_per_position

LITERT_VERSION = "2.3.0"
CPU = 1                                  # kLiteRtHwAcceleratorCpu
LOCK_WRITE = 1                           # kLiteRtTensorBufferLockModeWrite
ENV_MIN_LOG_SEVERITY, ENV_AUTO_REGISTER_ACCELERATORS = 25, 24   # LiteRtEnvOptionTag
ANY_INT = 2                              # kLiteRtAnyTypeInt
OPERATOR, DELEGATE_OPERATOR = 2, 8       # profiler event types: builtin op, op inside a delegate
CONV_OPS = {"CONV_2D": False, "DEPTHWISE_CONV_2D": False, "TRANSPOSE_CONV": True}
GROUP_NORM = "ChannelsLastGroupNorm"
vp = C.c_void_p


class _Layout(C.Structure):
    _fields_ = [("rank_and_flags", C.c_uint32), ("dims", C.c_int32 * 8), ("strides", C.c_uint32 * 8)]


class _RankedTensorType(C.Structure):
    _fields_ = [("element_type", C.c_int), ("layout", _Layout)]


class _Any(C.Structure):
    _fields_ = [("type", C.c_int), ("int_value", C.c_int64)]


class _EnvOption(C.Structure):
    _fields_ = [("tag", C.c_int), ("value", _Any)]


class _Memory(C.Structure):
    _fields_ = [("total", C.c_size_t), ("in_use", C.c_size_t), ("private", C.c_size_t)]


class _Event(C.Structure):
    """``LiteRtProfiledEventData`` (litert/c/litert_profiler_event.h)."""

    _fields_ = [("tag", C.c_char_p), ("event_type", C.c_int), ("start_us", C.c_uint64), ("elapsed_us", C.c_uint64),
                ("begin_mem", _Memory), ("end_mem", _Memory), ("metadata1", C.c_uint64),
                ("metadata2", C.c_uint64), ("source", C.c_int)]


@lru_cache(maxsize=1)
def _api():
    import ai_edge_litert
    from importlib.metadata import version

    found = version("ai-edge-litert")
    if found != LITERT_VERSION:
        raise ElirError(f"the LiteRT op profiler reads ai-edge-litert {LITERT_VERSION}'s C structs; this environment "
                        f"has {found}: pip install \"elir-mobile[tflite]\"")
    lib = C.CDLL(str(Path(ai_edge_litert.__file__).parent / "libLiteRt.so"))
    libc = C.CDLL(None)
    libc.strdup.restype, libc.strdup.argtypes = vp, [C.c_char_p]
    signatures = {
        "LiteRtCreateEnvironment": [C.c_int, vp, C.POINTER(vp)],
        "LiteRtCreateModelFromFile": [vp, C.c_char_p, C.POINTER(vp)],
        "LiteRtCreateOptions": [C.POINTER(vp)],
        "LiteRtSetOptionsHardwareAccelerators": [vp, C.c_int],
        "LiteRtCreateOpaqueOptions": [C.c_char_p, vp, vp, C.POINTER(vp)],
        "LiteRtAddOpaqueOptions": [vp, vp],
        "LiteRtCreateCompiledModel": [vp, vp, vp, C.POINTER(vp)],
        "LiteRtCompiledModelGetProfiler": [vp, C.POINTER(vp)],
        "LiteRtGetModelSignature": [vp, C.c_size_t, C.POINTER(vp)],
        "LiteRtGetNumSignatureInputs": [vp, C.POINTER(C.c_size_t)],
        "LiteRtGetNumSignatureOutputs": [vp, C.POINTER(C.c_size_t)],
        "LiteRtGetSignatureInputName": [vp, C.c_size_t, C.POINTER(C.c_char_p)],
        "LiteRtGetSignatureInputTensorByIndex": [vp, C.c_size_t, C.POINTER(vp)],
        "LiteRtGetSignatureOutputTensorByIndex": [vp, C.c_size_t, C.POINTER(vp)],
        "LiteRtGetRankedTensorType": [vp, C.POINTER(_RankedTensorType)],
        "LiteRtGetCompiledModelInputBufferRequirements": [vp, C.c_size_t, C.c_size_t, C.POINTER(vp)],
        "LiteRtGetCompiledModelOutputBufferRequirements": [vp, C.c_size_t, C.c_size_t, C.POINTER(vp)],
        "LiteRtCreateManagedTensorBufferFromRequirements": [vp, C.POINTER(_RankedTensorType), vp, C.POINTER(vp)],
        "LiteRtLockTensorBuffer": [vp, C.POINTER(vp), C.c_int],
        "LiteRtUnlockTensorBuffer": [vp],
        "LiteRtGetTensorBufferSize": [vp, C.POINTER(C.c_size_t)],
        "LiteRtRunCompiledModel": [vp, C.c_size_t, C.c_size_t, C.POINTER(vp), C.c_size_t, C.POINTER(vp)],
        "LiteRtResetProfiler": [vp], "LiteRtStartProfiler": [vp], "LiteRtStopProfiler": [vp],
        "LiteRtGetNumProfilerEvents": [vp, C.POINTER(C.c_int)],
        "LiteRtGetProfilerEvents": [vp, C.c_int, C.POINTER(_Event)],
    }
    for name, argtypes in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, C.c_int
    for name in ("LiteRtDestroyTensorBuffer", "LiteRtDestroyCompiledModel", "LiteRtDestroyOptions",
                 "LiteRtDestroyModel", "LiteRtDestroyEnvironment"):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = [vp], None
    return lib, libc


def _call(lib, name: str, *args) -> None:
    status = getattr(lib, name)(*args)
    if status != 0:
        raise ElirError(f"LiteRT {name} failed with status {status}")


def graph_ops(path: Path) -> list[dict]:
    """Subgraph 0's nodes in order (the node index the profiler reports): op type, first output's name and, for
    convolutions, (out, kh, kw).  Read lazily, as the op audit reads it: no weight buffer is unpacked."""
    from ai_edge_litert import schema_py_generated as schema

    from export.tflite.audit import op_name, tensor_shape

    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        kind = op_name(model, op.OpcodeIndex())
        shape = None
        if kind in CONV_OPS:
            w = tensor_shape(graph, op.Inputs(1))   # (out, kh, kw, in); depthwise (1, kh, kw, out)
            shape = (w[3], w[1], w[2]) if kind == "DEPTHWISE_CONV_2D" else (w[0], w[1], w[2])
        ops.append({"type": kind, "output": graph.Tensors(op.Outputs(0)).Name().decode(), "shape": shape})
    return ops


def _run_profiled(path: Path, inputs: dict[str, np.ndarray], runs: int, warmup: int, threads: int):
    """[(event type, tag, node index, µs)] of the profiled runs, and their wall times (the 'Invoke' events)."""
    lib, libc = _api()
    env, model, options, compiled, profiler, signature = vp(), vp(), vp(), vp(), vp(), vp()
    buffers = []
    env_options = (_EnvOption * 2)(_EnvOption(ENV_MIN_LOG_SEVERITY, _Any(ANY_INT, 3)),
                                   _EnvOption(ENV_AUTO_REGISTER_ACCELERATORS, _Any(ANY_INT, CPU)))
    _call(lib, "LiteRtCreateEnvironment", 2, env_options, C.byref(env))
    try:
        _call(lib, "LiteRtCreateModelFromFile", env, str(path).encode(), C.byref(model))
        _call(lib, "LiteRtCreateOptions", C.byref(options))
        _call(lib, "LiteRtSetOptionsHardwareAccelerators", options, CPU)
        for identifier, toml in ((b"runtime_options_string", "enable_profiling = true\n"),
                                 (b"xnnpack", f"num_threads = {threads}\n")):
            opaque = vp()   # LiteRT frees the strdup'ed payload with free()
            _call(lib, "LiteRtCreateOpaqueOptions", identifier, libc.strdup(toml.encode()),
                  C.cast(libc.free, vp), C.byref(opaque))
            _call(lib, "LiteRtAddOpaqueOptions", options, opaque)
        _call(lib, "LiteRtCreateCompiledModel", env, model, options, C.byref(compiled))
        _call(lib, "LiteRtCompiledModelGetProfiler", compiled, C.byref(profiler))
        _call(lib, "LiteRtGetModelSignature", model, 0, C.byref(signature))
        io = {}
        for kind in ("Input", "Output"):
            count = C.c_size_t()
            _call(lib, f"LiteRtGetNumSignature{kind}s", signature, C.byref(count))
            io[kind] = []
            for i in range(count.value):
                tensor, requirements, buffer, tensor_type = vp(), vp(), vp(), _RankedTensorType()
                _call(lib, f"LiteRtGetSignature{kind}TensorByIndex", signature, i, C.byref(tensor))
                _call(lib, "LiteRtGetRankedTensorType", tensor, C.byref(tensor_type))
                _call(lib, f"LiteRtGetCompiledModel{kind}BufferRequirements", compiled, 0, i, C.byref(requirements))
                _call(lib, "LiteRtCreateManagedTensorBufferFromRequirements", env, C.byref(tensor_type),
                      requirements, C.byref(buffer))
                buffers.append(buffer)
                io[kind].append(buffer)
                if kind == "Input":
                    name = C.c_char_p()
                    _call(lib, "LiteRtGetSignatureInputName", signature, i, C.byref(name))
                    _write(lib, buffer, inputs[name.value.decode()])
        ins = (vp * len(io["Input"]))(*[b.value for b in io["Input"]])
        outs = (vp * len(io["Output"]))(*[b.value for b in io["Output"]])
        for _ in range(warmup):
            _call(lib, "LiteRtRunCompiledModel", compiled, 0, len(ins), ins, len(outs), outs)
        _call(lib, "LiteRtResetProfiler", profiler)
        _call(lib, "LiteRtStartProfiler", profiler)
        for _ in range(runs):
            _call(lib, "LiteRtRunCompiledModel", compiled, 0, len(ins), ins, len(outs), outs)
        _call(lib, "LiteRtStopProfiler", profiler)
        count = C.c_int()
        _call(lib, "LiteRtGetNumProfilerEvents", profiler, C.byref(count))
        events = (_Event * count.value)()
        _call(lib, "LiteRtGetProfilerEvents", profiler, count.value, events)
        return [(e.event_type, (e.tag or b"").decode(errors="replace"), e.metadata1, e.elapsed_us) for e in events]
    finally:   # the compiled model owns its profiler; the events above are copies
        for buffer in buffers:
            lib.LiteRtDestroyTensorBuffer(buffer)
        for name, handle in (("LiteRtDestroyCompiledModel", compiled), ("LiteRtDestroyOptions", options),
                             ("LiteRtDestroyModel", model), ("LiteRtDestroyEnvironment", env)):
            if handle.value:
                getattr(lib, name)(handle)


def _write(lib, buffer, array: np.ndarray) -> None:
    size, memory = C.c_size_t(), vp()
    _call(lib, "LiteRtGetTensorBufferSize", buffer, C.byref(size))
    if size.value < array.nbytes:
        raise ElirError(f"LiteRT input buffer of {size.value} bytes cannot hold {array.nbytes}")
    _call(lib, "LiteRtLockTensorBuffer", buffer, C.byref(memory), LOCK_WRITE)
    try:
        C.memmove(memory, array.ctypes.data, array.nbytes)
    finally:
        _call(lib, "LiteRtUnlockTensorBuffer", buffer)


def _model_inputs(path: Path, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The reference inputs by signature name, in the model's dtypes (integer inputs quantized)."""
    from elir_mobile.runtimes import LiteRTRunner

    runner = LiteRTRunner(path, threads=1)
    return {name: np.ascontiguousarray(to_model_dtype(x, runner.input_details[name]["dtype"],
                                                      runner.input_details[name]["quantization"]))
            for name, x in zip(runner.input_names, inputs)}


def profile_tflite(path: Path, inputs: list[np.ndarray], runs: int, warmup: int, threads: int) -> Profile:
    """Median per-operator times of the model's signature over `runs` calls after `warmup`."""
    with native_output():
        events = _run_profiled(path, _model_inputs(path, inputs), runs, warmup, threads)
    nodes = graph_ops(path)
    per_run, walls = [], []
    for kind, tag, node, us in events:
        if kind == 1 and tag == "Invoke":          # DEFAULT 'Invoke' opens a run
            per_run.append([])
            walls.append(us / 1e3)
        elif kind in (OPERATOR, DELEGATE_OPERATOR) and per_run:
            per_run[-1].append((kind, tag, node, us / 1e3))
    builtin = {node for kind, _, node, _ in per_run[0] if kind == OPERATOR}
    delegated_convs = iter(n for i, n in enumerate(nodes) if n["type"] in CONV_OPS and i not in builtin)
    times = median_per_position([[t for *_, t in run] for run in per_run])
    ops = []
    for (kind, tag, node, _), ms in zip(per_run[0], times):
        if kind == OPERATOR:
            n = nodes[node]
        elif tag.startswith(XNNPACK_CONVS):
            n = next(delegated_convs)
        else:
            ops.append(Op(tag, ms))
            continue
        conv = n["type"] in CONV_OPS and GROUP_NORM not in n["output"]
        ops.append(Op(tag if kind == DELEGATE_OPERATOR else n["type"], ms, conv=conv,
                      transposed=CONV_OPS.get(n["type"], False), shape=n["shape"] if conv else None))
    return Profile(f"LiteRT {LITERT_VERSION} (CompiledModel profiler, XNNPACK)", ops, statistics.median(walls))
