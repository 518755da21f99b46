"""An ExecuTorch program's operators, timed by the runtime itself: ETDump, read with the devtools Inspector.

The pip runtime's XNNPACK backend is built with its profiler, so every XNNPACK operator inside a delegate call is
an ETDump event of its own ("Convolution (NHWC, F32) IGEMM #12", "Transpose (ND, X32) #3"); operators left to the
portable kernels are events too ("native_call_...").  XNNPACK names its runtime operators, not graph nodes, and
times them to the microsecond.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np

from elir_mobile.quiet import native_output

from .layers import XNNPACK_CONVS, Op, Profile, median_per_position

WRAPPERS = {"DELEGATE_CALL", "OPERATOR_CALL", "Method::execute"}


def profile_pte(path: Path, inputs: list[np.ndarray], runs: int, warmup: int, threads: int) -> Profile:
    """Median per-operator times of the program's ``forward`` over `runs` calls after `warmup`."""
    import torch
    from executorch.devtools import Inspector
    from executorch.extension.pybindings.portable_lib import _load_for_executorch, _unsafe_reset_threadpool

    tensors = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in inputs)
    with tempfile.TemporaryDirectory() as tmp, native_output():
        _unsafe_reset_threadpool(threads)
        module = _load_for_executorch(str(path), enable_etdump=True, debug_buffer_size=0)
        for _ in range(warmup + runs):
            module.forward(tensors)
        dump = Path(tmp) / "forward.etdp"
        module.write_etdump_result_to_file(str(dump))
        blocks = Inspector(etdump_path=str(dump)).event_blocks
    execute = [e for block in blocks if block.name == "Execute" for e in block.events]
    timed = [e for e in execute if e.perf_data is not None and len(e.perf_data.raw) == warmup + runs]
    total = next(e for e in timed if e.name == "Method::execute")
    ops = [e for e in timed if e.name not in WRAPPERS]
    times = median_per_position([[e.perf_data.raw[warmup + r] for e in ops] for r in range(runs)])
    return Profile("ExecuTorch (ETDump + Inspector)",
                   [Op(e.name.split(" #")[0], ms, conv=e.name.startswith((*XNNPACK_CONVS, "native_call_convolution")),
                       transposed=e.name.startswith("Deconvolution (")) for e, ms in zip(ops, times)],
                   statistics.median(total.perf_data.raw[warmup:]))
