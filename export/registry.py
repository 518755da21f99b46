"""Every export target, by name and by artifact format: the one place that lists them.

Importing this imports no SDK (each target package defers its SDK to `Target.require_sdk`)."""

from __future__ import annotations

from elir_mobile.errors import ElirError

from .coreml import CoreMLTarget
from .executorch import ExecuTorchTarget
from .target import Target
from .tflite import TFLiteTarget

TARGETS: dict[str, Target] = {t.name: t for t in (ExecuTorchTarget(), CoreMLTarget(), TFLiteTarget())}


def get(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ElirError(f"unknown target {name!r}; choose one of: {', '.join(TARGETS)}") from None


def for_format(fmt: str) -> Target:
    """The target that writes artifacts of card ``artifact.format`` `fmt` (pte, mlpackage, tflite)."""
    for target in TARGETS.values():
        if target.format == fmt:
            return target
    raise ElirError(f"no target writes {fmt!r} artifacts; known formats: "
                    f"{', '.join(t.format for t in TARGETS.values())}")
