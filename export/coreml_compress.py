"""Core ML weight compression and w8a8 for the exported ML program, with per-layer choices made by measurement.

All modes use `coremltools.optimize.coreml` on the converted fp16 model.  In the MIL program the U-Net's weights
are one constant shared by every unrolled Euler step, so compressing a weight compresses it for all K steps at
once (the shared-weight problem of PT2E on the unrolled graph does not arise here).

Which weights stay fp16 is measured, not guessed, with the host interpreter on calibration data: (1) per network
part (encoder, coarse estimator, velocity U-Net, decoder), the end-to-end PSNR with only that part compressed;
the parts costing most noise per parameter keep fp16 until the predicted PSNR clears the gate (with random test
weights the deep residual autoencoder amplifies weight noise far more than the U-Net); (2) per conv, its output
recomputed with its compressed weight (and, for w8a8, its 8-bit input) against the float conv output: layers far
below the typical SQNR (outliers) keep fp16 too.

w8a8: coremltools' `linear_quantize_activations` calibrates by running Core ML predictions, which do not exist
on Linux.  We compute the same per-tensor ranges with the host interpreter (`export.mil`) and then apply
coremltools' own quantize/dequantize insertion passes with them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

import coremltools as ct
import coremltools.optimize as cto

from elir_mobile.errors import ElirError

from .mil import MILProgram, Op

COMPRESSIONS = ("none", "int8", "palettize6", "palettize4", "w8a8")
# Modes that require iOS18 (palettes default to iOS18 for per-grouped-channel LUTs but also work on iOS17).
IOS18_ONLY = {"w8a8"}
PALETTE_GROUP_SIZE = 16
# A layer keeps fp16 when its SQNR is this far below the median layer's (and at most this share of weights).
OUTLIER_DB = 12.0
MAX_KEPT_SHARE = 0.1


def weight_config(mode: str, ios: int, skip: Sequence[str] = ()) -> cto.coreml.OptimizationConfig:
    """The coremltools weight-compression config for `mode` (None for the skipped constants)."""
    if mode in ("int8", "w8a8"):
        op = cto.coreml.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                                weight_threshold=2048)
    elif mode in ("palettize6", "palettize4"):
        nbits = int(mode[-1])
        # Per-grouped-channel LUTs (one per 16 output channels) need iOS18; iOS17 gets one LUT per tensor.
        grouped = dict(granularity="per_grouped_channel", group_size=PALETTE_GROUP_SIZE) if ios >= 18 else {}
        # One k-means worker: coremltools' worker pool forks a process that already runs torch threads.
        op = cto.coreml.OpPalettizerConfig(nbits=nbits, mode="kmeans", weight_threshold=2048, **grouped)
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


def quantize_activations(mlmodel: ct.models.MLModel, stats: dict[str, dict], program: MILProgram,
                         skip_ops: Sequence[str] = ()) -> ct.models.MLModel:
    """Insert 8-bit quantize/dequantize pairs with coremltools' passes, from interpreter-measured ranges."""
    # Private coremltools pieces: the passes `linear_quantize_activations` applies after its Core ML calibration.
    from coremltools.converters.mil.mil.passes.graph_pass import PassOption
    from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY
    from coremltools.models.utils import _apply_graph_pass
    from coremltools.optimize.coreml.experimental._post_training_quantization import (
        _adjust_concat_surrounding_activation_stats)

    ranges = {name: {"rmin": s["rmin"], "rmax": s["rmax"]} for name, s in stats.items()}
    _adjust_concat_surrounding_activation_stats(_concat_groups(program), ranges)
    config = cto.coreml.OptimizationConfig(
        global_config=cto.coreml.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8"),
        op_name_configs={name: None for name in skip_ops})
    passes = []
    for name in ("compression::insert_prefix_quantize_dequantize_pair",
                 "compression::insert_suffix_quantize_dequantize_pair"):
        p = PASS_REGISTRY[name]
        p.set_options([PassOption("config", config), PassOption("activation_stats", ranges)])
        passes.append(p)
    passes.append(PASS_REGISTRY["common::dequantize_quantize_pair_elimination"])
    from coremltools.converters.mil._deployment_compatibility import AvailableTarget

    return _apply_graph_pass(mlmodel, passes, spec_version=AvailableTarget.iOS18, skip_model_load=True)


# ----------------------------------------------------------------------------------------------- sensitivity


def _sqnr_db(reference: torch.Tensor, approx: torch.Tensor) -> float:
    noise = float(torch.sum((reference - approx) ** 2))
    signal = float(torch.sum(reference ** 2))
    return math.inf if noise == 0 else 10.0 * math.log10(max(signal, 1e-30) / noise)


def _fake_quant_int8(x: torch.Tensor, rmin: float, rmax: float) -> torch.Tensor:
    scale = max(abs(rmin), abs(rmax)) / 127.0 or 1.0
    return torch.clamp(torch.round(x / scale), -128, 127) * scale


def conv_sensitivity(float_program: MILProgram, compressed_weights: dict[str, torch.Tensor],
                     batches: Sequence[dict[str, np.ndarray]], act_stats: dict[str, dict] | None = None
                     ) -> dict[str, dict]:
    """Per weight constant: the worst SQNR (dB) over the conv ops that use it, each conv recomputed with its
    compressed weight (and 8-bit input when `act_stats` is given) against the float program's conv output."""
    from .mil import ops as mil_ops

    result: dict[str, dict] = {}

    def observe(o: Op, outputs: list[torch.Tensor], env) -> None:
        if o.type != "conv" or o.inputs["weight"][0][0] != "var":
            return
        wname = o.inputs["weight"][0][1]
        if wname not in compressed_weights:
            return
        kwargs = {k: (env[r] if kind == "var" else r) for k, [(kind, r)] in o.inputs.items()}
        x = kwargs["x"]
        xname = o.inputs["x"][0][1]
        if act_stats is not None and xname in act_stats:
            kwargs["x"] = _fake_quant_int8(x, act_stats[xname]["rmin"], act_stats[xname]["rmax"])
        kwargs["weight"] = compressed_weights[wname]
        kwargs = {k: (v.item() if isinstance(v, torch.Tensor) and v.dim() == 0 and not v.is_floating_point() else v)
                  for k, v in kwargs.items()}
        approx = mil_ops.conv(**kwargs)[0]
        sqnr = _sqnr_db(outputs[0], approx)
        entry = result.setdefault(wname, {"sqnr_db": math.inf, "ops": [], "params": int(kwargs["weight"].numel())})
        entry["sqnr_db"] = min(entry["sqnr_db"], sqnr)
        if o.name not in entry["ops"]:
            entry["ops"].append(o.name)

    for inputs in batches:
        float_program.run(inputs, observer=observe)
    return result


def choose_fp16_layers(sensitivity: dict[str, dict]) -> list[str]:
    """Weights whose SQNR is an outlier (OUTLIER_DB below the median), worst first, as long as the kept weights
    stay within MAX_KEPT_SHARE of all compressible parameters (so compression still pays)."""
    finite = [e["sqnr_db"] for e in sensitivity.values() if math.isfinite(e["sqnr_db"])]
    if not finite:
        return []
    median = float(np.median(finite))
    total = sum(e["params"] for e in sensitivity.values())
    kept, kept_params = [], 0
    for name, e in sorted(sensitivity.items(), key=lambda kv: kv[1]["sqnr_db"]):
        if e["sqnr_db"] >= median - OUTLIER_DB:
            break
        if kept_params + e["params"] > MAX_KEPT_SHARE * total:
            continue  # too large to keep in fp16; smaller outliers may still fit
        kept.append(name)
        kept_params += e["params"]
    return kept


def save_and_load(mlmodel: ct.models.MLModel, directory: Path, name: str, **kw) -> tuple[Path, MILProgram]:
    path = Path(directory) / name
    mlmodel.save(str(path))
    return path, MILProgram(path, **kw)


# ----------------------------------------------------------------------------------------------- network parts

# The parts of the baked sampler, recognised by the weight names torch.export gives them (p_<module path>_...).
PARTS = {"encoder": "p_encoder_", "coarse": "p_coarse_", "velocity": "p_euler_velocity_", "decoder": "p_decoder_"}
PART_MARGIN_DB = 1.0


def part_of(weight_name: str) -> str:
    return next((part for part, prefix in PARTS.items() if weight_name.startswith(prefix)), "other")


def _noise_power(reference: np.ndarray, output: np.ndarray) -> float:
    return float(np.mean((np.clip(reference, 0, 1) - np.clip(output, 0, 1)) ** 2))


def _db(noise: float) -> float:
    return math.inf if noise <= 0 else 10.0 * math.log10(1.0 / noise)


def part_sensitivity(float_program: MILProgram, compressed_weights: dict[str, torch.Tensor],
                     batches: Sequence[dict[str, np.ndarray]], references: Sequence[np.ndarray],
                     output: str, output_scale: float = 1.0) -> dict[str, dict]:
    """End-to-end cost of compressing each network part alone: the program (fp16 as declared) is run with only
    that part's weights swapped for their decompressed values, and its output compared with the eager float
    reference.  The noise power it adds over the uncompressed program is what the part costs."""
    original = dict(float_program.constants)

    def noise(weights: dict[str, torch.Tensor]) -> float:
        float_program.constants = {**original, **weights}
        try:
            return float(np.mean([_noise_power(ref, float_program.run(b)[output] / output_scale)
                                  for b, ref in zip(batches, references)]))
        finally:
            float_program.constants = original

    base = noise({})
    parts: dict[str, dict] = {}
    for name, value in compressed_weights.items():
        entry = parts.setdefault(part_of(name), {"weights": {}, "params": 0})
        entry["weights"][name] = value
        entry["params"] += int(value.numel())
    result = {"uncompressed": {"psnr_db": _db(base)}}
    for part, entry in parts.items():
        with_part = noise(entry["weights"])
        result[part] = {"psnr_db": _db(with_part), "added_noise": max(with_part - base, 0.0),
                        "params": entry["params"], "weights": sorted(entry["weights"])}
    return result


def choose_fp16_parts(sensitivity: dict[str, dict], gate_db: float, margin_db: float = PART_MARGIN_DB) -> list[str]:
    """Parts to keep in fp16 so that the predicted PSNR (uncompressed noise + the added noise of every compressed
    part, assumed independent) clears the gate by `margin_db`; the parts costing most noise per parameter go
    first, so compression keeps as many parameters as it can."""
    target = 10.0 ** (-(gate_db + margin_db) / 10.0)
    parts = {p: e for p, e in sensitivity.items() if p != "uncompressed"}
    total = 10.0 ** (-sensitivity["uncompressed"]["psnr_db"] / 10.0) + sum(e["added_noise"] for e in parts.values())
    kept = []
    for part, e in sorted(parts.items(), key=lambda kv: -kv[1]["added_noise"] / max(kv[1]["params"], 1)):
        if total <= target:
            break
        kept.append(part)
        total -= e["added_noise"]
    return kept
