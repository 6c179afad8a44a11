"""Atomic result files: write to a temporary file in the same folder, then rename.

Inside `atomic_group()` the renames wait until the block ends, so a set of result files is
replaced whole or not at all (a full disk, an error or Ctrl-C while writing leaves the earlier
files intact). `prepare_out` checks an output folder before anything is computed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import interrupt as _interrupt
from .errors import ConfigError, OverlapflowError

__all__ = ["check_out_file", "write_npz_atomic", "write_json_atomic", "save_figure_atomic", "load_npz", "load_array",
           "to_jsonable", "atomic_group", "prepare_out", "provenance", "WriteError", "figure_banner",
           "exit_after_writing", "existing_file", "write_atomic"]


class WriteError(OverlapflowError):
    """A result file could not be written (disk full, permissions); earlier files are intact."""


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


_GROUPS: list[dict] = []  # open atomic groups (innermost last)


def _group() -> dict | None:
    if _GROUPS and _GROUPS[-1]["thread"] == threading.get_ident():
        return _GROUPS[-1]
    return None


def write_atomic(path: Path, suffix: str, write):
    """Write `path` atomically: `write(fh)` fills a temporary file beside it (binary), which is
    synced and renamed over `path` (inside an `atomic_group`, at the group's commit)."""
    path = Path(path)
    group = _group()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results are for sharing
        if group is not None:
            group["pending"].append((tmp, path))
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            kept = (f"nothing in {path.parent} was changed" if group is not None
                    else f"any earlier {path.name} is unchanged")
            raise WriteError(f"cannot write {path}: {exc.strerror or exc}; {kept}") from None
        raise


@contextlib.contextmanager
def atomic_group(*, remove=()):
    """Commit every file written atomically inside the block together, when the block ends.

    On an exception (a full disk, Ctrl-C) no file is replaced and the temporary files are
    deleted. After the renames, the paths in `remove` that were not written in the block are
    deleted (stale results of an earlier run being overwritten). Ctrl-C while the files are
    written is recorded (`_support.interrupt.requested()`) but does not cut the writing short: what
    was computed is not lost.
    """
    group = {"pending": [], "thread": threading.get_ident()}
    _GROUPS.append(group)
    try:
        with _interrupt.deferred():
            yield group
    except BaseException:
        _GROUPS.remove(group)
        for tmp, _ in group["pending"]:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    _GROUPS.remove(group)
    with _interrupt.deferred():
        written = set()
        try:
            for tmp, path in group["pending"]:
                os.replace(tmp, path)
                written.add(os.path.abspath(path))
        except OSError as exc:
            for tmp, _ in group["pending"]:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise WriteError(f"cannot replace result files: {exc}") from None
        for path in remove:
            path = Path(path)
            if os.path.abspath(path) in written:
                continue
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.exists() or path.is_symlink():
                    path.unlink()


def exit_after_writing(out) -> int:
    """The exit code of a command whose result files in `out` are written: 0, or 130 (the
    command line's code for an interruption) after one line on stderr when Ctrl-C came while
    they were written — `atomic_group` finished the writing, so the files are complete."""
    if _interrupt.requested():
        print(f"overlapflow: interrupted while writing; {out} holds the complete results",
              file=sys.stderr)
        return 130
    return 0


def write_npz_atomic(path, **arrays) -> None:
    """Write arrays to `path` (.npz) atomically; string arrays are stored as unicode, not objects."""
    clean = {k: np.asarray(v) for k, v in arrays.items()}
    write_atomic(Path(path), ".npz", lambda fh: np.savez(fh, **clean))


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
    write_atomic(Path(path), ".json", lambda fh: fh.write(text.encode()))


_BANNER: list[str] = []


@contextlib.contextmanager
def figure_banner(text: str | None):
    """While active, every figure saved by `save_figure_atomic` carries `text` in red on top
    (used to mark figures of interrupted runs)."""
    if text:
        _BANNER.append(text)
    try:
        yield
    finally:
        if text:
            _BANNER.remove(text)


def save_figure_atomic(fig, path, **kwargs) -> None:
    """Save a matplotlib figure atomically (format from the suffix of `path`)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    if _BANNER:
        fig.text(0.5, 0.999, _BANNER[-1], color="#b00", ha="center", va="top", fontsize=10,
                 fontweight="bold")
    write_atomic(path, path.suffix, lambda fh: fig.savefig(fh, format=fmt, **kwargs))


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"


def existing_file(path, what: str) -> Path:
    """`path` as a Path, checked to name an existing file (not a folder).

    Raises:
        ConfigError: "WHAT 'PATH' is a folder, not a file" or "WHAT 'PATH' does not exist".
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} is a folder, not a file")
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist")
    return path


def _array_file(path, what: str, kind: str) -> tuple[Path, str]:
    """`path` checked to be a readable .npz or .npy file: ("npz" | "npy") from its first bytes.

    Raises:
        ConfigError: a missing path, a folder, an empty file, or a file of another kind.
    """
    path = existing_file(path, what)
    try:
        with path.open("rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise ConfigError(f"{what} {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise ConfigError(f"{what} {str(path)!r} is empty (0 bytes), not {kind} array file")
    if head[:4] in _ZIP_MAGIC:
        return path, "npz"
    if head == _NPY_MAGIC:
        return path, "npy"
    raise ConfigError(f"{what} {str(path)!r} is not an .npz/.npy array file (its first bytes are "
                      f"neither a zip archive nor an .npy header)")


def _broken(what, path, exc) -> ConfigError:
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConfigError(f"{what} {str(path)!r} is truncated or corrupt ({line})")


def load_npz(path, *, what: str = "file") -> dict[str, np.ndarray]:
    """Load a user .npz as data (allow_pickle=False); every problem becomes one ConfigError.

    A missing path, a folder, an empty, truncated or corrupt file, a file that is not an
    .npz (an .npy, random bytes) and arrays of Python objects are each named in one line.
    """
    path, kind = _array_file(path, what, "an .npz")
    if kind == "npy":
        raise ConfigError(f"{what} {str(path)!r} is an .npy (one array), not an .npz of named arrays")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k]) for k in data.files}
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise _broken(what, path, exc) from None
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ConfigError(f"{what} {str(path)!r} holds arrays of Python objects (dtype=object), "
                              "not plain arrays") from None
        raise _broken(what, path, exc) from None
    except OSError as exc:
        raise _broken(what, path, exc) from None


def load_array(path, *, what: str = "file") -> np.ndarray:
    """Load a user .npy as data (allow_pickle=False); every problem becomes one ConfigError."""
    path, kind = _array_file(path, what, "an .npy")
    if kind == "npz":
        raise ConfigError(f"{what} {str(path)!r} is an .npz (named arrays), not an .npy of one array")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ConfigError(f"{what} {str(path)!r} holds an array of Python objects "
                              "(dtype=object), not a plain array") from None
        raise _broken(what, path, exc) from None
    except (OSError, EOFError) as exc:
        raise _broken(what, path, exc) from None
    return np.asarray(arr)


def check_out_file(out, suffixes: tuple[str, ...], *, overwrite: bool) -> Path:
    """An output file named on the command line, checked before anything is computed: its
    suffix one of `suffixes` (lower case, e.g. (".npz",)), not a folder, not an existing file
    unless `overwrite`, in a folder that exists. Returns it as a Path; raises `ConfigError`."""
    out = Path(out)
    if out.suffix.lower() not in suffixes:
        ends = ", ".join(suffixes[:-1]) + (" or " if len(suffixes) > 1 else "") + suffixes[-1]
        raise ConfigError(f"--out {str(out)!r} must end in {ends}")
    if out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a folder; give a file name ending in {suffixes[0]}")
    if out.exists() and not overwrite:
        raise ConfigError(f"--out {str(out)!r} already exists; pass --overwrite to replace it")
    if not out.parent.exists():
        raise ConfigError(f"--out {str(out)!r}: the folder {str(out.parent)!r} does not exist")
    return out


# -- output folders and provenance ---------------------------------------------------------


def _listing(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def prepare_out(out, *, overwrite: bool = False, what: str = "--out", check_empty: bool = True,
                hint: str = "") -> Path:
    """Check an output folder before anything is computed; return it (created).

    The folder must be creatable and writable (a probe file is written and deleted). With
    `check_empty`, a folder that already holds files is refused unless `overwrite`: an
    earlier result is never replaced without being asked to.

    Raises:
        ConfigError: one line saying what is wrong and how to proceed.
    """
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{what} {str(folder)!r} is a file, not a folder")
    missing = []
    anc = folder
    while not anc.exists():
        missing.append(anc)
        if anc.parent == anc:
            break
        anc = anc.parent
    if anc.exists() and not anc.is_dir():
        raise ConfigError(f"{what} {str(folder)!r}: {str(anc)!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what} {str(folder)!r}: cannot create the folder "
                          f"({exc.strerror or exc})") from None
    probe = folder / f".overlapflow-write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, b"overlapflow")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        for path in missing:  # the folders created here (deepest first)
            with contextlib.suppress(OSError):
                path.rmdir()
        raise ConfigError(f"{what} {str(folder)!r} is not writable (a test file could not be "
                          f"created there: {exc.strerror or exc})") from None
    if check_empty and not overwrite:
        present = sorted(p.name for p in folder.iterdir())
        if present:
            raise ConfigError(
                f"{what} {str(folder)!r} already holds {_listing(present)} from an earlier run; "
                f"pass --overwrite to replace {'it' if len(present) == 1 else 'them'}"
                f"{hint}, or choose another --out")
    return folder


_COMMAND_LINE: list[str] = []


def set_command_line(argv) -> None:
    """Record the command line of this process (for `provenance`)."""
    _COMMAND_LINE[:] = [str(a) for a in argv]


def provenance() -> dict:
    """Versions, command line, date (UTC) and a machine description without the host name."""
    import datetime
    import platform
    import sys

    import jax
    import jaxlib

    from .._version import __version__
    from .parallel import available_cores

    return {
        "versions": {"overlapflow": __version__, "python": platform.python_version(),
                     "jax": jax.__version__, "jaxlib": jaxlib.__version__,
                     "numpy": np.__version__},
        "argv": list(_COMMAND_LINE) or list(sys.argv),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "machine": platform.machine(),
                    "cpu_count": os.cpu_count(), "available_cores": available_cores(),
                    "jax_backend": jax.default_backend()},
    }
