"""Tasks from arrays: inputs, targets and masks read from a file (docs/theory.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
from jax import Array

from ..._support.errors import ConfigError
from ..._support.validate import positive
from .base import Task, TaskBatch, check_fields, default_float_dtype, set_field, store_arrays

# ---------------------------------------------------------------------------------------
# user-provided arrays


def _as_float_array(name: str, value: Any) -> np.ndarray:
    if np.iscomplexobj(value):
        raise ConfigError(f"arrays: {name} must be real, not complex")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"arrays: {name} must be a numeric array ({err})") from None
    if arr.ndim not in (2, 3):
        raise ConfigError(
            f"arrays: {name} must have shape (T, n) or (B, T, n) (got shape {arr.shape})"
        )
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"arrays: {name} contains NaN or inf")
    return arr if arr.ndim == 3 else arr[None]


@dataclass(frozen=True, kw_only=True)
class ArraysTask(Task):
    """A fixed batch given as arrays (loaded from a file elsewhere); deterministic.

    Parameters:
        x: (T, n_in) or (B, T, n_in) input.
        y: (T, n_out) or (B, T, n_out) target, same B (after promotion) and T as x.
        mask: optional, same shape as y or (T, n_out) (shared by all trials); values in
            [0, 1], not all zero. Defaults to ones.

    2-D arrays are promoted to (1, T, n). T comes from the arrays: ``t_max`` may be omitted
    (then ``t_max = T·dt``); if given, ``round(t_max/dt)`` must equal T (ConfigError). The
    arrays are stored as read-only float64 numpy copies; equality and hashing use their
    content digest, so two tasks with equal data share a ``jit`` cache entry.
    """

    kind: ClassVar[str] = "arrays"
    _fixed_batch: ClassVar[bool] = True
    t_max: float | None = None  # type: ignore[assignment]
    x: Any = field(default=None, compare=False, repr=False)
    y: Any = field(default=None, compare=False, repr=False)
    mask: Any = field(default=None, compare=False, repr=False)
    digest: str = field(init=False, default="", repr=False)

    def __post_init__(self) -> None:
        k = self.kind
        check_fields(self, positive, "dt")
        if self.x is None or self.y is None:
            raise ConfigError(f"{k}: both x and y arrays are required")
        x = _as_float_array("x", self.x)
        y = _as_float_array("y", self.y)
        if x.shape[:2] != y.shape[:2]:
            raise ConfigError(
                f"{k}: x and y must share (B, T) (got x {x.shape[:2]}, y {y.shape[:2]})"
            )
        if self.mask is None:
            mask = np.ones_like(y)
        else:
            mask = _as_float_array("mask", self.mask)
            if mask.shape[1:] != y.shape[1:] or mask.shape[0] not in (1, y.shape[0]):
                raise ConfigError(
                    f"{k}: mask shape {np.shape(self.mask)} does not match y shape {np.shape(self.y)}"
                )
            mask = np.broadcast_to(mask, y.shape).copy()
            if np.any(mask < 0) or np.any(mask > 1):
                raise ConfigError(f"{k}: mask values must lie in [0, 1]")
            if not np.any(mask > 0):
                raise ConfigError(f"{k}: mask is zero everywhere")
        n_steps = x.shape[1]
        if n_steps < 1:
            raise ConfigError(f"{k}: the arrays have no time steps (T = 0)")
        if self.t_max is None:
            set_field(self, "t_max", n_steps * self.dt)
        else:
            t_max = positive(f"{k}: t_max", self.t_max)
            if round(t_max / self.dt) != n_steps:
                raise ConfigError(
                    f"{k}: t_max={t_max!r} gives {round(t_max / self.dt)} steps but the arrays have T={n_steps}"
                )
        super().__post_init__()
        if x.shape[2] != self.n_in:
            raise ConfigError(f"{k}: x has {x.shape[2]} input channels but n_in={self.n_in}")
        if y.shape[2] != self.n_out:
            raise ConfigError(f"{k}: y has {y.shape[2]} output channels but n_out={self.n_out}")
        store_arrays(self, x=x, y=y, mask=mask)

    @property
    def n_steps(self) -> int:
        """T, taken from the arrays."""
        return int(self.x.shape[1])

    @property
    def batch_size(self) -> int:
        """B, taken from the arrays."""
        return int(self.x.shape[0])

    def _sample(self, key: Array | None) -> TaskBatch:
        """Return the stored batch as JAX arrays (B, T, ·); ``key`` is ignored."""
        dtype = default_float_dtype()
        return TaskBatch(
            x=jnp.asarray(self.x, dtype),
            y=jnp.asarray(self.y, dtype),
            mask=jnp.asarray(self.mask, dtype),
        )
