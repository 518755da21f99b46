"""Multiply-accumulates per node of an exported (ATen / Edge) FX graph, for MAC-weighted op placement.

Only convolutions and matrix products count: everything else in these networks is elementwise and cheap next to
them.  Shapes come from each node's ``meta["val"]`` (present in every torch.export / Edge graph).
"""

from __future__ import annotations

import math

import torch


def _shape(node) -> tuple[int, ...] | None:
    val = node.meta.get("val") if isinstance(node, torch.fx.Node) else None
    return tuple(val.shape) if isinstance(val, torch.Tensor) else None


def op_name(node: torch.fx.Node) -> str:
    """A short op name: ``aten.convolution.default`` / ``<EdgeOpOverload: aten.convolution.default>`` -> convolution."""
    target = node.target
    name = getattr(target, "__name__", None) or str(target)
    name = name.split(":")[-1].strip(" >")
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] in ("aten", "quantized_decomposed", "torchao", "dim_order_ops"):
        return parts[1]
    return parts[0] if len(parts) > 1 and parts[-1] in ("default", "Tensor", "Scalar") else name


def node_macs(node: torch.fx.Node) -> int:
    """MACs of one call_function node (0 for non-matmul/conv ops or unknown shapes)."""
    if node.op != "call_function":
        return 0
    name = op_name(node)
    out = _shape(node)
    if out is None:
        return 0
    if name in ("convolution", "conv2d", "conv1d", "conv_transpose2d"):
        weight = _shape(node.args[1])
        if weight is None:
            return 0
        transposed = name == "conv_transpose2d" or (name == "convolution" and len(node.args) > 6 and node.args[6])
        if transposed:  # weight (Cin, Cout/g, kh, kw): every input pixel scatters into Cout/g * kh * kw outputs
            inp = _shape(node.args[0])
            return math.prod(inp) * math.prod(weight[1:]) if inp else 0
        return math.prod(out) * math.prod(weight[1:])
    if name in ("mm", "bmm", "addmm", "linear", "matmul"):
        a = _shape(node.args[1] if name == "addmm" else node.args[0])
        return math.prod(out) * a[-1] if a else 0
    return 0


def graph_macs(graph: torch.fx.Graph) -> int:
    return sum(node_macs(n) for n in graph.nodes)
