"""Reading ELIR checkpoints safely and strictly.

Three on-disk layouts are accepted, all normalised to the released layout (one flat state dict with prefixes
``enc.``, ``mmse.``, ``fmir.``, ``dec.``, collapsed convs):
- released ``.pth`` (a torch pickle, read with ``weights_only=True`` so no code in it ever runs);
- training ``.ckpt`` (``state_dict_enc`` / ``_mmse`` / ``_fmir`` / ``_dec``, with over-parametrized convs that
  are collapsed exactly here);
- ``.safetensors`` with released-layout keys.
The model's own attribute names differ from the file's prefixes; `FILE_TO_MODULE` is the one place they meet.
"""

from __future__ import annotations

import pickletools
import re
import zipfile
from pathlib import Path
from typing import Mapping

import torch

from .errors import CheckpointError

FILE_TO_MODULE = {"enc": "encoder", "mmse": "coarse", "fmir": "velocity", "dec": "decoder"}
MODULE_TO_FILE = {v: k for k, v in FILE_TO_MODULE.items()}
TRAINING_KEYS = {f"state_dict_{prefix}": prefix for prefix in FILE_TO_MODULE}

StateDict = dict[str, torch.Tensor]


def to_module_keys(state: Mapping[str, torch.Tensor]) -> StateDict:
    """Released-layout keys -> the model's `state_dict` keys (unknown prefixes pass through unchanged)."""
    out = {}
    for key, value in state.items():
        prefix, _, rest = key.partition(".")
        out[f"{FILE_TO_MODULE.get(prefix, prefix)}.{rest}" if rest else key] = value
    return out


def to_file_keys(state: Mapping[str, torch.Tensor]) -> StateDict:
    """The model's `state_dict` keys -> released-layout keys, e.g. to save a checkpoint users can share."""
    out = {}
    for key, value in state.items():
        prefix, _, rest = key.partition(".")
        out[f"{MODULE_TO_FILE.get(prefix, prefix)}.{rest}"] = value
    return out


_OVERPARAM = re.compile(r"^(?P<stem>.*\.block)\.(?P<idx>\d+)\.weight$")


def collapse_overparametrized(state: Mapping[str, torch.Tensor]) -> StateDict:
    """Fold every (kxk conv to m channels, 1x1 conv back) pair under a ``.block`` into one kxk conv.

    ``W[o, i] = sum_m W2[o, m] W1[m, i]`` and ``b = W2 b1 + b2`` are exact: no nonlinearity sits between them.
    Computed in float64 so the collapsed weights carry no more rounding than the file's own precision.
    """
    out = dict(state)
    for key in list(state):
        match = _OVERPARAM.match(key)
        if not match:
            continue
        stem, idx = match["stem"], int(match["idx"])
        w1, w2 = state[key], state.get(f"{stem}.{idx + 1}.weight")
        if w2 is None or w1.dim() != 4 or w2.dim() != 4 or w2.shape[2:] != (1, 1) or w2.shape[1] != w1.shape[0]:
            continue
        m2 = w2[:, :, 0, 0].double()
        out[key] = torch.einsum("om,mikl->oikl", m2, w1.double()).to(w1.dtype)
        b1 = state.get(f"{stem}.{idx}.bias")
        b2 = state.get(f"{stem}.{idx + 1}.bias")
        bias = m2 @ b1.double() if b1 is not None else torch.zeros(w2.shape[0], dtype=torch.float64)
        if b2 is not None:
            bias = bias + b2.double()
        out[f"{stem}.{idx}.bias"] = bias.to(w1.dtype)
        out.pop(f"{stem}.{idx + 1}.weight")
        out.pop(f"{stem}.{idx + 1}.bias", None)
    return out


def normalize(raw: Mapping) -> StateDict:
    """Any accepted in-memory layout -> released layout."""
    if any(k in raw for k in TRAINING_KEYS):
        missing = [k for k in TRAINING_KEYS if k not in raw]
        if missing:
            raise CheckpointError(f"training checkpoint lacks {', '.join(missing)}; it cannot be loaded")
        flat = {}
        for part, prefix in TRAINING_KEYS.items():
            for key, value in collapse_overparametrized(raw[part]).items():
                flat[f"{prefix}.{key}"] = value
        return flat
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in raw.items()):
        raise CheckpointError("checkpoint is not a state dict of tensors (nor a training checkpoint)")
    return dict(raw)


def _read_torch_pickle(path: Path) -> Mapping:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the weights-only unpickler raises many types on bad input
        unsafe = sorted(n for n in _pickled_globals(path) if not n.startswith(_SAFE_MODULES))
        if unsafe:
            raise CheckpointError(
                f"{path} holds Python objects other than tensors ({', '.join(unsafe[:3])}); refused "
                "without running them (only weight files are loaded)") from None
        raise _unreadable(path, exc) from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return obj


_SAFE_MODULES = ("torch", "collections.OrderedDict", "_codecs.encode")


def _pickled_globals(path: Path) -> set[str]:
    """Names a pickle would import, read from its opcodes without executing anything."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                data = archive.read(member)
        else:
            data = path.read_bytes()
        names, strings = set(), []
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name == "GLOBAL":
                names.add(str(arg).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.add(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
        return names
    except Exception:  # not a pickle at all, or cut short: nothing to report
        return set()


def _unreadable(path: Path, exc: Exception) -> CheckpointError:
    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
    with path.open("rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    if is_zip:  # torch.save's format: a zip archive that is cut short or damaged
        return CheckpointError(f"{path} is truncated or corrupt ({reason}); download it again")
    return CheckpointError(f"{path} is not a PyTorch checkpoint ({reason})")


def read_checkpoint(path: str | Path) -> StateDict:
    """Read a checkpoint file into the released layout, refusing anything that is not plain tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the path of an ELIR weight file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty; download it again")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return normalize(load_file(str(path)))
        except SafetensorError as exc:
            raise CheckpointError(f"{path} is not a valid safetensors file ({exc})") from None
    return normalize(_read_torch_pickle(path))


def expected_shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """Released-layout key -> shape that `model` needs."""
    return {k: tuple(v.shape) for k, v in to_file_keys(model.state_dict()).items()}


def describe_mismatch(state: Mapping[str, torch.Tensor], want: Mapping[str, tuple[int, ...]]) -> str | None:
    """One-line description of how `state` differs from `want`, or None when keys and shapes match."""
    have = {k: tuple(v.shape) for k, v in state.items()}
    problems = []
    for label, keys in (("missing", [k for k in want if k not in have]),
                        ("unexpected", [k for k in have if k not in want]),
                        ("wrong shape", [k for k in want if k in have and have[k] != want[k]])):
        if keys:
            shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
            problems.append(f"{len(keys)} {label} ({shown})")
    return "; ".join(problems) or None


def matching_tasks(state: Mapping[str, torch.Tensor]) -> list[str]:
    """The released tasks whose architecture has exactly these keys and shapes."""
    from .model import ELIR
    from .tasks import TASKS

    names = []
    for task in TASKS.values():
        with torch.device("meta"):
            model = ELIR(task.model_config())
        if describe_mismatch(state, expected_shapes(model)) is None:
            names.append(task.name)
    return names


def load_into(model: torch.nn.Module, state: Mapping[str, torch.Tensor], *, expected_task: str | None = None,
              source: str = "checkpoint") -> None:
    """Strictly copy a released-layout state dict into `model`, or explain which keys disagree."""
    problem = describe_mismatch(state, expected_shapes(model))
    if problem:
        owners = matching_tasks(state)
        if owners:
            wanted = f"task {expected_task!r}" if expected_task else "this architecture"
            raise CheckpointError(f"{source} is a checkpoint for {' / '.join(owners)}, not for {wanted}; "
                                  f"pass --task {owners[0]} or the right file")
        raise CheckpointError(f"{source} does not fit the model: {problem}")
    model.load_state_dict(to_module_keys(state), strict=True)
