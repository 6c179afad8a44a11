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

from .errors import ConfigError

__all__ = ["count", "integer", "is_int", "nonnegative", "positive", "real"]


def is_int(value: Any) -> bool:
    """True for a Python or NumPy integer (not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


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


def integer(name: str, value: Any, minimum: int | None = None) -> int:
    """`value` as a Python int (≥ `minimum` when given)."""
    if not is_int(value):
        raise ConfigError(f"{name} must be an integer (got {value!r})")
    out = int(value)
    if minimum is not None and out < minimum:
        raise ConfigError(f"{name} must be >= {minimum} (got {value!r})")
    return out


def count(name: str, value: Any, minimum: int = 1) -> int:
    """`value` as a Python int ≥ `minimum` (default 1): a number of things."""
    return integer(name, value, minimum)
