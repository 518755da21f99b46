"""Post-training quantization of the float `.tflite` with ai_edge_quantizer.

Quantizing after conversion keeps one conversion path for every precision: the U-Net's weights are stored once
and shared by all unrolled steps in the flatbuffer, so the quantizer touches each weight once (seconds), where
PT2E quantization of the unrolled torch graph hung in the converter.

Precisions (recipe names are ai_edge_quantizer's):
* ``fp16``          weights cast to float16 and dequantized at load (FLOAT_CASTING weight-only); float compute.
* ``dynamic-int8``  per-channel int8 weights, activations quantized on the fly by the kernels (dynamic_wi8_afp32).
* ``int8``          full integer (static_wi8_ai8): int8 weights and activations, int8 model inputs and output.
* ``int16x8``       int16 activations x int8 weights (static_wi8_ai16), int16 I/O: for NPUs (CPU kernels are slow).

Calibration runs the float model in TFLite's profiler-based mode, which records min/max per tensor as it goes
instead of keeping every intermediate tensor alive (the default mode peaked at 13 GB for bfr).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Sequence

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from .tflite_audit import operators

FLOAT = "fp32"
WEIGHT_ONLY = ("fp16", "dynamic-int8")
FULL_INTEGER = ("int8", "int16x8")
PRECISIONS = (FLOAT, *WEIGHT_ONLY, *FULL_INTEGER)
SIGNATURE = "serving_default"

_TYPE_NAMES = {code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")}


def needs_calibration(precision: str) -> bool:
    return precision in FULL_INTEGER


def _recipe(precision: str):
    from ai_edge_quantizer import qtyping, recipe, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    if precision == "fp16":
        manager = recipe_manager.RecipeManager()
        manager.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                       num_bits=16, algorithm_key=AlgorithmName.FLOAT_CASTING)
        return manager.get_quantization_recipe()
    return {"dynamic-int8": recipe.dynamic_wi8_afp32, "int8": recipe.static_wi8_ai8,
            "int16x8": recipe.static_wi8_ai16}[precision]()


def input_names(model: bytes) -> list[str]:
    """The default signature's input names, in argument order (the calibration dict's keys)."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=model).get_signature_list()[SIGNATURE]["inputs"]


def quantize(float_model: bytes, precision: str,
             calibration: Sequence[Sequence[np.ndarray]] | None = None) -> tuple[bytes, dict]:
    """(quantized flatbuffer, card "quantization" entry) for `precision`; `calibration` = input tuples in the
    model's layout, required for the full-integer precisions."""
    from ai_edge_quantizer import quantizer
    from ai_edge_quantizer.calibrator import CalibrationMode

    if precision not in PRECISIONS or precision == FLOAT:
        raise ValueError(f"no quantization recipe for precision {precision!r}")
    q = quantizer.Quantizer(float_model)
    q.load_quantization_recipe(_recipe(precision))
    start = time.perf_counter()
    qsvs = None
    if q.need_calibration:
        if not calibration:
            raise ValueError(f"precision {precision} needs calibration inputs")
        names = input_names(float_model)
        data = [{n: np.asarray(t, dtype=np.float32) for n, t in zip(names, sample)} for sample in calibration]
        qsvs = q.calibrate({SIGNATURE: data}, num_threads=2, mode=CalibrationMode.CALIBRATION_PROFILER_BASED)
    calibration_seconds = time.perf_counter() - start
    result = q.quantize(qsvs, enable_progress_bar=False, enable_progress_report=False)
    model = bytes(result.quantized_model)
    summary = {
        "tool": "ai_edge_quantizer",
        "precision": precision,
        "recipe": result.recipe,
        "calibration": ({"samples": len(calibration), "mode": "profiler_based",
                         "seconds": round(calibration_seconds, 2)} if qsvs is not None else None),
        "op_output_dtypes": op_output_dtypes(model),
        "constant_dtypes": constant_dtypes(model),
    }
    return model, summary


def op_output_dtypes(model: bytes) -> dict[str, dict[str, int]]:
    """Per op type, how many of its instances produce each tensor type: the per-layer choice in one table."""
    table: dict[str, Counter] = {}
    for name, sg, op in operators(model):
        table.setdefault(name, Counter())[_TYPE_NAMES[sg.Tensors(op.Outputs(0)).Type()]] += 1
    return {op: dict(c) for op, c in sorted(table.items())}


def constant_dtypes(model: bytes) -> dict[str, int]:
    """Constant (weight) tensors by type."""
    m = schema.Model.GetRootAs(model, 0)
    counts: Counter[str] = Counter()
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        for t in range(sg.TensorsLength()):
            tensor = sg.Tensors(t)
            if m.Buffers(tensor.Buffer()).DataLength() > 0 or m.Buffers(tensor.Buffer()).Size() > 0:
                counts[_TYPE_NAMES[tensor.Type()]] += 1
    return dict(counts)
