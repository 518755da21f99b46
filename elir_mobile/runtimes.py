"""Running exported artifacts in their own runtimes on this host: ExecuTorch (`.pte`) and LiteRT (`.tflite`).

The exporters check parity through these, the benchmarks time them, and ``restore --artifact`` uses them, so a
user sees on their own photo what the phone computes.  Each loader returns a callable from float32 arrays (the
artifact's layout) to the float32 output; integer inputs and outputs are quantized and dequantized with the
artifact's own parameters.  The runtimes' packages are imported on first use (pip extras ``executorch`` and
``tflite``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import ElirError
from .quiet import native_output

LITERT_SIGNATURE = "serving_default"


class RuntimeUnavailable(ElirError):
    """The artifact's runtime (or one of its delegates) is not available on this machine."""


def _require(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise RuntimeUnavailable(f"running this artifact needs {module} ({e}): "
                                 f"pip install \"elir-mobile[{extra}]\"") from None


# ---------------------------------------------------------------------------------------------- ExecuTorch


def executorch_backends_available(names: Sequence[str]) -> dict[str, bool]:
    """Which ExecuTorch delegates (by backend id, e.g. ``XnnpackBackend``) this machine's runtime has built in."""
    _require("executorch", "executorch")
    from executorch.runtime import Runtime

    with native_output():
        registry = Runtime.get().backend_registry
    return {n: registry.is_available(n) for n in names}


def pte_methods(artifact: str | Path) -> list[str]:
    """The method names of a .pte."""
    _require("executorch", "executorch")
    from executorch.runtime import Runtime, Verification

    with native_output():
        program = Runtime.get().load_program(Path(artifact), verification=Verification.Minimal)
    return list(program.method_names)


def load_pte(artifact: str | Path, method: str = "forward", threads: int | None = None) -> Callable[..., np.ndarray]:
    """`method` of the .pte loaded once: a callable from numpy inputs to its first output."""
    _require("executorch", "executorch")
    import torch
    from executorch.runtime import Runtime, Verification

    with native_output():
        if threads is not None:  # XNNPACK's pool; resetting it is safe while no method is executing
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

            _unsafe_reset_threadpool(threads)
        runtime = Runtime.get()
        program = runtime.load_program(Path(artifact), verification=Verification.Minimal)
        try:
            loaded = program.load_method(method)
        except RuntimeError as e:
            raise RuntimeUnavailable(f"ExecuTorch cannot load {method} of {Path(artifact).name} here: {e}") from None

    def call(*inputs: np.ndarray) -> np.ndarray:
        return loaded.execute([torch.from_numpy(np.ascontiguousarray(a)) for a in inputs])[0].numpy()

    return call


# ---------------------------------------------------------------------------------------------- LiteRT


def to_model_dtype(x: np.ndarray, dtype, quantization: tuple[float, int]) -> np.ndarray:
    """Float values -> the tensor's type; integer tensors take real = scale * (q - zero_point)."""
    if np.issubdtype(dtype, np.floating):
        return np.ascontiguousarray(x, dtype=dtype)
    scale, zero_point = quantization
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(x) / scale) + zero_point, info.min, info.max).astype(dtype)


def to_float(y: np.ndarray, quantization: tuple[float, int]) -> np.ndarray:
    if np.issubdtype(y.dtype, np.floating):
        return y.astype(np.float32)
    scale, zero_point = quantization
    return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)


class LiteRTRunner:
    """One model in the LiteRT interpreter (XNNPACK on the CPU): float inputs in, float output out."""

    def __init__(self, model: str | Path | bytes, threads: int = 2):
        _require("ai_edge_litert", "tflite")
        from ai_edge_litert.interpreter import Interpreter

        with native_output():
            if isinstance(model, (bytes, bytearray)):
                interpreter = Interpreter(model_content=bytes(model), num_threads=threads)
            else:
                interpreter = Interpreter(model_path=str(model), num_threads=threads)
            self.runner = interpreter.get_signature_runner(LITERT_SIGNATURE)
        signature = interpreter.get_signature_list()[LITERT_SIGNATURE]
        self.input_names, (self.output_name,) = signature["inputs"], signature["outputs"]
        self.input_details = self.runner.get_input_details()
        self.output_detail = self.runner.get_output_details()[self.output_name]
        self.invoked = False

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        if len(inputs) != len(self.input_names):
            raise ValueError(f"the model takes {len(self.input_names)} inputs, got {len(inputs)}")
        feed = {n: to_model_dtype(np.asarray(x), self.input_details[n]["dtype"], self.input_details[n]["quantization"])
                for n, x in zip(self.input_names, inputs)}
        if self.invoked:
            out = self.runner(**feed)
        else:
            with native_output():  # the first invoke creates the XNNPACK delegate, which says so on stderr
                out = self.runner(**feed)
            self.invoked = True
        return to_float(out[self.output_name], self.output_detail["quantization"])

    def io_spec(self) -> dict[str, dict]:
        """Per tensor name (inputs in argument order, then the output): dtype and integer quantization."""
        details = [*(self.input_details[n] for n in self.input_names), self.output_detail]
        spec = {}
        for name, d in zip([*self.input_names, self.output_name], details):
            dtype = np.dtype(d["dtype"]).name
            quantization = None
            if not np.issubdtype(d["dtype"], np.floating):
                quantization = {"scale": float(d["quantization"][0]), "zero_point": int(d["quantization"][1])}
            spec[name] = {"dtype": dtype, "quantization": quantization}
        return spec


# ---------------------------------------------------------------------------------------------- Core ML


def load_mlpackage(artifact: str | Path) -> Callable[..., np.ndarray]:
    """`MLModel.predict` of a Core ML package (macOS only): float inputs in [0, 1] in, float output out; an image
    input or output is converted to and from 8-bit RGB."""
    import sys

    if sys.platform != "darwin":
        raise RuntimeUnavailable("Core ML predicts only on macOS")
    _require("coremltools", "coreml")
    import coremltools as ct
    from PIL import Image

    model = ct.models.MLModel(str(artifact))
    spec = model.get_spec().description
    inputs = list(spec.input)
    output = spec.output[0].name

    def call(*arrays: np.ndarray) -> np.ndarray:
        data = {}
        for feature, value in zip(inputs, arrays):
            if feature.type.WhichOneof("Type") == "imageType":
                pixels = np.clip(np.round(np.asarray(value)[0].transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
                data[feature.name] = Image.fromarray(pixels)
            else:
                data[feature.name] = np.asarray(value, dtype=np.float32)
        out = model.predict(data)[output]
        if isinstance(out, Image.Image):
            return (np.asarray(out, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0).astype(np.float32)
        return np.asarray(out, dtype=np.float32)

    return call
