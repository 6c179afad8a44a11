"""The noise-filter task: white-noise input, target a filtered copy (docs/theory.md §7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..._support.validate import count, nonnegative, real
from .base import Task, TaskBatch, check_fields, default_float_dtype

# ---------------------------------------------------------------------------------------
# white noise through an exponential filter


@dataclass(frozen=True, kw_only=True)
class NoiseFilterTask(Task):
    """White noise in, exponentially filtered noise out (docs/theory.md §7, "filter").

    Input: ``x[b, t, i] = noise_sd/sqrt(dt) · ξ``, ξ ~ N(0, 1) i.i.d., so that
    ``dt·Σ_t x_t`` is a Wiener process of variance ``noise_sd²·time`` (white noise of
    intensity noise_sd², independent of dt).

    Target of output j, filtering input channel ``i = j mod n_in``, with the readout after
    update t (the input of step t is included)::

        y[b, t, j] = Σ_{s=0}^{t} dt · exp(−decay·(t−s)·dt) · x[b, s, i]

    i.e. ``y_t = exp(−decay·dt)·y_{t−1} + dt·x_t``, ``y_{−1} = 0``. Mask: all ones.

    Parameters: ``decay`` (finite real), ``noise_sd`` (>= 0), ``batch_size`` (>= 1).
    """

    kind: ClassVar[str] = "noise_filter"
    decay: float = 0.5
    noise_sd: float = 1.0
    batch_size: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fields(self, real, "decay")
        check_fields(self, nonnegative, "noise_sd")
        check_fields(self, count, "batch_size")

    def _sample(self, key: Array) -> TaskBatch:
        """Return a random batch: x (B, T, n_in), y and mask (B, T, n_out)."""
        dtype = default_float_dtype()
        shape = (self.batch_size, self.n_steps, self.n_in)
        x = (self.noise_sd / math.sqrt(self.dt)) * jax.random.normal(key, shape, dtype)
        channels = np.arange(self.n_out) % self.n_in
        drive = self.dt * x[:, :, channels]  # (B, T, n_out)
        a = jnp.full_like(drive, math.exp(-self.decay * self.dt))

        def combine(first: tuple[Array, Array], second: tuple[Array, Array]) -> tuple[Array, Array]:
            # composition of affine maps y -> a·y + b, earlier one first
            a1, b1 = first
            a2, b2 = second
            return a1 * a2, a2 * b1 + b2

        _, y = jax.lax.associative_scan(combine, (a, drive), axis=1)
        mask = jnp.ones_like(y)
        return TaskBatch(x=x, y=y, mask=mask)
