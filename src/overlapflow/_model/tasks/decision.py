"""The perceptual decision-making task: noisy evidence, then a report (docs/theory.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..._support.errors import ConfigError
from ..._support.validate import count, nonnegative, positive, real
from .base import Task, TaskBatch, check_fields, default_float_dtype, set_field, steps_of

# ---------------------------------------------------------------------------------------
# perceptual decision making


@dataclass(frozen=True, kw_only=True)
class DecisionMakingTask(Task):
    """Random-dots-like decision making (docs/theory.md §7). n_in = n_out = 1.

    Epochs in order: fixation, stimulus, delay, response. Their step boundaries are
    ``round(cumulative time / dt)``. Per trial a coherence ``coh`` is drawn uniformly from
    ``coherences``. Input: ``x_t = noise_sd·ξ_t + (coh·3.2/100)·[t in stimulus]`` with
    ξ_t ~ N(0, 1) i.i.d. (sd noise_sd per step, not scaled by dt). Target in the response
    window: ``coh/16`` (``target="continuous"``) or ``sign(coh)`` (``target="sign"``), 0
    elsewhere; mask = 1 in the response window only.

    Parameters: ``noise_sd`` >= 0; ``fixation``, ``delay`` >= 0; ``stimulus``, ``response``
    > 0 (at least one step each); ``coherences`` non-empty sequence of finite reals;
    ``target`` in {"continuous", "sign"}; ``batch_size`` >= 1. ``t_max`` defaults to
    fixation + stimulus + delay + response and must not be shorter (ConfigError).
    """

    kind: ClassVar[str] = "decision_making"
    t_max: float | None = None  # type: ignore[assignment]
    noise_sd: float = 0.04
    fixation: float = 1.0
    stimulus: float = 9.0
    delay: float = 1.0
    response: float = 9.0
    coherences: tuple[float, ...] = (-16.0, -8.0, -4.0, -2.0, 2.0, 4.0, 8.0, 16.0)
    target: str = "continuous"
    batch_size: int = 8

    def __post_init__(self) -> None:
        k = self.kind
        check_fields(self, positive, "dt")
        check_fields(self, nonnegative, "fixation", "delay", "noise_sd")
        check_fields(self, positive, "stimulus", "response")
        total = self.fixation + self.stimulus + self.delay + self.response
        if self.t_max is None:
            set_field(self, "t_max", total)
        super().__post_init__()
        if self.n_in != 1 or self.n_out != 1:
            raise ConfigError(
                f"{k}: needs n_in = n_out = 1 (got n_in={self.n_in}, n_out={self.n_out})"
            )
        if total > self.t_max * (1 + 1e-12):
            raise ConfigError(
                f"{k}: t_max={self.t_max!r} is shorter than fixation+stimulus+delay+response={total!r}"
            )
        steps_of(k, "stimulus", self.stimulus, self.dt, 1)
        steps_of(k, "response", self.response, self.dt, 1)
        cohs = self.coherences
        if isinstance(cohs, (str, bytes)) or not hasattr(cohs, "__iter__"):
            raise ConfigError(f"{k}: coherences must be a sequence of numbers (got {cohs!r})")
        cohs = tuple(real(f"{k}: coherences entry", c) for c in cohs)
        if not cohs:
            raise ConfigError(f"{k}: coherences must not be empty")
        set_field(self, "coherences", cohs)
        if self.target not in ("continuous", "sign"):
            raise ConfigError(f"{k}: target must be 'continuous' or 'sign' (got {self.target!r})")
        check_fields(self, count, "batch_size")
        bounds = self.period_bounds
        if bounds[1] <= bounds[0] or bounds[4] <= bounds[3]:
            raise ConfigError(f"{k}: stimulus and response must each span at least one step")

    @property
    def period_bounds(self) -> tuple[int, int, int, int, int]:
        """Step boundaries (0, end of fixation, end of stimulus, end of delay, end of response).

        The stimulus is on steps ``[b[1], b[2])`` and the response window is ``[b[3], b[4])``.
        """
        cum = np.cumsum([0.0, self.fixation, self.stimulus, self.delay, self.response])
        b = tuple(round(float(c) / self.dt) for c in cum)
        return b[0], b[1], b[2], b[3], min(b[4], self.n_steps)

    def _sample(self, key: Array) -> TaskBatch:
        """Return a random batch: x, y, mask all (B, T, 1)."""
        dtype = default_float_dtype()
        k_coh, k_noise = jax.random.split(key)
        cohs = jnp.asarray(self.coherences, dtype)
        coh = cohs[jax.random.randint(k_coh, (self.batch_size,), 0, len(self.coherences))]
        _, s0, s1, r0, r1 = self.period_bounds
        t = jnp.arange(self.n_steps)
        stim = ((t >= s0) & (t < s1)).astype(dtype)
        resp = ((t >= r0) & (t < r1)).astype(dtype)
        noise = jax.random.normal(k_noise, (self.batch_size, self.n_steps), dtype)
        x = self.noise_sd * noise + (coh * 3.2 / 100)[:, None] * stim[None, :]
        value = coh / 16 if self.target == "continuous" else jnp.sign(coh)
        y = value[:, None] * resp[None, :]
        mask = jnp.broadcast_to(resp[None, :], y.shape)
        return TaskBatch(x=x[..., None], y=y[..., None], mask=mask[..., None])
