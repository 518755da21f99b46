"""elir-mobile: ELIR image restoration in plain PyTorch, ready for mobile export."""

from .api import baked, load_model, restore
from .errors import CheckpointError, ElirError
from .tasks import TASKS, Task, get_task

__all__ = ["load_model", "restore", "baked", "TASKS", "Task", "get_task", "ElirError", "CheckpointError"]
