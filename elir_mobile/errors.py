"""One exception type for every user-facing failure, so the CLIs can print one line and exit 2."""


class ElirError(Exception):
    """A problem with the user's input (task, checkpoint, image, path) that the user can fix."""


class CheckpointError(ElirError):
    """A checkpoint that cannot be used: unreadable, unsafe, truncated, or for another architecture."""


def exit_code(command, *args) -> int:
    """Run a CLI command; a user error becomes one ``error:`` line on stderr and exit code 2."""
    import sys

    try:
        result = command(*args)
    except ElirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return result or 0
