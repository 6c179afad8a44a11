"""The task interface: `TaskBatch`, the frozen `Task` base class and the parameter validators
shared by every task kind (docs/theory.md §1, §7).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from ..._support.errors import ConfigError
from ..._support.validate import count, nonnegative, positive


class TaskBatch(NamedTuple):
    """One batch of trials.

    Attributes:
        x: (B, T, n_in) input; ``x[:, t]`` drives the update of step t.
        y: (B, T, n_out) target; ``y[:, t]`` is the target of the readout taken after
            update t, i.e. at time (t+1)·dt (docs/theory.md §1).
        mask: (B, T, n_out) loss weights, 1.0 where the loss counts and 0.0 elsewhere.
    """

    x: Array
    y: Array
    mask: Array


# ---------------------------------------------------------------------------------------
# validation helpers (plain Python, run at construction)


def default_float_dtype() -> Any:
    """JAX's default float dtype now (float64 when x64 is enabled, else float32)."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def steps_of(kind: str, name: str, seconds: float, dt: float, minimum: int) -> int:
    """Number of steps ``round(seconds/dt)``; ConfigError if below ``minimum``."""
    n = round(seconds / dt)
    if n < minimum:
        raise ConfigError(
            f"{kind}: {name}={seconds!r} is {n} steps of dt={dt!r}; it must be >= {minimum} steps"
        )
    return n


def set_field(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


# ---------------------------------------------------------------------------------------
# base class


@dataclass(frozen=True, kw_only=True)
class Task:
    """Base of all tasks: a frozen dataclass whose :meth:`sample` returns a :class:`TaskBatch`.

    Attributes:
        dt: time step (τ = 1).
        t_max: trial duration in seconds; ``n_steps = round(t_max/dt)``.
        n_in: number of input channels.
        n_out: number of output channels.
        n_steps: T, the number of steps (derived).
        batch_size: B, the number of trials per batch.
        target_noise: sd of Gaussian noise added to every target entry, drawn afresh for
            each batch from the batch's key (default 0: none). Any task accepts it; a task
            whose batch is otherwise fixed (impulse responses, arrays) becomes random, so
            the exact closed-form loss no longer applies and stepping is used. The noise
            comes from its own stream (the key folded with a constant), so the inputs and
            noise-free targets are those of the same task without it.
        deterministic: True when :meth:`sample` ignores its key (same batch every epoch).
    """

    kind: ClassVar[str] = "task"
    _fixed_batch: ClassVar[bool] = False

    dt: float
    t_max: float
    n_in: int
    n_out: int
    target_noise: float = 0.0

    @property
    def deterministic(self) -> bool:
        """True when every batch is the same (a fixed batch and no target noise)."""
        return self._fixed_batch and self.target_noise == 0.0

    def __post_init__(self) -> None:
        k = self.kind
        set_field(self, "target_noise", nonnegative(f"{k}: target_noise", self.target_noise))
        set_field(self, "dt", positive(f"{k}: dt", self.dt))
        if self.t_max is None:
            raise ConfigError(f"{k}: t_max is required")
        set_field(self, "t_max", positive(f"{k}: t_max", self.t_max))
        set_field(self, "n_in", count(f"{k}: n_in", self.n_in))
        set_field(self, "n_out", count(f"{k}: n_out", self.n_out))
        if self.n_steps < 1:
            raise ConfigError(f"{k}: t_max={self.t_max!r} is shorter than one step dt={self.dt!r}")

    @property
    def n_steps(self) -> int:
        """T = round(t_max / dt)."""
        return round(self.t_max / self.dt)

    @property
    def batch_size(self) -> int:  # overridden by a field in the random tasks
        raise NotImplementedError

    def sample(self, key: Array | None = None) -> TaskBatch:
        """Return one batch of shapes (B, T, n_in), (B, T, n_out), (B, T, n_out).

        ``key`` is a JAX PRNG key (ignored, and may be None, when ``deterministic``). Pure
        and compiled once per task (the task is a static argument of an inner ``jit``);
        works under ``jit``, ``vmap`` over keys and ``lax.scan``.
        """
        if self.deterministic:
            key = None
        elif key is None:
            raise ConfigError(f"{self.kind}: sample() needs a PRNG key (the task is random)")
        return _sample_compiled(self, key)

    def _sample(self, key: Array | None) -> TaskBatch:
        raise NotImplementedError


#: Folded into a batch's key to draw its target noise (a stream of its own).
_TARGET_NOISE_STREAM = 0x7A4E


@functools.partial(jax.jit, static_argnums=0)
def _sample_compiled(task: Task, key: Array | None) -> TaskBatch:
    batch = task._sample(None if task._fixed_batch else key)
    if task.target_noise == 0.0:
        return batch
    k_noise = jax.random.fold_in(key, _TARGET_NOISE_STREAM)
    noise = jax.random.normal(k_noise, batch.y.shape, batch.y.dtype)
    return batch._replace(y=batch.y + task.target_noise * noise)
