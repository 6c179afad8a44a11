"""Impulse tasks: one pulse at t = 0, an exponential or damped-cosine target (docs/theory.md §7.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax.numpy as jnp
from jax import Array

from ..._support.validate import real
from .base import Task, TaskBatch, check_fields, default_float_dtype

# ---------------------------------------------------------------------------------------
# impulse responses


@dataclass(frozen=True, kw_only=True)
class _ImpulseTask(Task):
    """Impulse-response task: x_0 = 1/dt on one channel, target = a fixed kernel k(t).

    With n_in inputs the batch holds n_in trials (B = n_in); trial i gets the impulse on
    input channel i, and every output channel has the same target ``k((t+1)·dt)``.
    """

    _fixed_batch: ClassVar[bool] = True

    @property
    def batch_size(self) -> int:
        """B = n_in (one trial per input channel)."""
        return self.n_in

    def _kernel(self, times: Array) -> Array:
        raise NotImplementedError

    def _sample(self, key: Array | None) -> TaskBatch:
        """Return the (deterministic) impulse batch; ``key`` is ignored.

        Returns:
            x: (n_in, T, n_in) with ``x[i, 0, i] = 1/dt`` and zeros elsewhere.
            y: (n_in, T, n_out) with ``y[i, t, j] = k((t+1)·dt)``.
            mask: (n_in, T, n_out) ones.
        """
        dtype = default_float_dtype()
        b, t_steps = self.n_in, self.n_steps
        eye = jnp.eye(b, dtype=dtype) / self.dt
        x = jnp.zeros((b, t_steps, self.n_in), dtype).at[:, 0, :].set(eye)
        times = (jnp.arange(t_steps, dtype=dtype) + 1) * self.dt
        target = self._kernel(times).astype(dtype)
        y = jnp.broadcast_to(target[None, :, None], (b, t_steps, self.n_out))
        mask = jnp.ones((b, t_steps, self.n_out), dtype)
        return TaskBatch(x=x, y=y, mask=mask)


@dataclass(frozen=True, kw_only=True)
class ImpulseExpTask(_ImpulseTask):
    """Impulse response to ``y*_t = amplitude·exp(−c (t+1) dt)`` (docs/theory.md §1, Fig. 1).

    Parameters: ``decay`` rate c (finite real), ``amplitude`` (finite real).
    """

    kind: ClassVar[str] = "impulse_exp"
    decay: float = 0.2
    amplitude: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fields(self, real, "decay", "amplitude")

    def _kernel(self, times: Array) -> Array:
        return self.amplitude * jnp.exp(-self.decay * times)


@dataclass(frozen=True, kw_only=True)
class ImpulseDampedCosTask(_ImpulseTask):
    """Impulse response to ``y*_t = amplitude·exp(−c (t+1) dt)·cos(ω (t+1) dt)`` (Fig. 12).

    Parameters: ``decay`` rate c, ``omega`` angular frequency, ``amplitude`` (finite reals).
    """

    kind: ClassVar[str] = "impulse_damped_cos"
    decay: float = 0.3
    omega: float = 2.0
    amplitude: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fields(self, real, "decay", "omega", "amplitude")

    def _kernel(self, times: Array) -> Array:
        return self.amplitude * jnp.exp(-self.decay * times) * jnp.cos(self.omega * times)
