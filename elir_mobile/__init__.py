"""elir-mobile: ELIR image restoration in plain PyTorch, ready for mobile export.

The package imports lazily (PEP 562): ``elir_mobile.tasks`` or ``elir_mobile.errors`` load without torch, so the
command-line tools answer ``--help`` at once; `load_model`, `restore` and `baked` import torch on first use.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {"load_model": "api", "restore": "api", "baked": "api", "TASKS": "tasks", "Task": "tasks",
            "get_task": "tasks", "ElirError": "errors", "CheckpointError": "errors"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
