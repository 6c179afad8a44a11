"""Atomic result files: write to a temporary file in the same folder, then rename."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ._errors import ConfigError

__all__ = ["write_npz_atomic", "write_json_atomic", "save_figure_atomic", "load_npz", "to_jsonable"]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _atomic(path: Path, suffix: str, write):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results are for sharing
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_npz_atomic(path, **arrays) -> None:
    """Write arrays to `path` (.npz) atomically; string arrays are stored as unicode, not objects."""
    clean = {k: np.asarray(v) for k, v in arrays.items()}
    _atomic(Path(path), ".npz", lambda fh: np.savez(fh, **clean))


def to_jsonable(obj):
    """Convert numpy scalars/arrays and non-finite floats (→ null) for strict JSON."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json_atomic(path, obj) -> None:
    """Write `obj` as indented, strict JSON (NaN/inf become null) atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    _atomic(Path(path), ".json", lambda fh: fh.write(text.encode()))


def save_figure_atomic(fig, path, **kwargs) -> None:
    """Save a matplotlib figure atomically (format from the suffix of `path`)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    _atomic(path, path.suffix, lambda fh: fig.savefig(fh, format=fmt, **kwargs))


def load_npz(path, *, what: str = "file") -> dict[str, np.ndarray]:
    """Load a user .npz as data (allow_pickle=False); errors become ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k]) for k in data.files}
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{what} {str(path)!r} is not a readable .npz of plain arrays ({exc})")
