"""Core ML weight compression and w8a8 for the exported ML program, with per-layer choices made by measurement.

All modes use `coremltools.optimize.coreml` on the converted fp16 model.  In the MIL program the U-Net's weights
are one constant shared by every unrolled Euler step, so compressing a weight compresses it for all K steps at
once (the shared-weight problem of PT2E on the unrolled graph does not arise here).

Which weights stay fp16 is measured, not guessed: `export.coreml.convert` hands the weights coremltools actually
produced, decompressed, to the pipeline's shared per-layer sensitivity (`export.sensitivity`), which keeps the layers
with the most error per parameter in fp16 until the simulated PSNR clears the gate.

w8a8: coremltools' `linear_quantize_activations` calibrates by running Core ML predictions, which do not exist
on Linux.  We compute the same per-tensor ranges with the host interpreter (`export.mil`) and then apply
coremltools' own quantize/dequantize insertion passes with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import coremltools as ct
import coremltools.optimize as cto

from elir_mobile.errors import ElirError

from . import COMPRESSIONS
from .mil import MILProgram

PALETTE_GROUP_SIZE = 16
# coremltools compresses a weight with more values than this; smaller ones (ELIR's RGB in / out convs, the U-Net's
# 1x1 latent projections) stay fp16 constants.
WEIGHT_THRESHOLD = 2048


def weight_config(mode: str, ios: int, skip: Sequence[str] = ()) -> cto.coreml.OptimizationConfig:
    """The coremltools weight-compression config for `mode` (None for the skipped constants)."""
    if mode in ("int8", "w8a8"):
        op = cto.coreml.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                                weight_threshold=WEIGHT_THRESHOLD)
    elif mode in ("palettize6", "palettize4"):
        nbits = int(mode[-1])
        # Per-grouped-channel LUTs (one per 16 output channels) need iOS18; iOS17 gets one LUT per tensor.
        grouped = dict(granularity="per_grouped_channel", group_size=PALETTE_GROUP_SIZE) if ios >= 18 else {}
        # One k-means worker: coremltools' worker pool forks a process that already runs torch threads.
        op = cto.coreml.OpPalettizerConfig(nbits=nbits, mode="kmeans", weight_threshold=WEIGHT_THRESHOLD, **grouped)
    else:
        raise ElirError(f"unknown compression {mode!r}; choose one of: {', '.join(COMPRESSIONS)}")
    return cto.coreml.OptimizationConfig(global_config=op, op_name_configs={name: None for name in skip})


def compress_weights(mlmodel: ct.models.MLModel, mode: str, ios: int, skip: Sequence[str] = ()):
    config = weight_config(mode, ios, skip)
    if mode.startswith("palettize"):
        return cto.coreml.palettize_weights(mlmodel, config)
    return cto.coreml.linear_quantize_weights(mlmodel, config)


def _concat_groups(program: MILProgram) -> list[list[str]]:
    groups = []
    for o in program.body:
        if o.type == "concat":
            groups.append([ref for kind, ref in o.inputs["values"] if kind == "var"] + [o.outputs[0][0]])
    return groups


def w8a8(mlmodel: ct.models.MLModel, stats: dict[str, dict], program: MILProgram, ios: int,
         skip_ops: Sequence[str] = (), skip_weights: Sequence[str] = ()) -> ct.models.MLModel:
    """Insert 8-bit quantize/dequantize pairs with coremltools' passes, from interpreter-measured ranges: each
    tensor's mean over the calibration inputs of their min / max.  The widest range over 16 inputs is set by the
    rarest outlier and spends the 8 bits on it: on full-size sr (trained-like weights, 64 convs at fp16
    activations) the mean ranges measured 33.11 dB against 31.74 dB for the widest.

    The weights' int8 pass (what `compress_weights` applies) runs in the same pass list: each pass list ends in a
    conversion through coremltools' whole MIL pipeline, and one list fewer took a fixture-size w8a8 export's
    conversion from 103.2 to 74.8 s."""
    # Private coremltools pieces: the passes `linear_quantize_activations` applies after its Core ML calibration,
    # and the one `linear_quantize_weights` applies.
    from coremltools.converters.mil.mil.passes.graph_pass import PassOption
    from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY
    from coremltools.models.utils import _apply_graph_pass
    from coremltools.optimize.coreml.experimental._post_training_quantization import (
        _adjust_concat_surrounding_activation_stats)

    ranges = {name: {"rmin": s["mean_rmin"], "rmax": s["mean_rmax"]} for name, s in stats.items()}
    _adjust_concat_surrounding_activation_stats(_concat_groups(program), ranges)
    # Adds stay fp16: an 8-bit residual stream caps the whole model (measured for XNNPACK int8, where int8 adds
    # alone held full-size sr at 31.4 dB with every conv in float).
    config = cto.coreml.OptimizationConfig(
        global_config=cto.coreml.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8"),
        op_type_configs={"add": None}, op_name_configs={name: None for name in skip_ops})
    passes = []
    for name in ("compression::insert_prefix_quantize_dequantize_pair",
                 "compression::insert_suffix_quantize_dequantize_pair"):
        p = PASS_REGISTRY[name]
        p.set_options([PassOption("config", config), PassOption("activation_stats", ranges)])
        passes.append(p)
    passes.append(PASS_REGISTRY["common::dequantize_quantize_pair_elimination"])
    weights = PASS_REGISTRY["compression::linear_quantize_weights"]
    weights.set_options([PassOption("config", weight_config("w8a8", ios, skip_weights))])
    passes.append(weights)
    from coremltools.converters.mil._deployment_compatibility import AvailableTarget

    return _apply_graph_pass(mlmodel, passes, spec_version=AvailableTarget.iOS18, skip_model_load=True)


def save_and_load(mlmodel: ct.models.MLModel, directory: Path, name: str, **kw) -> tuple[Path, MILProgram]:
    path = Path(directory) / name
    mlmodel.save(str(path))
    return path, MILProgram(path, **kw)
