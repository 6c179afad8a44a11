"""The registry of task kinds: `make_task`, `task_parameters`, `check_task_for`, and
`batch_for_epoch`, the one place where batches are drawn from (task, seed, epoch).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from jax import Array

from ..._support.errors import ConfigError
from .arrays import ArraysTask
from .base import (
    Task,
    TaskBatch,
)
from .decision import DecisionMakingTask
from .flip_flop import FlipFlopTask
from .impulse import ImpulseDampedCosTask, ImpulseExpTask

# The neurogym kind imports neurogym itself only when such a task is made (docs/theory.md §11).
from .neurogym_env import NeurogymTask
from .noise_filter import NoiseFilterTask
from .teacher import TeacherTask

_REGISTRY: dict[str, type[Task]] = {
    cls.kind: cls
    for cls in (
        ImpulseExpTask,
        ImpulseDampedCosTask,
        NoiseFilterTask,
        FlipFlopTask,
        DecisionMakingTask,
        TeacherTask,
        ArraysTask,
        NeurogymTask,
    )
}

TASK_KINDS: tuple[str, ...] = tuple(_REGISTRY)
_COMMON = ("dt", "t_max", "n_in", "n_out")


def task_class(kind: str) -> type[Task]:
    if kind not in _REGISTRY:
        raise ConfigError(f"unknown task kind {kind!r}; valid kinds: {', '.join(TASK_KINDS)}")
    return _REGISTRY[kind]


def task_parameters(kind: str) -> dict[str, Any]:
    """Return the kind-specific parameter names of a task kind and their defaults.

    The common arguments ``dt``, ``t_max``, ``n_in``, ``n_out`` of :func:`make_task` are not
    included. Raises ConfigError for an unknown kind (listing the valid ones).
    """
    cls = task_class(kind)
    own = {f.name: f.default for f in dataclasses.fields(cls)
           if f.init and f.name not in _COMMON and f.name != "target_noise"}
    return {**own, "target_noise": 0.0}  # every kind takes it; listed after its own


def make_task(
    kind: str,
    *,
    dt: float,
    t_max: float | None = None,
    n_in: int,
    n_out: int,
    **params: Any,
) -> Task:
    """Return the task of ``kind`` (one of :data:`TASK_KINDS`) with the given parameters.

    Args:
        kind: task name, e.g. ``"impulse_exp"`` or ``"flip_flop"``.
        dt: time step (τ = 1), > 0.
        t_max: trial duration in seconds (T = round(t_max/dt)). Optional only for
            ``decision_making`` (default: the sum of its epochs) and ``arrays`` (default:
            T from the arrays).
        n_in, n_out: numbers of input and output channels.
        **params: kind-specific parameters, see :func:`task_parameters`.

    Raises ConfigError (one line) for an unknown kind, an unknown parameter name (listing
    the valid ones) or an invalid value.
    """
    cls = task_class(kind)
    valid = task_parameters(kind)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(
            f"{kind}: unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(valid) or '(none)'}"
        )
    if isinstance(params.get("source"), dict):  # a task given as a table (teacher's source)
        params["source"] = _table_task(kind, params["source"], dt=dt, t_max=t_max, n_in=n_in,
                                       n_out=n_out)
    return cls(dt=dt, t_max=t_max, n_in=n_in, n_out=n_out, **params)


def _table_task(owner: str, table: dict, *, dt, t_max, n_in, n_out) -> Task:
    """The task of a parameter given as a table {kind = …, its parameters}: it shares the
    owner's dt, t_max and n_in (its n_out defaults to the owner's)."""
    params = dict(table)
    kind = params.pop("kind", None)
    if kind is None:
        raise ConfigError(f"{owner}: source needs kind = one of {', '.join(TASK_KINDS)}")
    for name in ("dt", "t_max", "n_in"):
        if name in params:
            raise ConfigError(f"{owner}: source.{name} is this task's {name}; remove it")
    n_out = params.pop("n_out", n_out)
    return make_task(kind, dt=dt, t_max=t_max, n_in=n_in, n_out=n_out, **params)


def check_task_for(task: Any, spec: Any) -> Task:
    """Return `task` if it fits the network `spec`, else raise ConfigError (one line).

    A task fits when it is a `Task` with the network's n_in and n_out and the same dt: the
    task's time grid and the network's Euler step are one dt (docs/theory.md §1). A mismatch
    would not fail by itself: it silently changes the loss (e.g. spec.dt 0.05 with a task of
    dt 0.1 gave θ-space loss 0.637 against a closed form of 0.735).
    """
    if not isinstance(task, Task):
        raise ConfigError(f"task must be a Task from make_task (got {type(task).__name__})")
    if (task.n_in, task.n_out) != (spec.n_in, spec.n_out):
        raise ConfigError(
            f"the task has n_in={task.n_in}, n_out={task.n_out} but the network has "
            f"n_in={spec.n_in}, n_out={spec.n_out}"
        )
    if abs(task.dt - spec.dt) > 1e-12 * max(abs(spec.dt), 1e-300):
        raise ConfigError(
            f"task.dt = {task.dt!r} but spec.dt = {spec.dt!r}: the task's time step and the "
            "network's Euler step must be the same dt (make the task with dt=spec.dt)"
        )
    return task


def batch_for_epoch(task: Task, seed: int | Array, epoch: int | Array) -> TaskBatch:
    """Return the batch of ``epoch``: ``task.sample(fold_in(PRNGKey(seed), epoch))``.

    Works under ``jit``/``scan`` with a traced ``epoch`` (and ``seed``); ``task`` must be
    static (it is hashable) or closed over.
    """
    if not isinstance(task, Task):
        raise ConfigError(f"batch_for_epoch: expected a Task (got {type(task).__name__})")
    if isinstance(seed, bool) or (isinstance(seed, (int, np.integer)) and seed < 0):
        raise ConfigError(f"batch_for_epoch: seed must be a non-negative integer (got {seed!r})")
    key = jax.random.fold_in(jax.random.PRNGKey(seed), epoch)
    return task.sample(key)
