"""Checks of arguments where they enter the library: one place for "a finite number > 0",
"an integer ≥ 1" and the like, and one wording for what was wrong.

Every check takes the argument's name as its user knows it — a library parameter
("epochs"), a configuration key ("train.eta"), a task parameter ("impulse_exp: decay") — and
raises a one-line `ConfigError` "NAME must be … (got VALUE)"; the command line shows it as is.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["count", "finite", "in_range", "integer", "is_int", "nonnegative", "positive", "real",
           "scalar"]


def is_int(value: Any) -> bool:
    """True for a Python or NumPy integer (not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def scalar(value: Any) -> Any:
    """The Python number of a 0-d NumPy or JAX array (`.item()`), so that the checks below
    accept it as they accept a number; anything else unchanged (and judged by them)."""
    if getattr(value, "ndim", None) == 0 and not isinstance(value, (numbers.Number, np.generic)):
        try:
            return value.item()
        except Exception:  # a traced value has no number: the checks refuse it as it is
            return value
    return value


def real(name: str, value: Any) -> float:
    """`value` as a finite Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a real number (got {value!r})")
    out = float(value)
    if not math.isfinite(out):
        raise ConfigError(f"{name} must be finite (got {value!r})")
    return out


def positive(name: str, value: Any) -> float:
    """`value` as a finite float > 0."""
    out = real(name, value)
    if out <= 0:
        raise ConfigError(f"{name} must be > 0 (got {value!r})")
    return out


def nonnegative(name: str, value: Any) -> float:
    """`value` as a finite float ≥ 0."""
    out = real(name, value)
    if out < 0:
        raise ConfigError(f"{name} must be >= 0 (got {value!r})")
    return out


def in_range(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
             high_open: bool = False) -> float:
    """`value` as a finite float in the interval from `low` to `high`, each end included
    unless `low_open` / `high_open`: "NAME must be in [low, high) (got VALUE)"."""
    out = real(name, value)
    if out < low or out > high or (low_open and out == low) or (high_open and out == high):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be in {interval} (got {value!r})")
    return out


def finite(name: str, value: Any) -> np.ndarray:
    """`value` (a number or an array of them, NumPy or JAX) as a NumPy array of finite real
    numbers; the first entry that is not finite is named with its index."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise ConfigError(f"{name} must be real numbers (got {value!r})")
    bad = ~np.isfinite(arr)
    if bad.any():
        if arr.ndim == 0:
            raise ConfigError(f"{name} must be finite (got {arr.item()!r})")
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = index[0] if len(index) == 1 else index
        raise ConfigError(f"{name} must be finite (got {arr[index].item()!r} at index {where})")
    return arr


def integer(name: str, value: Any, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """`value` as a Python int (≥ `minimum` and ≤ `maximum` when given)."""
    if not is_int(value):
        if minimum is not None and maximum is not None:
            raise ConfigError(f"{name} must be an integer in [{minimum}, {maximum}] "
                              f"(got {value!r})")
        raise ConfigError(f"{name} must be an integer (got {value!r})")
    out = int(value)
    if minimum is not None and maximum is not None and not minimum <= out <= maximum:
        raise ConfigError(f"{name} must be an integer in [{minimum}, {maximum}] (got {value!r})")
    if minimum is not None and out < minimum:
        raise ConfigError(f"{name} must be >= {minimum} (got {value!r})")
    if maximum is not None and out > maximum:
        raise ConfigError(f"{name} must be <= {maximum} (got {value!r})")
    return out


def count(name: str, value: Any, minimum: int = 1) -> int:
    """`value` as a Python int ≥ `minimum` (default 1): a number of things."""
    return integer(name, value, minimum)
