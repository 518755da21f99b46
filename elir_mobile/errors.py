"""One exception type for every user-facing failure, so the CLIs can print one line and exit 2."""


class ElirError(Exception):
    """A problem with the user's input (task, checkpoint, image, path) that the user can fix."""


class CheckpointError(ElirError):
    """A checkpoint that cannot be used: unreadable, unsafe, truncated, or for another architecture."""
