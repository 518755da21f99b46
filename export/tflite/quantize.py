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
instead of keeping every intermediate tensor alive (the default mode peaked at 13 GB for bfr).  int16x8 keeps each
tensor's range over all samples (`_widest`); int8 keeps ai_edge_quantizer's moving average (see `WIDEST_RANGES`).

The int8 precisions leave some convolutions in float, chosen by the measured sensitivity (`export.sensitivity`),
via NO_QUANTIZE rules on those ops' scopes (`conv_scopes`); full-integer int8 also keeps ADD (the residual
stream: see `export.executorch.quantize.make_quantizer` for the measurement) and GroupNorm's statistics in float,
dynamic-int8 GroupNorm's statistics (see `FLOAT_SCOPES`).
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from typing import Mapping, Sequence

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from elir_mobile.quiet import native_output
from elir_mobile.runtimes import LITERT_SIGNATURE

from .audit import TYPE_NAMES, op_output_dtypes, operators

SIGNATURE = LITERT_SIGNATURE
QUANTIZED = ("fp16", "dynamic-int8", "int8", "int16x8")

# What full-integer int8 keeps in float, as in the XNNPACK int8 export: ADD (the residual stream) by op type, and
# GroupNorm's statistics by scope (the ops litert_torch names after `ChannelsLastGroupNorm`).  dynamic-int8 keeps
# GroupNorm's statistics float too: its group-average 1x1 CONV_2D would quantize the per-channel variances with one
# scale on the fly, and where channel scales spread 10x (trained-like weights: variances 100x apart) the small ones
# round to zero and RSQRT blows up (fixture size: 13.7 dB; 37.2 dB with them float, recipe weights unchanged).
FLOAT_OPS = {"int8": ("ADD",)}
GROUP_NORM_SCOPE = r"ChannelsLastGroupNorm"
FLOAT_SCOPES = {"int8": (GROUP_NORM_SCOPE,), "dynamic-int8": (GROUP_NORM_SCOPE,)}
# The conv op types the sensitivity can keep in float.
CONV_OPS = ("CONV_2D", "TRANSPOSE_CONV")


def _recipe_manager(precision: str, float_scopes: Sequence[str] = ()):
    """The quantization recipe's manager; later rules win in ai_edge_quantizer, so the NO_QUANTIZE ones go last."""
    from ai_edge_quantizer import qtyping, recipe, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    manager = recipe_manager.RecipeManager()
    if precision == "fp16":
        manager.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                       num_bits=16, algorithm_key=AlgorithmName.FLOAT_CASTING)
        return manager
    manager.load_quantization_recipe({"dynamic-int8": recipe.dynamic_wi8_afp32, "int8": recipe.static_wi8_ai8,
                                      "int16x8": recipe.static_wi8_ai16}[precision]())
    for op in FLOAT_OPS.get(precision, ()):
        manager.add_quantization_config(regex=".*", operation_name=qtyping.TFLOperationName(op),
                                        algorithm_key=AlgorithmName.NO_QUANTIZE)
    for regex in FLOAT_SCOPES.get(precision, ()):
        manager.add_quantization_config(regex=regex, operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                        algorithm_key=AlgorithmName.NO_QUANTIZE)
    for scope in float_scopes:
        manager.add_quantization_config(regex=f"^{re.escape(scope)}$",
                                        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                        algorithm_key=AlgorithmName.NO_QUANTIZE)
    return manager


def _widest(seen: dict, new: dict) -> dict:
    """A tensor's range over every calibration sample so far."""
    return {"min": np.minimum(seen["min"], new["min"]), "max": np.maximum(seen["max"], new["max"])}


# ai_edge_quantizer merges the samples' ranges by a moving average (0.95 x the range so far + 0.05 x the new one),
# so over a handful of samples a tensor's range stays close to the first sample's and clips the others.  With 16-bit
# activations clipping is the whole error, and the widest range costs no resolution worth having: full-size sr,
# trained-like weights, int16x8 against the float flatbuffer on 8 held-out crops went from 32.5 dB worst / 40.5 dB
# mean to 47.5 / 56.4 dB, and the export's parity from 35.8 / 39.2 dB to 42.6 / 43.7 dB (recipe weights: 40.2 / 41.9
# -> 46.6 / 47.4 dB).  With 8-bit activations the clipping trades against resolution: the widest ranges lost 0.4 dB
# (recipe) and 1.1 dB (trained-like) on full-integer int8's parity, so int8 keeps the average until a range
# estimator (percentile / MSE) is measured.
WIDEST_RANGES = ("int16x8",)


def calibrate(float_model: bytes, manager, calibration: Sequence[Sequence[np.ndarray]], widest: bool) -> dict:
    """Per-tensor ranges (ai_edge_quantizer QSVs) of `float_model` over the calibration input tuples, recorded by
    the interpreter's profiler; merged across samples by `_widest` if `widest`, else by the quantizer's default."""
    from ai_edge_quantizer import calibrator
    from ai_edge_quantizer.calibrator import CalibrationMode

    names = input_names(float_model)
    data = [{n: np.asarray(t, dtype=np.float32) for n, t in zip(names, sample)} for sample in calibration]
    merge = {"qsv_update_func": _widest} if widest else {}
    with native_output():
        runner = calibrator.Calibrator(float_model, num_threads=2, mode=CalibrationMode.CALIBRATION_PROFILER_BASED,
                                       **merge)
        runner.calibrate({SIGNATURE: data}, manager)
    return runner.get_model_qsvs()


def _fingerprint(values: np.ndarray) -> tuple:
    """Count and two scale-free moments of a weight's values: unchanged by layout permutations and by a positive
    factor the converter folds in (RRDB's 0.2 residual scale, the Euler step's dt).  Rounded to 1e-4 absolute
    (moments are O(1); folding a factor moves them by ~1e-7)."""
    v = values.astype(np.float64).ravel()
    norm = math.sqrt(float(np.sum(v * v))) or 1.0
    return (v.size, round(float(np.sum(v)) / norm, 4), round(float(np.sum(v ** 3)) / norm ** 3, 4))


def conv_scopes(float_model: bytes, weights: Mapping[str, np.ndarray]) -> dict[str, list[str]]:
    """For each conv (module path -> its float weight), the quantizer scopes of the ops that use that weight.

    litert_torch names tensors by the chain of *called* modules, which does not tell the U-Net's blocks apart
    (``ResnetBlock_0`` is every block 0), so ops are found by their weight values instead; an op's scope is its
    output tensor's name plus ``;`` (ai_edge_quantizer's convention).  Layers not found map to []."""
    m = schema.Model.GetRootAs(float_model, 0)
    wanted = {_fingerprint(w): name for name, w in weights.items()}
    found: dict[str, list[str]] = {name: [] for name in weights}
    for op_type, sg, op in operators(float_model):
        if op_type not in CONV_OPS:
            continue
        tensor = sg.Tensors(op.Inputs(1))
        data = m.Buffers(tensor.Buffer()).DataAsNumpy()
        if not isinstance(data, np.ndarray) or tensor.Type() != schema.TensorType.FLOAT32:
            continue
        name = wanted.get(_fingerprint(data.view(np.float32)))
        if name is not None:
            found[name].append(sg.Tensors(op.Outputs(0)).Name().decode() + ";")
    return found


def input_names(model: bytes) -> list[str]:
    """The default signature's input names, in argument order (the calibration dict's keys)."""
    from ai_edge_litert.interpreter import Interpreter

    with native_output():
        return Interpreter(model_content=model).get_signature_list()[SIGNATURE]["inputs"]


def quantize(float_model: bytes, precision: str, calibration: Sequence[Sequence[np.ndarray]] | None = None,
             float_scopes: Sequence[str] = ()) -> tuple[bytes, dict]:
    """(quantized flatbuffer, card "quantization" entry) for `precision`; `calibration` = input tuples in the
    model's layout, required for the full-integer precisions; ops whose scope is in `float_scopes` stay float."""
    from ai_edge_quantizer import quantizer

    if precision not in QUANTIZED:
        raise ValueError(f"no quantization recipe for precision {precision!r}")
    manager = _recipe_manager(precision, float_scopes)
    q = quantizer.Quantizer(float_model)
    q.load_quantization_recipe(manager.get_quantization_recipe())
    start = time.perf_counter()
    qsvs, widest = None, precision in WIDEST_RANGES
    if q.need_calibration:
        if not calibration:
            raise ValueError(f"precision {precision} needs calibration inputs")
        qsvs = calibrate(float_model, manager, calibration, widest)
    calibration_seconds = time.perf_counter() - start
    # ai_edge_quantizer 0.10 drops enable_progress_bar on its way to the graph transformation, which then draws
    # a bar (and re-warns about the calibration interpreter) whatever is asked.
    with native_output():
        result = q.quantize(qsvs, enable_progress_bar=False, enable_progress_report=False)
    model = bytes(result.quantized_model)
    summary = {
        "tool": "ai_edge_quantizer",
        "precision": precision,
        "recipe": result.recipe,
        "float_op_types": list(FLOAT_OPS.get(precision, ())),
        "float_scopes": list(FLOAT_SCOPES.get(precision, ())),
        "calibration": ({"samples": len(calibration), "mode": "profiler_based",
                         "range": ("min / max over all samples" if widest
                                   else "moving average of each sample's min / max (ai_edge_quantizer default)"),
                         "seconds": round(calibration_seconds, 2)} if qsvs is not None else None),
        "op_output_dtypes": op_output_dtypes(model),
        "constant_dtypes": constant_dtypes(model),
    }
    return model, summary


def constant_dtypes(model: bytes) -> dict[str, int]:
    """Constant (weight) tensors by type."""
    m = schema.Model.GetRootAs(model, 0)
    counts: Counter[str] = Counter()
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        for t in range(sg.TensorsLength()):
            tensor = sg.Tensors(t)
            if m.Buffers(tensor.Buffer()).DataLength() > 0 or m.Buffers(tensor.Buffer()).Size() > 0:
                counts[TYPE_NAMES[tensor.Type()]] += 1
    return dict(counts)
