"""What an export target is: the steps of the shared pipeline that differ per target, and nothing else.

A target (``export/<name>/__init__.py``) is a `Target` subclass registered in `export.registry`.  Its module imports
no SDK: `--help` and option errors never load torch or a converter; the SDK is imported by `require_sdk` when an
export starts, and a missing one is one line naming the extra that installs it.

The pipeline (`export.pipeline`) drives a target through:

1. `convert_float(job)`: the target's float program (a LiteRT flatbuffer, a Core ML model, a rewritten module),
   reused within a process for every precision quantized from it (`float_key`);
2. the shared per-layer sensitivity, when `sensitivity_scheme` declares one (with `measured_weights`, a target
   that compresses weights itself hands in its own decompressed weights);
3. `finish(job, float_program)`: quantize / compress / lower and write the artifact, returning a `Conversion`;
4. parity in `runtime(args)`'s runtime through `load`, on several reference inputs, against the gate of
   `export.gates` for (target, precision, `compression(args)`); then `annotate` may embed the result.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from elir_mobile.errors import ElirError

from . import gates


class GateFailure(Exception):
    """The artifact's output differs from the eager float model by more than its gate allows (exit 1)."""


class MissingSDK(ElirError):
    """A target's SDK is not installed (exit 2, one line naming the pip extra)."""


@dataclass(frozen=True)
class RuntimeInfo:
    """How parity is checked for an artifact here: ``kind`` real / emulated / not_run (see the card schema)."""

    kind: str
    runtime: str | None
    reason: str | None = None


@dataclass(frozen=True)
class SensitivityScheme:
    """How a precision quantizes, for the shared per-layer sensitivity (`export.sensitivity.measure`)."""

    activations: str            # "none" | "affine-inputs" | "symmetric-io"
    margin_db: float            # aim this far above the gate: what the simulation leaves out
    max_float_share: float      # never keep more than this share of `cost` float
    cost: str = "macs"          # "macs" (int8 compute) or "params" (weight compression)
    bias_correction: bool = True  # quantize the bias-corrected model (`Sensitivity.corrected`)
    rounding: bool = False        # GPTQ-rounded int8 weights (`export.rounding`): symmetric per-channel int8 only
    keep: str = "float"           # what a layer kept out of int8 becomes (`export.sensitivity.KEEPS`)


@dataclass
class Conversion:
    """What `Target.finish` returns: the artifact (inside ``job.workdir``) and what the card says about it."""

    artifact: Path
    backend: str
    placement: dict              # the target's one measure: {"share": ..., "details": {...}}
    op_audit: dict               # {"op_counts": {...}, "flagged": [{"op", "count", "reason"}, ...]}
    quantization: dict | None = None
    compression: str | None = None
    methods: dict | None = None  # entry points beyond forward (ExecuTorch); None: forward only
    io: dict | None = None       # per tensor name: dtype / kind / range / quantization, where not float32
    extra_files: list[Path] = field(default_factory=list)
    runtime_notes: str = ""


class Target:
    """One export target.  Subclasses set the class attributes and implement `convert_float` and `finish`."""

    name = ""                     # python -m export.<name>; card export.target
    format = ""                   # card artifact.format: pte | mlpackage | tflite
    suffix = ""                   # artifact suffix, with the dot
    extra = ""                    # pip extra that installs the SDK: pip install "elir-mobile[<extra>]"
    sdk: tuple[str, ...] = ()     # modules imported by `require_sdk`
    precisions: tuple[str, ...] = ("fp32",)
    layouts: tuple[str, ...] = ("nchw",)
    default_calibration_images = 16
    description = ""
    placement_measure = ""        # the card's placement.measure
    placement_definition = ""     # and what it means

    # ------------------------------------------------------------------------------------ options (no SDK)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Target-specific options (the common ones are already there)."""

    def validate(self, args: argparse.Namespace) -> None:
        """Reject unusable option combinations early (raise ElirError), before any model is built."""

    def target_word(self, args: argparse.Namespace) -> str:
        """The target's word in file names (ExecuTorch adds its delegate)."""
        return self.name

    def compression(self, args: argparse.Namespace) -> str | None:
        return None

    def artifact_stem(self, task: str, args: argparse.Namespace) -> str:
        """``elir_<task>_<target>_<precision>[_<compression>]``: no two targets or variants share a stem."""
        compression = self.compression(args)
        stem = f"elir_{task}_{self.target_word(args)}_{args.precision}"
        return f"{stem}_{compression}" if compression else stem

    def policy_gate_db(self, args: argparse.Namespace) -> float:
        return gates.gate_for(self.name, args.precision, self.compression(args))

    def needs_calibration(self, args: argparse.Namespace) -> bool:
        return False

    def sensitivity_scheme(self, args: argparse.Namespace) -> SensitivityScheme | None:
        """The quantization scheme the shared sensitivity simulates, or None when nothing is quantized."""
        return None

    def wider_variant(self, args: argparse.Namespace) -> str | None:
        """The options of this target's variant with 16-bit activations, which the refusal line of an 8-bit
        activation variant suggests when the weights alone would pass (None: there is none)."""
        return None

    def require_sdk(self) -> None:
        """Import the target's SDK; a missing module is one `MissingSDK` line naming the extra."""
        from elir_mobile.quiet import native_output

        for module in self.sdk:
            try:
                with native_output(replay_on_error=False):  # TensorFlow-based SDKs log from C++ as they load
                    importlib.import_module(module)
            except ImportError as e:
                raise MissingSDK(f"python -m export.{self.name} needs {e.name or module}, which is not installed: "
                                 f"pip install \"elir-mobile[{self.extra}]\"") from None

    # ------------------------------------------------------------------------------------ conversion

    def float_key(self, args: argparse.Namespace) -> tuple | None:
        """What besides the model and its layout decides `convert_float`'s result (None: never reuse it)."""
        return ()

    def convert_float(self, job) -> Any:
        raise NotImplementedError

    # True where `measured_weights` reads the float program: it is then converted before the sensitivity (and
    # again from the bias-corrected model); otherwise only the model that is quantized is converted.
    weights_from_float_program = False

    def measured_weights(self, job, float_program: Any) -> dict | None:
        """Module path -> the target's own (decompressed) weight, for the sensitivity; None: simulate int8."""
        return None

    def finish(self, job, float_program: Any) -> Conversion:
        raise NotImplementedError

    def annotate(self, job, conversion: Conversion, parity: dict) -> None:
        """Write what parity measured into the artifact itself, where the format has metadata."""

    # ------------------------------------------------------------------------------------ running

    def runtime(self, args: argparse.Namespace) -> RuntimeInfo:
        """What checks parity of this artifact on this machine."""
        raise NotImplementedError

    def load(self, artifact: Path, threads: int = 2) -> Callable:
        """The artifact loaded once: a callable from float32 inputs (artifact layout) to its float32 output."""
        raise NotImplementedError
