"""Tasks: batches of inputs, targets and loss masks for training an RNN (docs/theory.md §1, §7).

Time conventions shared by every task (docs/theory.md §1). A task has ``T = n_steps`` steps of
length ``dt`` (τ = 1). Step ``t`` (``t = 0 … T−1``) stands for the time ``t·dt``: the input
``x[:, t]`` drives the update ``h_t → h_{t+1}``, and the output compared with ``y[:, t]`` is
read *after* that update, at time ``(t+1)·dt``. Hence an exponential target sampled at the
readout times is ``exp(−c (t+1) dt)`` and an impulse is ``x_0 = 1/dt``.

Every task is a frozen, hashable dataclass (``jax.jit(f, static_argnums=...)`` on a task
works) whose :meth:`Task.sample` is pure JAX: no Python loop over time steps, so it runs
under ``jit``, ``vmap`` over keys, and inside ``lax.scan`` over epochs with a traced epoch
index (see :func:`batch_for_epoch`). Arrays come out in JAX's default float dtype (float64
when ``jax_enable_x64`` is on). Invalid parameters raise :class:`ConfigError` at
construction, before anything is traced.
"""

from .arrays import ArraysTask
from .base import Task, TaskBatch
from .decision import DecisionMakingTask
from .flip_flop import FlipFlopTask
from .impulse import ImpulseDampedCosTask, ImpulseExpTask
from .noise_filter import NoiseFilterTask
from .registry import (
    TASK_KINDS,
    batch_for_epoch,
    check_task_for,
    make_task,
    task_parameters,
)
from .teacher import TeacherTask

__all__ = [
    "TASK_KINDS",
    "ArraysTask",
    "DecisionMakingTask",
    "FlipFlopTask",
    "ImpulseDampedCosTask",
    "ImpulseExpTask",
    "NoiseFilterTask",
    "Task",
    "TaskBatch",
    "TeacherTask",
    "batch_for_epoch",
    "check_task_for",
    "make_task",
    "task_parameters",
]
