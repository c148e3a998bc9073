"""Private file plumbing: atomic writes, so that no half-written file ever sits under its final name."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def refuse_to_replace(*paths: str | os.PathLike, overwrite: bool = False, flag: str = "--overwrite") -> None:
    """Before any work: an output that exists is not replaced unless asked (``overwrite``), and an output whose
    parent is a file, or that is a folder where a file goes, is named with what to do."""
    for p in map(Path, paths):
        if p.is_dir():
            raise IsADirectoryError(f"{p} is a folder; give a file name for this output")
        for parent in p.parents:
            if parent.exists() and not parent.is_dir():
                raise NotADirectoryError(f"{parent} is a file, not a folder; choose another path for {p.name}")
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} already exists; pass {flag} to replace it, or choose another path")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the same folder; on success it is fsync'ed and renamed onto ``path``.

    On any exception the temporary file is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the final file follows the umask like any other
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Standard JSON: NaN and infinities are written as null (json.dumps would write bare NaN)."""
    text = json.dumps(_finite(obj), indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    write_text_atomic(path, text + "\n")


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _finite(o: Any) -> Any:
    import math

    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if hasattr(o, "dtype") and getattr(o, "ndim", 1) == 0:  # numpy scalars
        return _finite(o.item())
    if hasattr(o, "tolist") and hasattr(o, "dtype"):
        return _finite(o.tolist())
    return o


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
