"""The task interface: `TaskBatch`, the frozen `Task` base class and the parameter validators
shared by every task kind (docs/theory.md §1, §7).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
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


def check_fields(task: Any, check: Callable[..., Any], *names: str, **options: Any) -> None:
    """Check the named fields of a frozen task and store what the check returns.

    Each field ``name`` becomes ``check(f"{task.kind}: {name}", value, **options)``, with
    ``check`` one of `_support.validate`'s checks (`real`, `positive`, `count`, …), so its
    ConfigError names the field as "KIND: NAME". The fields are checked in the order given.
    """
    for name in names:
        set_field(task, name, check(f"{task.kind}: {name}", getattr(task, name), **options))


def store_arrays(task: Any, **arrays: Any) -> None:
    """Store numpy arrays in a frozen task, read-only, with the digest of their content.

    Each keyword names the field that gets its array; the field ``digest`` gets the hex
    digest (blake2b, 16 bytes) of the arrays' shapes and bytes, in the order given: the key
    by which a task that holds arrays is compared and hashed (equal data, one ``jit`` entry).
    """
    digest = hashlib.blake2b(digest_size=16)
    for arr in arrays.values():
        arr.setflags(write=False)
        digest.update(repr(arr.shape).encode())
        digest.update(arr.tobytes())
    for name, arr in arrays.items():
        set_field(task, name, arr)
    set_field(task, "digest", digest.hexdigest())


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
        check_fields(self, nonnegative, "target_noise")
        check_fields(self, positive, "dt")
        if self.t_max is None:
            raise ConfigError(f"{k}: t_max is required")
        check_fields(self, positive, "t_max")
        check_fields(self, count, "n_in", "n_out")
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
