"""Third-party output known to be harmless here, silenced at this project's entry points (``--verbose`` shows it).

Every silenced message is listed in `KNOWN` with the reason it is harmless; each filter names the module (Python
warning) or logger and the message, so a new warning from the same library still shows.  Libraries that print from
C++ (LiteRT's converter and interpreter, ExecuTorch's runtime) bypass Python: the few calls that do are wrapped in
`native_output()`, which sends their fd-level output to a buffer and replays it if the call fails.  Library code
(tests, notebooks) sees everything: only `install()`, called by the command-line entry points, silences.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Noise:
    """One known message: a Python warning (`category` from `module`) or a record of `logger`."""

    message: str                 # regular expression, matched at the start of the text
    why: str
    module: str | None = None    # warnings: the module that issues it
    category: type[Warning] | None = None
    logger: str | None = None    # logging: the logger it is logged on


KNOWN: tuple[Noise, ...] = (
    Noise(r"`isinstance\(treespec, LeafSpec\)` is deprecated", module=r"copyreg|torch\.utils\._pytree",
          category=FutureWarning,
          why="torch 2.13 deprecates pytree LeafSpec; ExecuTorch 1.5.1 and litert-torch 0.10 still create them "
              "when they copy exported programs (issued once per copy)"),
    Noise(r"<enum '\w+'> is an Enum subclass and is now natively supported", logger="torch.utils._pytree",
          why="torchao 0.18 registers its KernelPreference enum as a pytree constant, which torch 2.13 no longer needs"),
    Noise(r"Failed to load .*\.so", logger="torchao",
          why="torchao's CUDA kernels (mxfp8, cutlass) cannot load in a CPU-only torch; nothing here uses them"),
    Noise(r"scikit-learn version .* is not supported", logger="coremltools",
          why="coremltools' scikit-learn converter, which this project does not use, is switched off"),
    Noise(r"Torch version .* has not been tested with coremltools", logger="coremltools",
          why="coremltools 9.0 is tested up to torch 2.7; the exporter's parity gate checks every package it writes"),
    Noise(r"Failed to load _ML\w+Proxy", logger="coremltools",
          why="Core ML's native framework exists only on macOS; on Linux the packages are checked by export.coreml.mil"),
)

# Environment read by libraries when they load: (value, why).  Set only where the user has not set it.
ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": ("1", "LiteRT's converter logs its op count and oneDNN use at C++ INFO level"),
    # Our own progress bars pass `disable=` explicitly (None: only on a terminal), which wins over this default.
    "TQDM_DISABLE": ("1", "coremltools draws a progress bar per conversion pass; our stage lines say the same"),
}

_state = {"installed": False, "verbose": True}


class _LogFilter(logging.Filter):
    def __init__(self, patterns: list[re.Pattern]):
        super().__init__()
        self.patterns = patterns

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(p.match(text) for p in self.patterns)


def install(verbose: bool = False) -> None:
    """Silence `KNOWN` for the rest of the process (entry points call this first); `verbose` keeps everything."""
    _state["verbose"] = verbose
    if verbose or _state["installed"]:
        return
    _state["installed"] = True
    for key, (value, _why) in ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    by_logger: dict[str, list[re.Pattern]] = {}
    for noise in KNOWN:
        if noise.logger:
            by_logger.setdefault(noise.logger, []).append(re.compile(noise.message))
        else:
            warnings.filterwarnings("ignore", message=noise.message, category=noise.category, module=noise.module)
    for name, patterns in by_logger.items():
        logging.getLogger(name).addFilter(_LogFilter(patterns))


@contextmanager
def native_output(replay_on_error: bool = True):
    """Run a third-party call whose C++ code prints (logs, progress) with fd 1 and 2 sent to a buffer, unless
    `install` was not called or was verbose.  If the call raises, what it printed goes to stderr first (unless
    `replay_on_error` is false: the caller turns the error into one line of its own)."""
    if _state["verbose"]:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    failed = False
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            if failed and replay_on_error:
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))
                sys.stderr.flush()
