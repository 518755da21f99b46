"""Measure the LiteRT export of one task: op counts before / after the NHWC GroupNorm rewrite, conversion time and
size per precision, parity and interpreter latency against eager PyTorch (both 2 threads, timed in alternation, fastest of N), GMAC/s.

``python -m benchmarks.tflite_conversion --task sr [--precisions fp32,int8] [--repeats 3] [--json out.json]`` uses the
full-size recipe test weights (fixtures README, seed 0).  The float model is converted once and every other
precision is quantized from it, as the exporter does; a precision's conversion time is the float conversion
plus its quantization.  Heavy: run it under the project's lock (``flock /tmp/elir-heavy.lock ...``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

import elir_mobile
from elir_mobile.testing import make_test_weights

from export import pipeline
from export.calibration import degraded_images
from export.tflite import GATES_DB, NUM_THREADS, Runner, convert_float
from export.tflite_audit import op_counts
from export.tflite_quantize import PRECISIONS, needs_calibration, quantize


def _timed(fn, repeats: int) -> float:
    """Fastest wall seconds of `repeats` calls after one warm-up call (the least disturbed by other load)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _interleaved(fns: list, repeats: int) -> list[float]:
    """Fastest wall seconds of each function, run in alternation so that a shared machine's load hits all alike."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def matmul_peak_gmacs(n: int = 2048, repeats: int = 3) -> float:
    """fp32 GEMM throughput of this machine with the benchmark's thread count (GMAC/s), the roofline."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return n ** 3 / _timed(lambda: a @ b, repeats) / 1e9


def direct_op_counts(module: torch.nn.Module, example: tuple[torch.Tensor, ...]) -> dict[str, int]:
    """Op counts of a plain ``litert_torch.convert`` (GroupNorm left to the converter): the "before" graph."""
    import litert_torch

    litert_torch.config.show_progress = False
    with torch.no_grad():
        return op_counts(litert_torch.convert(module, example).model_content())


def bench(task: str, precisions: list[str], repeats: int, calibration_images: int, before: bool,
          float_model_path: str | None = None) -> dict:
    torch.set_num_threads(NUM_THREADS)
    model = elir_mobile.load_model(task, checkpoint=make_test_weights(task))
    baked = elir_mobile.baked(model, noise="fixed").eval()
    module = pipeline.NHWCAdapter(baked).eval()
    example = tuple(pipeline.to_layout(t, "nhwc") for t in baked.example_inputs())
    size = baked.image_size
    x = pipeline.to_layout(degraded_images(task, size, 1, 10_000, progress=False)[0], "nhwc")
    with torch.no_grad():
        expected = module(x).numpy()

    def eager():
        with torch.no_grad():
            module(x)
    macs = pipeline.count_macs(module, (x,))
    report = {"task": task, "image_size": size, "K": baked.K, "gmac": round(macs / 1e9, 2), "threads": NUM_THREADS,
              "matmul_peak_gmac_per_s": round(matmul_peak_gmacs(), 1), "precisions": {}}
    if before:
        report["op_counts_before"] = direct_op_counts(module, example)
    start = time.perf_counter()
    if float_model_path:  # an fp32 export of the same options (noise fixed, seed 0, NHWC), e.g. the pipeline's
        with open(float_model_path, "rb") as f:
            float_model = f.read()
        report["float_model"] = float_model_path
    else:
        float_model = convert_float(module, example)
    float_seconds = time.perf_counter() - start
    report["op_counts_after"] = op_counts(float_model)
    calibration = None
    if any(needs_calibration(p) for p in precisions):
        calibration = [(pipeline.to_layout(c, "nhwc").numpy(),)
                       for c in degraded_images(task, size, calibration_images, 0, progress=False)]
    for precision in precisions:
        start = time.perf_counter()
        model_bytes = float_model if precision == "fp32" else quantize(float_model, precision, calibration)[0]
        seconds = float_seconds + time.perf_counter() - start
        runner = Runner(model_bytes)
        xin = x.numpy()
        start = time.perf_counter()
        actual = runner(xin)
        first_run = time.perf_counter() - start
        # int16 activations run on reference kernels (tens of seconds): time them once.
        if precision == "int16x8":
            latency, eager_s = first_run, _timed(eager, 1)
        else:
            eager_s, latency = _interleaved([eager, lambda: runner(xin)], repeats)
        par = pipeline.parity(expected, actual)
        report["precisions"][precision] = {
            "size_mb": round(len(model_bytes) / 1e6, 1), "conversion_s": round(seconds, 1),
            "psnr_db": round(par["psnr_db"], 2), "max_abs_err": float(f"{par['max_abs_err']:.3g}"),
            "gate_db": GATES_DB[precision], "passes_gate": par["psnr_db"] >= GATES_DB[precision],
            "latency_s": round(latency, 3), "eager_s": round(eager_s, 3),
            "ratio_to_eager": round(latency / eager_s, 3),
            "gmac_per_s": round(macs / latency / 1e9, 1)}
        print(json.dumps({precision: report["precisions"][precision]}), file=sys.stderr, flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tflite_conversion", description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True, choices=sorted(elir_mobile.TASKS))
    p.add_argument("--precisions", default=",".join(PRECISIONS))
    p.add_argument("--repeats", type=int, default=5, help="timed runs per model (the fastest is kept)")
    p.add_argument("--calibration-images", type=int, default=4)
    p.add_argument("--no-before", action="store_true", help="skip the direct conversion (op counts before)")
    p.add_argument("--float-model", help="reuse this fp32 .tflite of the task (fixed noise, seed 0, NHWC) instead "
                                         "of converting; conversion times then cover quantization only")
    p.add_argument("--json", help="also write the report here")
    args = p.parse_args(argv)
    precisions = args.precisions.split(",")
    unknown = [x for x in precisions if x not in PRECISIONS]
    if unknown:
        print(f"error: unknown precision(s) {', '.join(unknown)}; choose from {', '.join(PRECISIONS)}",
              file=sys.stderr)
        return 2
    report = bench(args.task, precisions, args.repeats, args.calibration_images, not args.no_before,
                   args.float_model)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
