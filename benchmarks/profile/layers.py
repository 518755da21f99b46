"""Naming each runtime's operators after the model's layers, and the side-by-side table.

Every runtime reports the operators of one forward pass in execution order (`Op`).  The eager profile knows each
operator's module; the runtimes do not say it for the ops inside their XNNPACK delegate (ExecuTorch's XNNPACK
preprocess leaves the debug-handle map empty; LiteRT's XNNPACK events carry only an index inside their partition).
But all three execute the convolutions in the order `torch.export` traced them, so the k-th convolution of a
runtime is the k-th convolution of the eager model.  `name_convs` relies on that only after checking it: equal
counts, no transposed convolution where eager has an ordinary one (the reverse is allowed: the ExecuTorch exporter
runs a transposed convolution as an ordinary one, `graph_rewrites.SubpixelConvTranspose`), and the kernel shape
where the runtime states one.  Every other
operator (adds, norms, activations, layout changes) is counted in the network part of the convolution before it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace

from elir_mobile.errors import ElirError

# Network parts by the baked sampler's attribute names, in execution order; "" is the sampler itself (noise, clamp).
# XNNPACK's names for the operators a convolution becomes (a 1x1 one is a fully connected GEMM over pixels).
XNNPACK_CONVS = ("Convolution (", "Deconvolution (", "Fully Connected (")
PARTS = {"encoder": "encoder", "coarse": "coarse estimator", "euler": "U-Net (all steps)", "decoder": "decoder",
         "": "sampler (noise add, clamp)"}


@dataclass(frozen=True)
class Op:
    """One operator of one forward pass: the runtime's own name, its median time over the profiled runs, and,
    for convolutions, what can be checked against the eager layer (output channels, kernel, transposed)."""

    name: str
    ms: float
    conv: bool = False
    transposed: bool = False
    shape: tuple[int, int, int] | None = None   # (out channels, kernel h, kernel w) where the runtime says it
    layer: str | None = None                     # module path in the baked sampler, e.g. "euler.velocity.mid.0.block1"


@dataclass
class Profile:
    """One runtime's column: its operators in order, and the whole forward's median wall time."""

    runtime: str
    ops: list[Op]
    total_ms: float
    notes: list[str] = field(default_factory=list)


class AlignmentError(ElirError):
    """A runtime's convolutions do not line up with the eager model's."""


def median_per_position(runs: list[list[tuple]]) -> list[float]:
    """Position-wise median of per-run times (each run lists the same operators in the same order)."""
    lengths = {len(r) for r in runs}
    if len(lengths) != 1:
        raise AlignmentError(f"the profiled runs executed different numbers of operators: {sorted(lengths)}")
    return [statistics.median(values) for values in zip(*runs)]


def part_of(layer: str | None) -> str:
    head = (layer or "").split(".")[0]
    return head if head in PARTS else ""


def name_convs(reference: list[Op], profile: Profile) -> Profile:
    """`profile` with each convolution named after the eager layer at the same position (see the module doc)."""
    wanted = [op for op in reference if op.conv]
    convs = [i for i, op in enumerate(profile.ops) if op.conv]
    if len(convs) != len(wanted):
        raise AlignmentError(f"{profile.runtime} runs {len(convs)} convolutions, the eager model {len(wanted)}: "
                             "profile an artifact exported from this model (same --task, weights and image size)")
    ops = list(profile.ops)
    for k, (i, ref) in enumerate(zip(convs, wanted)):
        op = ops[i]
        if op.transposed and not ref.transposed:
            mismatch = True
        elif ref.transposed and not op.transposed:   # an exporter may run it as a conv (graph_rewrites' sub-pixel)
            mismatch = False
        else:
            mismatch = bool(op.shape and ref.shape and op.shape != ref.shape)
        if mismatch:
            raise AlignmentError(f"{profile.runtime}'s convolution #{k + 1} ({op.name}, {op.shape}) is not the eager "
                                 f"model's #{k + 1} ({ref.layer}, {ref.shape}): the runtime reordered the graph")
        ops[i] = replace(op, layer=ref.layer)
    return replace(profile, ops=ops)


def by_layer(profile: Profile) -> dict[tuple[str, str], float]:
    """{(part, row): ms} summed over calls: one row per convolution layer, one "other ops" row per part.
    Operators with no layer belong to the part of the last convolution before them (of the first, before any)."""
    first = next((op.layer for op in profile.ops if op.conv), None)
    current, rows = part_of(first), {}
    for op in profile.ops:
        if op.layer is not None:
            current = part_of(op.layer)
        key = (current, op.layer if op.conv else "other ops")
        rows[key] = rows.get(key, 0.0) + op.ms
    return rows


def table(profiles: list[Profile], calls: dict[str, int]) -> list[dict]:
    """Rows of the side-by-side table: per part its convolution layers (eager's order), its other ops and its
    total, then the whole forward.  `calls`: how often each layer runs per forward (K for the U-Net's)."""
    columns = [by_layer(p) for p in profiles]
    order = list(dict.fromkeys(k for c in columns for k in c))
    rows = []
    for part in PARTS:
        keys = [k for k in order if k[0] == part and k[1] != "other ops"] + [(part, "other ops")]
        if not any(k in c for c in columns for k in keys):
            continue
        for key in keys:
            rows.append({"part": part, "layer": key[1], "calls": calls.get(key[1], 1) if key[1] != "other ops" else None,
                         "ms": [c.get(key) for c in columns]})
        rows.append({"part": part, "layer": f"{PARTS[part]} total", "calls": None,
                     "ms": [sum(v for k, v in c.items() if k[0] == part) for c in columns]})
    rows.append({"part": None, "layer": "sum of operators", "calls": None, "ms": [sum(c.values()) for c in columns]})
    rows.append({"part": None, "layer": "forward (wall)", "calls": None, "ms": [p.total_ms for p in profiles]})
    return rows
