"""XNNPACK convolutions that build their indirection buffers in the runtime's shared workspace.

XNNPACK's convolution (IGEMM) reads its input through an indirection buffer: a pointer per output pixel and kernel
tap.  By default every conv keeps its own for the program's life, about 300 MB for full-size bfr (512 px).  With
`XNN_FLAG_TRANSIENT_INDIRECTION_BUFFER` a conv fills it at each run inside the workspace the ops share, which
LiteRT's XNNPACK delegate offers as an option and ExecuTorch's runtime does not set.  ExecuTorch does serialize each
XNNPACK node's flags, and its conv visitor writes none; `share_indirection_buffers` registers a subclass that adds
the flag, through ExecuTorch's registry of node visitors (how its own ops are added).  Full-size bfr, fp32: peak
RSS of a run 1458 -> 1161 MB, bit-identical output, 3 % more latency (README, "bfr's .pte memory").
"""

from __future__ import annotations

import functools


@functools.cache  # registered once per process
def share_indirection_buffers() -> None:
    """From here on in this process, every XNNPACK conv and depthwise conv node carries the transient flag (the
    node types XNNPACK applies it to; transposed convs have no indirection buffer of this kind)."""
    import executorch.backends.xnnpack.operators  # noqa: F401 - registers ExecuTorch's own visitors
    from executorch.backends.xnnpack.operators.node_visitor import _node_visitor_dict, register_node_visitor
    from executorch.backends.xnnpack.serialization.xnnpack_graph_schema import XNNConv2d, XNNDepthwiseConv2d
    from executorch.backends.xnnpack.utils.xnnpack_constants import XNN_FLAG_TRANSIENT_INDIRECTION_BUFFER

    # The registry holds the class (its decorator returns None, so `op_conv2d.Conv2d` is not it).
    conv2d = _node_visitor_dict["aten.convolution.default"]

    class SharedIndirectionConv2d(conv2d):
        def define_node(self, node, xnn_graph, vals_to_ids, debug_handle) -> None:
            super().define_node(node, xnn_graph, vals_to_ids, debug_handle)
            conv = xnn_graph.xnodes[-1].xnode_union
            if isinstance(conv, (XNNConv2d, XNNDepthwiseConv2d)):
                conv.flags |= XNN_FLAG_TRANSIENT_INDIRECTION_BUFFER

    register_node_visitor(SharedIndirectionConv2d)
