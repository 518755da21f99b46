"""Op audit of a `.tflite` flatbuffer: which operators it holds and which on-device delegates would refuse them.

An artifact for phones must hold builtin operators only: a Flex (TensorFlow) op needs the 20 MB Flex runtime, a
custom op needs a kernel the app registers, and an unconverted StableHLO composite has no kernel at all.
`audit` counts the ops and flags, per delegate, the ones it does not list, so an app author knows what falls
back to the CPU before trying a phone.

The flatbuffer is read lazily with the schema bindings that ship in ai-edge-litert (no weight buffer is
unpacked), so auditing a 100 MB model is instant.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterator

from ai_edge_litert import schema_py_generated as schema

from elir_mobile.errors import ElirError

_BUILTIN_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
TYPE_NAMES = {code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")}

# TFLite builtins each delegate accepts (for float or quantized tensors; per-op constraints aside), from the
# published op lists:
# * GPU delegate: https://ai.google.dev/edge/litert/performance/gpu#supported_ops and the op parsers it
#   dispatches on, tensorflow/lite/delegates/gpu/common/model_builder.cc (NewOperationParser).
#   RELU_0_TO_1 is not among them (the newer ML Drift GPU accelerator of LiteRT 2.x does handle it).
# * NNAPI delegate: https://developer.android.com/ndk/reference/group/neural-networks (ANEURALNETWORKS_*
#   operations) as mapped by tensorflow/lite/delegates/nnapi/nnapi_delegate.cc (Validate / Map); NNAPI has
#   RELU1 (-1..1) but no 0..1 clamp, so RELU_0_TO_1 falls back to the CPU.
# * QNN (Qualcomm AI Engine Direct): the op builders of LiteRT's Qualcomm compiler plugin
#   (litert/vendors/qualcomm/core/builders/, shipped as libLiteRtCompilerPlugin_Qualcomm.so in ai-edge-litert
#   2.3.0, which names e.g. Relu0To1 -> ReluMinMax, ReduceMean, TransposeConv2d, ResizeNearestNeighbor).
DELEGATE_OPS: dict[str, frozenset[str]] = {
    "gpu": frozenset("""
        ABS ADD ADD_N AVERAGE_POOL_2D BATCH_MATMUL CAST CONCATENATION CONV_2D COS CUMSUM DENSIFY DEPTHWISE_CONV_2D
        DEPTH_TO_SPACE DEQUANTIZE DIV ELU EQUAL EXP FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GELU GREATER
        GREATER_EQUAL HARD_SWISH LESS LESS_EQUAL LOG LOGICAL_AND LOGISTIC MAXIMUM MAX_POOL_2D MEAN MINIMUM
        MIRROR_PAD MUL NEG NOT_EQUAL ONE_HOT PACK PAD PADV2 POW PRELU QUANTIZE REDUCE_MAX REDUCE_MIN REDUCE_PROD
        RELU RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR RSQRT SELECT_V2 SIN SLICE
        SOFTMAX SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE STRIDED_SLICE SUB SUM TANH TILE
        TRANSPOSE TRANSPOSE_CONV""".split()),
    "nnapi": frozenset("""
        ABS ADD ARG_MAX ARG_MIN AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND CAST CONCATENATION CONV_2D
        DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV ELU EQUAL EXP EXPAND_DIMS FILL FLOOR FULLY_CONNECTED
        GATHER GREATER GREATER_EQUAL HARD_SWISH L2_NORMALIZATION LEAKY_RELU LESS LESS_EQUAL LOG LOGICAL_AND
        LOGICAL_NOT LOGICAL_OR LOGISTIC MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD
        PADV2 POW PRELU QUANTIZE REDUCE_MAX REDUCE_MIN REDUCE_PROD RELU RELU6 RELU_N1_TO_1 RESHAPE
        RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR RSQRT SELECT SELECT_V2 SIN SLICE SOFTMAX SPACE_TO_BATCH_ND
        SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUEEZE STRIDED_SLICE SUB SUM TANH TILE TOPK_V2 TRANSPOSE
        TRANSPOSE_CONV""".split()),
    "qnn": frozenset("""
        ABS ADD AVERAGE_POOL_2D BATCH_MATMUL CAST CONCATENATION CONV_2D COS DEPTHWISE_CONV_2D DEPTH_TO_SPACE
        DEQUANTIZE DIV ELU EQUAL EXP FLOOR FLOOR_DIV FULLY_CONNECTED GATHER GELU GREATER GREATER_EQUAL HARD_SWISH
        LEAKY_RELU LESS LESS_EQUAL LOG LOGICAL_AND LOGISTIC MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG
        NOT_EQUAL PACK PAD PADV2 POW PRELU QUANTIZE REDUCE_MAX REDUCE_MIN RELU RELU6 RELU_0_TO_1 RELU_N1_TO_1
        RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR RSQRT SELECT SELECT_V2 SIN SLICE SOFTMAX SPACE_TO_DEPTH
        SPLIT SPLIT_V SQRT SQUARED_DIFFERENCE STRIDED_SLICE SUB SUM TANH TRANSPOSE TRANSPOSE_CONV""".split()),
}

# STABLEHLO_* codes (composites included) have no TFLite kernel.
_NON_BUILTIN_PREFIXES = ("CUSTOM:", "FLEX:", "STABLEHLO_")


def op_name(model: schema.Model, opcode_index: int) -> str:
    code = model.OperatorCodes(opcode_index)
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == schema.BuiltinOperator.CUSTOM:
        custom = code.CustomCode().decode()
        return f"FLEX:{custom[4:]}" if custom.startswith("Flex") else f"CUSTOM:{custom}"
    return _BUILTIN_NAMES.get(builtin, f"UNKNOWN_{builtin}")


def operators(model: bytes) -> Iterator[tuple[str, object, object]]:
    """(op name, subgraph, operator) for every operator of every subgraph of a .tflite flatbuffer."""
    m = schema.Model.GetRootAs(model, 0)
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            yield op_name(m, op.OpcodeIndex()), sg, op


def op_counts(model: bytes) -> dict[str, int]:
    """Operator name -> count over every subgraph, most frequent first (custom ops as ``CUSTOM:<code>``,
    TensorFlow ops as ``FLEX:<name>``)."""
    counts = Counter(name for name, _, _ in operators(model))
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def non_builtin(counts: dict[str, int]) -> list[str]:
    """Ops no stock TFLite runtime can execute without extra kernels."""
    return [op for op in counts if op.startswith(_NON_BUILTIN_PREFIXES)]


def op_output_dtypes(model: bytes) -> dict[str, dict[str, int]]:
    """Per op type, how many of its instances produce each tensor type: the per-layer choice in one table."""
    table: dict[str, Counter] = {}
    for name, sg, op in operators(model):
        table.setdefault(name, Counter())[TYPE_NAMES[sg.Tensors(op.Outputs(0)).Type()]] += 1
    return {op: dict(c) for op, c in sorted(table.items())}


def float_compute_ops(model: bytes) -> dict[str, int]:
    """Ops that compute in float, by type: every op with a float output except DEQUANTIZE (the I/O and the
    fp16-weight decoding).  An NPU runs an integer graph whole only where this is empty."""
    counts = {op: dtypes.get("float32", 0) + dtypes.get("float16", 0)
              for op, dtypes in op_output_dtypes(model).items() if op != "DEQUANTIZE"}
    return {op: n for op, n in counts.items() if n}


def audit(model: bytes) -> dict:
    """``{"op_counts", "flagged": [{"op", "count", "not_accepted_by": [...], "reason"}], "delegates_checked",
    "float_compute_ops"}``."""
    counts = op_counts(model)
    flagged = []
    for op, n in counts.items():
        refused = [d for d, ops in DELEGATE_OPS.items() if op not in ops]
        if refused:
            flagged.append({"op": op, "count": n, "not_accepted_by": refused,
                            "reason": f"not on the op list of the {', '.join(refused)} delegate(s)"})
    return {"op_counts": counts, "flagged": flagged, "delegates_checked": sorted(DELEGATE_OPS),
            "float_compute_ops": float_compute_ops(model)}


def require_builtin_only(counts: dict[str, int]) -> None:
    """Refuse an artifact holding Flex, custom or composite ops (an exporter bug, not a user error)."""
    bad = non_builtin(counts)
    if bad:
        raise ElirError(f"the converted model holds non-builtin ops {', '.join(bad)}; "
                        "it would not run on a stock LiteRT runtime")


def tensor_shape(sg, tensor_index: int) -> list[int]:
    return [int(d) for d in sg.Tensors(tensor_index).ShapeAsNumpy()]


def conv_macs(model: bytes) -> dict[str, int]:
    """Multiply-accumulates per op type of the convolution-like ops (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV,
    FULLY_CONNECTED), from the tensor shapes: where nearly all of the model's arithmetic is."""
    macs: Counter[str] = Counter()
    for name, sg, op in operators(model):
        out = math.prod(tensor_shape(sg, op.Outputs(0)))
        if name == "CONV_2D":
            _, kh, kw, cin = tensor_shape(sg, op.Inputs(1))
            macs[name] += out * kh * kw * cin
        elif name == "DEPTHWISE_CONV_2D":
            _, kh, kw, _ = tensor_shape(sg, op.Inputs(1))
            macs[name] += out * kh * kw
        elif name == "TRANSPOSE_CONV":
            # inputs: output shape, filter (O, H, W, I), input (N, h, w, I)
            cout, kh, kw, _ = tensor_shape(sg, op.Inputs(1))
            macs[name] += math.prod(tensor_shape(sg, op.Inputs(2))) * kh * kw * cout
        elif name == "FULLY_CONNECTED":
            macs[name] += out * tensor_shape(sg, op.Inputs(1))[-1]
    return dict(macs)
