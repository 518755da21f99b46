"""Fetching the released weights into a local cache, never leaving a partial file behind."""

from __future__ import annotations

import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .errors import ElirError
from .tasks import RELEASE_BASE_URL, Task

BASE_URL_ENV = "ELIR_MOBILE_BASE_URL"  # e.g. a mirror: files are fetched as <base>/elir_<task>.pth


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "elir-mobile"


def release_url(task: Task) -> str:
    return f"{os.environ.get(BASE_URL_ENV, RELEASE_BASE_URL).rstrip('/')}/{task.file_name}"


def download(url: str, dest: Path, *, timeout: float = 60.0) -> Path:
    """Stream `url` to `dest` with a progress bar; the file appears only once complete."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            total = int(expected) if expected else None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}", disable=None) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise ElirError(f"download of {url} stopped after {received} of {total} bytes; try again "
                            "or pass --checkpoint PATH")
        os.replace(tmp, dest)
        return dest
    except urllib.error.HTTPError as exc:
        raise ElirError(f"could not download {url}: HTTP {exc.code} {exc.reason}; "
                        f"check {BASE_URL_ENV} or pass --checkpoint PATH") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ElirError(f"could not download {url} ({reason}); offline? pass --checkpoint PATH "
                        "to a downloaded weight file") from None
    finally:
        tmp.unlink(missing_ok=True)


def released_checkpoint(task: Task) -> Path:
    """The cached released weight file of `task`, downloaded on first use."""
    path = cache_dir() / task.file_name
    if path.is_file():
        return path
    return download(release_url(task), path)
