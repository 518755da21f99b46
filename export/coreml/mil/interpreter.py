"""Run a saved `.mlpackage`'s ML program on the host with torch, op by op.

Core ML cannot predict on Linux, so this is how an export is verified there: the program is read back from the
package (the protobuf and its weight blobs, compressed `constexpr_*` weights included), every op is evaluated
with the torch implementation in `ops.py`, and every result is rounded to the dtype the program declares for it
(fp16 tensors are stored as fp16, as on the device; arithmetic runs in fp32).  An op it does not implement
raises `UnknownOp` when the package is loaded: a verification never skips anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from coremltools.proto import MIL_pb2, Model_pb2

from elir_mobile.errors import ElirError

from .ops import OPS, UnknownOp
from .values import BlobReader, decode_value, dtype_name, tensor_shape

_TORCH_DTYPES = {
    MIL_pb2.FLOAT16: torch.float16, MIL_pb2.FLOAT32: torch.float32, MIL_pb2.INT8: torch.int8,
    MIL_pb2.UINT8: torch.uint8, MIL_pb2.INT32: torch.int32, MIL_pb2.INT64: torch.int64, MIL_pb2.BOOL: torch.bool,
}

# Observer: called with (op, outputs, env) after every non-constant op, e.g. to collect activation ranges; `env`
# maps var names to the values computed so far (the op's inputs are still there).
Observer = Callable[["Op", list[torch.Tensor], Mapping[str, object]], None]


@dataclass
class Op:
    """One operation of the program: type, named inputs (var names or inline constants), typed outputs."""

    type: str
    name: str
    inputs: dict[str, list]          # input name -> list of ("var", name) | ("value", python/np value)
    outputs: list[tuple[str, int, tuple[int, ...]]]  # (var name, MIL dtype, shape)
    attributes: dict


def spec_path(package: Path) -> Path:
    return Path(package) / "Data" / "com.apple.CoreML" / "model.mlmodel"


def load_spec(package: Path) -> Model_pb2.Model:
    path = spec_path(package)
    if not path.is_file():
        raise ElirError(f"{package} is not an .mlpackage (no {path.relative_to(package)})")
    spec = Model_pb2.Model()
    spec.ParseFromString(path.read_bytes())
    if spec.WhichOneof("Type") != "mlProgram":
        raise ElirError(f"{package} holds a {spec.WhichOneof('Type')} model, not an ML program")
    return spec


def _round_to(t: torch.Tensor, mil_dtype: int) -> torch.Tensor:
    """Store a result the way the program types it: fp16 values rounded (and overflowing to inf) as fp16."""
    if mil_dtype == MIL_pb2.FLOAT16:
        return t.to(torch.float16).float()
    if mil_dtype == MIL_pb2.FLOAT32:
        return t.float()
    if mil_dtype in _TORCH_DTYPES:
        return t.to(_TORCH_DTYPES[mil_dtype])
    raise UnknownOp(f"op result dtype {dtype_name(mil_dtype)} is not supported by the verifier")


def _to_torch(value):
    if isinstance(value, np.ndarray):
        if value.dtype == np.float16:
            return torch.from_numpy(value.astype(np.float32))
        if value.dtype in (np.uint16, np.uint32, np.uint64):
            return torch.from_numpy(value.astype(np.int64))
        return torch.from_numpy(value)
    return value


def _python_scalar(value):
    """0-d numeric parameters (axis, groups, epsilon, keep_dims...) as Python scalars; tensors unchanged."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_floating_point():
        return value.item()
    return value


class MILProgram:
    """The `main` function of a saved ML program, ready to run: ``MILProgram(path).run({"image": x})``.

    `emulate_fp16=False` evaluates the same program with every fp16 tensor kept in fp32 (no rounding, no
    overflow): the program's own fp32 reference, used for the fp16-safety check and calibration statistics.
    """

    def __init__(self, package: str | Path, *, emulate_fp16: bool = True):
        self.package = Path(package)
        self.spec = load_spec(self.package)
        self.emulate_fp16 = emulate_fp16
        program = self.spec.mlProgram
        if "main" not in program.functions:
            raise ElirError(f"{package}: the ML program has no 'main' function")
        function = program.functions["main"]
        self.opset = function.opset
        block = function.block_specializations[function.opset]
        self.input_types = {i.name: (i.type.tensorType.dataType, tensor_shape(i.type.tensorType))
                            for i in function.inputs}
        self.output_names = list(block.outputs)
        blobs = BlobReader(self.package / "Data" / "com.apple.CoreML")
        self.ops = [self._parse(o, blobs) for o in block.operations]
        unknown = sorted({o.type for o in self.ops if o.type != "const" and o.type not in OPS})
        if unknown:
            raise UnknownOp(f"{self.package.name}: the verifier does not implement MIL op(s) {', '.join(unknown)}")
        self.constants: dict[str, object] = {}
        self.body: list[Op] = []
        self._fold_constants()
        self._last_use = self._liveness()

    # ------------------------------------------------------------------------------------------- loading

    @staticmethod
    def _parse(o, blobs: BlobReader) -> Op:
        inputs = {}
        for key, arg in o.inputs.items():
            inputs[key] = [("var", b.name) if b.WhichOneof("binding") == "name" else ("value", decode_value(b.value, blobs))
                           for b in arg.arguments]
        attributes = {k: decode_value(v, blobs) for k, v in o.attributes.items()}
        outputs = []
        for out in o.outputs:
            t = out.type.tensorType
            outputs.append((out.name, t.dataType, tensor_shape(t)))
        return Op(type=o.type, name=attributes.get("name", outputs[0][0] if outputs else o.type), inputs=inputs,
                  outputs=outputs, attributes=attributes)

    def _fold_constants(self) -> None:
        """`const` values and decompressed `constexpr_*` weights, computed once; the rest is the body."""
        for o in self.ops:
            if o.type == "const":
                self.constants[o.outputs[0][0]] = _to_torch(o.attributes["val"])
            elif o.type.startswith("constexpr_"):
                results = self._call(o, self.constants)
                for (name, _, _), value in zip(o.outputs, results):
                    self.constants[name] = value
            else:
                self.body.append(o)

    def _liveness(self) -> dict[str, int]:
        last = {}
        for i, o in enumerate(self.body):
            for bindings in o.inputs.values():
                for kind, ref in bindings:
                    if kind == "var":
                        last[ref] = i
        return last

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.ops:
            counts[o.type] = counts.get(o.type, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    # ------------------------------------------------------------------------------------------- running

    def _call(self, o: Op, env: Mapping[str, object]) -> list[torch.Tensor]:
        kwargs = {k: _python_scalar(_to_torch(v)) for k, v in o.attributes.items() if k != "name"}  # iOS16 constexpr ops use attributes
        for key, bindings in o.inputs.items():
            values = [env[ref] if kind == "var" else _to_torch(ref) for kind, ref in bindings]
            kwargs[key] = values if key == "values" else _python_scalar(values[0])
        try:
            results = OPS[o.type](**kwargs)
        except TypeError as e:  # an input the implementation does not know: fail, never ignore it
            raise UnknownOp(f"MIL op {o.type} ({o.name}): unsupported inputs ({e})") from None
        out = []
        for (name, dtype, shape), value in zip(o.outputs, results, strict=True):
            if not self.emulate_fp16 and dtype == MIL_pb2.FLOAT16:
                dtype = MIL_pb2.FLOAT32
            value = _round_to(value, dtype)
            if tuple(value.shape) != shape:
                raise ElirError(f"verifier: {o.type} {o.name} produced shape {tuple(value.shape)}, program says {shape}")
            out.append(value)
        return out

    def run(self, inputs: Mapping[str, np.ndarray | torch.Tensor], observer: Observer | None = None
            ) -> dict[str, np.ndarray]:
        """Evaluate the program; returns every program output as a float32 (or integer) numpy array."""
        if set(inputs) != set(self.input_types):
            raise ElirError(f"inputs {sorted(inputs)} != program inputs {sorted(self.input_types)}")
        env: dict[str, object] = dict(self.constants)
        for name, (dtype, shape) in self.input_types.items():
            value = torch.as_tensor(np.asarray(inputs[name], dtype=np.float32))
            if tuple(value.shape) != shape:
                raise ElirError(f"input {name!r} has shape {tuple(value.shape)}, the program expects {shape}")
            env[name] = _round_to(value, dtype if self.emulate_fp16 else MIL_pb2.FLOAT32)
        keep = set(self.output_names)
        with torch.no_grad():
            for i, o in enumerate(self.body):
                results = self._call(o, env)
                for (name, _, _), value in zip(o.outputs, results):
                    env[name] = value
                if observer is not None:
                    observer(o, results, env)
                for bindings in o.inputs.values():  # free activations after their last use
                    for kind, ref in bindings:
                        if kind == "var" and self._last_use.get(ref) == i and ref not in keep and ref not in self.constants:
                            env.pop(ref, None)
        return {name: env[name].float().numpy() if env[name].is_floating_point() else env[name].numpy()
                for name in self.output_names}
