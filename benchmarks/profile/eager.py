"""The eager model's operators, timed by `torch.profiler`, each under the module that called it.

Every module's forward is wrapped in a `record_function` named after its path (forward hooks), so an aten op's
nearest such ancestor in the profile is the layer that issued it: a `F.conv2d` inside `NormActConv` belongs to
that block, as torch.export's module stack would say.  Only the ops a module calls directly are counted (their
times include the kernels they dispatch to).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from elir_mobile.quiet import native_output

from .layers import Op, Profile, median_per_position

MODULE = "module::"
RUN = "elir::forward"
CONVS = {"aten::conv2d": False, "aten::conv_transpose2d": True}


class _ModuleScopes:
    """Forward hooks that open a `record_function` per module call and close it when the call returns."""

    def __init__(self, model: nn.Module):
        self.open: list = []
        self.handles = []
        for path, module in model.named_modules():
            if path:
                self.handles.append(module.register_forward_pre_hook(self._enter(path)))
                self.handles.append(module.register_forward_hook(self._exit))

    def _enter(self, path: str):
        def hook(module, args):
            scope = torch.profiler.record_function(MODULE + path)
            scope.__enter__()
            self.open.append(scope)
        return hook

    def _exit(self, module, args, output):
        self.open.pop().__exit__(None, None, None)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def conv_shape(event) -> tuple[int, int, int] | None:
    """(out channels, kh, kw) from a recorded conv's weight shape ((in, out/groups, kh, kw) when transposed)."""
    shapes = event.input_shapes
    if not shapes or len(shapes) < 2 or len(shapes[1]) != 4:
        return None
    w = shapes[1]
    return (w[1], w[2], w[3]) if CONVS[event.name] else (w[0], w[2], w[3])


def _forward_of(event):
    while event is not None and event.name != RUN:
        event = event.cpu_parent
    return event


def profile_eager(model: nn.Module, inputs: list[np.ndarray], runs: int, warmup: int) -> Profile:
    """Median per-operator times of `model(*inputs)` over `runs` profiled calls."""
    tensors = [torch.from_numpy(a) for a in inputs]
    walls = []
    with torch.no_grad():
        for _ in range(warmup):
            model(*tensors)
        scopes = _ModuleScopes(model)
        try:
            with native_output(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                                         record_shapes=True) as prof:
                for _ in range(runs):
                    start = time.perf_counter()
                    with torch.profiler.record_function(RUN):
                        model(*tensors)
                    walls.append((time.perf_counter() - start) * 1e3)
        finally:
            scopes.remove()
    per_run: dict[int, list] = {}
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        parent = e.cpu_parent
        if not e.name.startswith("aten::") or parent is None or not (parent.name.startswith(MODULE) or
                                                                       parent.name == RUN):
            continue
        layer = parent.name[len(MODULE):] if parent.name.startswith(MODULE) else ""
        per_run.setdefault(id(_forward_of(e)), []).append((e, layer))
    runs_ops = list(per_run.values())
    times = median_per_position([[e.cpu_time_total / 1e3 for e, _ in ops] for ops in runs_ops])
    ops = [Op(e.name, ms, conv=e.name in CONVS, transposed=CONVS.get(e.name, False),
              shape=conv_shape(e) if e.name in CONVS else None, layer=layer)
           for (e, layer), ms in zip(runs_ops[0], times)]
    return Profile(f"eager torch {torch.__version__} (torch.profiler)", ops, float(np.median(walls)),
                   notes=["eager times include the profiler's per-op overhead; the wall row is with it too"])
