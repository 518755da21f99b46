"""Post-training quantization of the float `.tflite` with ai_edge_quantizer.

Quantizing after conversion keeps one conversion path for every precision: the U-Net's weights are stored once
and shared by all unrolled steps in the flatbuffer, so the quantizer touches each weight once (seconds), where
PT2E quantization of the unrolled torch graph hung in the converter.

Precisions (recipe names are ai_edge_quantizer's):
* ``fp16``          weights cast to float16 and dequantized at load (FLOAT_CASTING weight-only); float compute.
* ``dynamic-int8``  per-channel int8 weights, activations quantized on the fly by the kernels (dynamic_wi8_afp32).
* ``int8``          full integer (static_wi8_ai8): int8 weights and activations, int8 model inputs and output.
* ``int16x8``       int16 activations x int8 weights (static_wi8_ai16), int16 I/O: for NPUs (CPU kernels are slow).
* ``int8-mixed-int16``  full integer with no float op, for NPUs: int8 as above, but what int8 keeps in float (see
                    below) runs at int16 activations with int8 weights instead (Qualcomm's "w8a8 mixed int16").

Calibration runs the float model in TFLite's profiler-based mode, which records min/max per tensor as it goes
instead of keeping every intermediate tensor alive (the default mode peaked at 13 GB for bfr).  int16x8 keeps each
tensor's range over all samples (`_widest`); int8 keeps ai_edge_quantizer's moving average (see `RANGES`).

The int8 precisions keep some convolutions out of int8, chosen by the measured sensitivity (`export.sensitivity`),
by rules on those ops' scopes (`conv_scopes`); full-integer int8 also keeps ADD (the residual stream: see
`export.executorch.quantize.make_quantizer` for the measurement) and GroupNorm's statistics out of int8,
dynamic-int8 GroupNorm's statistics (see `KEPT_SCOPES`).  Kept means float (NO_QUANTIZE), except in
int8-mixed-int16, where it means int16 activations: on CPUs the int16 kernels are reference code (full-size sr ran
11.1x slower than int8 here), on an NPU a float op is a fallback to the CPU.
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections import Counter
from typing import Iterator, Mapping, Sequence

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from elir_mobile.quiet import native_output
from elir_mobile.runtimes import LITERT_SIGNATURE

from .audit import TYPE_NAMES, op_output_dtypes, operators

SIGNATURE = LITERT_SIGNATURE
QUANTIZED = ("fp16", "dynamic-int8", "int8", "int16x8", "int8-mixed-int16")

# What full-integer int8 keeps out of int8, as in the XNNPACK int8 export: ADD (the residual stream) by op type, and
# GroupNorm's statistics by scope (the ops litert_torch names after `ChannelsLastGroupNorm`).  dynamic-int8 keeps
# GroupNorm's statistics float too: its group-average 1x1 CONV_2D would quantize the per-channel variances with one
# scale on the fly, and where channel scales spread 10x (trained-like weights: variances 100x apart) the small ones
# round to zero and RSQRT blows up (fixture size: 13.7 dB; 37.2 dB with them float, recipe weights unchanged).
GROUP_NORM_SCOPE = r"ChannelsLastGroupNorm"
# int8-mixed-int16 also keeps SiLU (LOGISTIC, MUL), CONCATENATION and PAD at int16: they produce the inputs of the
# convs it keeps at int16, which an int8 producer would hand over at 8 bits whatever the conv's own precision (the
# simulation takes a kept conv's input as 16-bit).  Full-size sr at the 32 dB gate: 32.74 -> 33.60 dB (recipe
# weights), 32.24 -> 33.34 dB (trained-like); at a 36 dB target (recipe, 61 convs at int16) 34.36 -> 36.17 dB.
KEPT_OPS = {"int8": ("ADD",), "int8-mixed-int16": ("ADD", "LOGISTIC", "MUL", "CONCATENATION", "PAD")}
KEPT_SCOPES = {"int8": (GROUP_NORM_SCOPE,), "dynamic-int8": (GROUP_NORM_SCOPE,),
               "int8-mixed-int16": (GROUP_NORM_SCOPE,)}
# Where kept does not mean float.
INT16_KEPT = ("int8-mixed-int16",)
# The conv op types the sensitivity can keep in float.
CONV_OPS = ("CONV_2D", "TRANSPOSE_CONV")


def _recipe_manager(precision: str, kept_scopes: Sequence[str] = ()):
    """The quantization recipe's manager; later rules win in ai_edge_quantizer, so the rules that keep ops out of
    int8 (NO_QUANTIZE, or int16 activations) go last."""
    from ai_edge_quantizer import qtyping, recipe, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    manager = recipe_manager.RecipeManager()
    if precision == "fp16":
        manager.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                       num_bits=16, algorithm_key=AlgorithmName.FLOAT_CASTING)
        return manager
    manager.load_quantization_recipe({"dynamic-int8": recipe.dynamic_wi8_afp32, "int8": recipe.static_wi8_ai8,
                                      "int16x8": recipe.static_wi8_ai16,
                                      "int8-mixed-int16": recipe.static_wi8_ai8}[precision]())

    def keep(regex: str, op=qtyping.TFLOperationName.ALL_SUPPORTED) -> None:
        if precision in INT16_KEPT:
            manager.add_static_config(regex=regex, operation_name=op, activation_num_bits=16, weight_num_bits=8)
        else:
            manager.add_quantization_config(regex=regex, operation_name=op, algorithm_key=AlgorithmName.NO_QUANTIZE)

    for op in KEPT_OPS.get(precision, ()):
        keep(".*", qtyping.TFLOperationName(op))
    for regex in (*KEPT_SCOPES.get(precision, ()), *(f"^{re.escape(scope)}$" for scope in kept_scopes)):
        keep(regex)
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
# (recipe) and 1.1 dB (trained-like) on full-integer int8's parity, so int8 keeps the average (MSE-optimal ranges
# per tensor were measured too: -0.16 dB on sr's worst photo).  int8-mixed-int16 gives each of its int16 tensors the
# widest range and its int8 ones the average ("int16-widest"): at fixture size (32 px, one step, recipe weights) its
# parity rose from 30.0 to 32.8 dB; full-size sr read the same (32.66 / 33.02 -> 32.74 / 32.90 dB).
RANGES = {"int16x8": "widest", "int8-mixed-int16": "int16-widest"}  # the others: "average"
RANGE_WORDS = {"widest": "min / max over all samples",
               "average": "moving average of each sample's min / max (ai_edge_quantizer default)",
               "int16-widest": "int16 tensors: min / max over all samples; int8 tensors: moving average of each "
                               "sample's min / max (ai_edge_quantizer default)"}


def _average_and_widest(seen: dict, new: dict) -> dict:
    """The quantizer's moving average, with the widest range so far beside it (``widest_min`` / ``widest_max``)."""
    from ai_edge_quantizer.utils.qsv_utils import moving_average_update

    widest = _widest({"min": seen.get("widest_min", seen["min"]), "max": seen.get("widest_max", seen["max"])}, new)
    return {**moving_average_update(seen, new), "widest_min": widest["min"], "widest_max": widest["max"]}


def calibrate(float_model: bytes, manager, calibration: Sequence[Sequence[np.ndarray]], ranges: str) -> dict:
    """Per-tensor ranges (ai_edge_quantizer QSVs) of `float_model` over the calibration input tuples, recorded by
    the interpreter's profiler; merged across samples as `ranges` says (`RANGE_WORDS`; "int16-widest" keeps both
    merges, for `int16_widest` to choose from)."""
    from ai_edge_quantizer import calibrator
    from ai_edge_quantizer.calibrator import CalibrationMode

    names = input_names(float_model)
    data = [{n: np.asarray(t, dtype=np.float32) for n, t in zip(names, sample)} for sample in calibration]
    merge = {"widest": {"qsv_update_func": _widest}, "average": {},
             "int16-widest": {"qsv_update_func": _average_and_widest}}[ranges]
    with native_output():
        runner = calibrator.Calibrator(float_model, num_threads=2, mode=CalibrationMode.CALIBRATION_PROFILER_BASED,
                                       **merge)
        runner.calibrate({SIGNATURE: data}, manager)
    return runner.get_model_qsvs()


def int16_widest(float_model: bytes, manager, qsvs: dict) -> dict:
    """The average ranges of `calibrate(..., "int16-widest")`, but the widest for every tensor the recipe makes
    int16 (found by quantizing once with the averages): 16-bit activations lose nothing worth having to a wider
    range, 8-bit ones lose resolution."""
    from ai_edge_quantizer import quantizer

    average = {n: {"min": v["min"], "max": v["max"]} for n, v in qsvs.items()}
    trial = quantizer.Quantizer(float_model)
    trial.load_quantization_recipe(manager.get_quantization_recipe())
    with native_output():
        # (a copy: the quantizer writes the fixed ranges of LOGISTIC / TANH outputs into the QSVs it is given)
        int16 = tensor_names(bytes(trial.quantize(copy.deepcopy(average), enable_progress_bar=False,
                                                  enable_progress_report=False).quantized_model), "int16")
    return {n: ({"min": v.get("widest_min", v["min"]), "max": v.get("widest_max", v["max"])} if n in int16
                else average[n]) for n, v in qsvs.items()}


def tensor_names(model: bytes, dtype: str) -> set[str]:
    """The names of `model`'s tensors of type `dtype` (``TYPE_NAMES``' spelling)."""
    return {tensor.Name().decode() for _, tensor in _tensors(model) if TYPE_NAMES[tensor.Type()] == dtype}


def _tensors(model: bytes) -> Iterator[tuple[object, object]]:
    """(the flatbuffer's root, tensor) for every tensor of every subgraph; the root holds the tensors' buffers."""
    m = schema.Model.GetRootAs(model, 0)
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        for t in range(sg.TensorsLength()):
            yield m, sg.Tensors(t)


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
             kept_scopes: Sequence[str] = ()) -> tuple[bytes, dict]:
    """(quantized flatbuffer, card "quantization" entry) for `precision`; `calibration` = input tuples in the
    model's layout, required for the full-integer precisions; ops whose scope is in `kept_scopes` stay out of int8
    (float, or int16 activations for `INT16_KEPT`)."""
    from ai_edge_quantizer import quantizer

    if precision not in QUANTIZED:
        raise ValueError(f"no quantization recipe for precision {precision!r}")
    manager = _recipe_manager(precision, kept_scopes)
    q = quantizer.Quantizer(float_model)
    q.load_quantization_recipe(manager.get_quantization_recipe())
    start = time.perf_counter()
    qsvs, ranges = None, RANGES.get(precision, "average")
    if q.need_calibration:
        if not calibration:
            raise ValueError(f"precision {precision} needs calibration inputs")
        qsvs = calibrate(float_model, manager, calibration, ranges)
        if ranges == "int16-widest":
            qsvs = int16_widest(float_model, manager, qsvs)
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
        f"{kept_as(precision)}_op_types": list(KEPT_OPS.get(precision, ())),
        f"{kept_as(precision)}_scopes": list(KEPT_SCOPES.get(precision, ())),
        "calibration": ({"samples": len(calibration), "mode": "profiler_based",
                         "range": RANGE_WORDS[ranges],
                         "seconds": round(calibration_seconds, 2)} if qsvs is not None else None),
        "op_output_dtypes": op_output_dtypes(model),
        "constant_dtypes": constant_dtypes(model),
    }
    return model, summary


def kept_as(precision: str) -> str:
    """How `precision` keeps an op out of int8, as the card's keys name it."""
    return "int16" if precision in INT16_KEPT else "float"


def constant_dtypes(model: bytes) -> dict[str, int]:
    """Constant (weight) tensors by type."""
    counts: Counter[str] = Counter()
    for m, tensor in _tensors(model):
        if m.Buffers(tensor.Buffer()).DataLength() > 0 or m.Buffers(tensor.Buffer()).Size() > 0:
            counts[TYPE_NAMES[tensor.Type()]] += 1
    return dict(counts)
