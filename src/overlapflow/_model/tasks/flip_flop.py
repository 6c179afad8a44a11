"""The flip-flop task of the paper's nonlinear experiments (docs/theory.md §7.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax import Array

from ..._support.errors import ConfigError
from ..._support.validate import count, nonnegative, positive, real
from .base import Task, TaskBatch, check_fields, default_float_dtype, steps_of

# ---------------------------------------------------------------------------------------
# flip-flop


@dataclass(frozen=True, kw_only=True)
class FlipFlopTask(Task):
    """One-bit flip-flop, timed as in the paper's generator (docs/theory.md §7). n_in = n_out = 1.

    A trial is a train of pulses of random sign. Each pulse is followed by a *response
    window* during which the loss is off (the network is allowed time to flip); the next
    pulse comes a random wait after the end of that window. In whole steps of dt:

    - ``P = round(pulse_duration/dt)`` steps per pulse, ``A = round(mask_after/dt)`` steps
      of response window after each pulse;
    - first onset at step ``round(first_pulse/dt)``, and
      ``onset_{k+1} = onset_k + P + A + W_k`` with the wait ``W_k`` drawn uniformly from the
      integers ``round(wait_min/dt) … round(wait_max/dt)`` (inclusive) — the wait counts
      from the end of the response window, so with the defaults (0.5 s pulses, 2-s window,
      waits 4–10 s) onsets are 6.5–12.5 s apart;
    - pulse k has sign s_k = ±1 (probability 1/2 each) and sets ``x = amplitude·s_k`` on
      steps onset_k … onset_k + P − 1.

    Target: ``target_scale·s_k`` where k is the last pulse with onset_k ≤ t (the input of
    step t is seen by the readout of step t); 0 before the first onset.

    Mask: 0 before the first onset and on the steps ``onset_k − 1 ≤ t < onset_k + P + A``
    (from the step before each onset to the end of its response window, 2.5 s after the
    onset with the defaults); 1 elsewhere.

    Parameters (all durations in seconds):
        amplitude: pulse height (input ×amplitude), finite; default 1.
        target_scale: the held target is ±target_scale, finite; default 0.5.
        pulse_duration: length of a pulse, > 0 (≥ one step); default 0.5.
        first_pulse: onset of the first pulse, ≥ 0; default 0.5.
        wait_min, wait_max: range of the uniform wait between the end of a response
            window and the next onset, 0 < wait_min ≤ wait_max; default 4 and 10 (the
            paper's twin study uses 1 and 2).
        mask_after: length of the response window after each pulse, ≥ 0; default 2.
        batch_size: trials per batch, ≥ 1; default 10.

    Measured statistics (tested): with t_max 20, dt 0.05 and waits 1–2 s a trial has about
    5.2 pulses and a supervised (mask = 1) fraction of about 0.33, as the paper's generator.
    ConfigError if the mask would be all zero.
    """

    kind: ClassVar[str] = "flip_flop"
    amplitude: float = 1.0
    target_scale: float = 0.5
    pulse_duration: float = 0.5
    first_pulse: float = 0.5
    wait_min: float = 4.0
    wait_max: float = 10.0
    mask_after: float = 2.0
    batch_size: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        k = self.kind
        if self.n_in != 1 or self.n_out != 1:
            raise ConfigError(
                f"{k}: needs n_in = n_out = 1 (got n_in={self.n_in}, n_out={self.n_out})"
            )
        check_fields(self, real, "amplitude", "target_scale")
        check_fields(self, positive, "pulse_duration", "wait_min", "wait_max")
        check_fields(self, nonnegative, "first_pulse", "mask_after")
        check_fields(self, count, "batch_size")
        if self.wait_max < self.wait_min:
            raise ConfigError(
                f"{k}: wait_max={self.wait_max!r} must be >= wait_min={self.wait_min!r}"
            )
        steps_of(k, "pulse_duration", self.pulse_duration, self.dt, 1)
        steps_of(k, "wait_min", self.wait_min, self.dt, 1)
        if self._first_step >= self.n_steps:
            raise ConfigError(
                f"{k}: first_pulse={self.first_pulse!r} must come before t_max={self.t_max!r}"
            )
        if self._first_step + self._pulse_steps + self._mask_steps >= self.n_steps:
            raise ConfigError(
                f"{k}: the mask is zero everywhere (first_pulse + pulse_duration + mask_after "
                f">= t_max={self.t_max!r})"
            )

    @property
    def _pulse_steps(self) -> int:
        return round(self.pulse_duration / self.dt)

    @property
    def _first_step(self) -> int:
        return round(self.first_pulse / self.dt)

    @property
    def _mask_steps(self) -> int:
        return round(self.mask_after / self.dt)

    @property
    def _wait_steps(self) -> tuple[int, int]:
        return round(self.wait_min / self.dt), round(self.wait_max / self.dt)

    @property
    def max_pulses(self) -> int:
        """K, the number of pulses drawn per trial: enough that pulse K−1 starts after T."""
        shortest = self._pulse_steps + self._mask_steps + self._wait_steps[0]
        return 2 + max(0, -(-(self.n_steps - self._first_step) // shortest))

    def onsets_and_signs(self, key: Array) -> tuple[Array, Array]:
        """Return the drawn pulse onsets (B, K) in steps (int) and signs (B, K) (±1.0).

        The same ``key`` gives the same pulses as :meth:`sample`; onsets past T are unused.
        """
        if key is None:
            raise ConfigError(f"{self.kind}: onsets_and_signs() needs a PRNG key")
        b, n_pulses = self.batch_size, self.max_pulses
        w_lo, w_hi = self._wait_steps
        k_sign, k_wait = jax.random.split(key)
        signs = jnp.where(jax.random.bernoulli(k_sign, 0.5, (b, n_pulses)), 1.0, -1.0)
        waits = jax.random.randint(k_wait, (b, n_pulses - 1), w_lo, w_hi + 1)
        gaps = jnp.concatenate(
            [
                jnp.zeros((b, 1), waits.dtype),
                jnp.cumsum(self._pulse_steps + self._mask_steps + waits, axis=1),
            ],
            axis=1,
        )
        return self._first_step + gaps, signs.astype(default_float_dtype())

    def _sample(self, key: Array) -> TaskBatch:
        """Return a random batch: x, y, mask all (B, T, 1)."""
        dtype = default_float_dtype()
        onsets, signs = self.onsets_and_signs(key)
        n_pulses = onsets.shape[1]
        t = jnp.arange(self.n_steps)
        # count[b, t] = number of onsets <= t  (onsets are sorted per trial)
        count = jax.vmap(lambda o: jnp.searchsorted(o, t, side="right"))(onsets)
        started = count >= 1
        last = jnp.clip(count - 1, 0, n_pulses - 1)
        last_onset = jnp.take_along_axis(onsets, last, axis=1)
        last_sign = jnp.take_along_axis(signs, last, axis=1)
        next_onset = jnp.take_along_axis(onsets, jnp.clip(count, 0, n_pulses - 1), axis=1)

        in_pulse = started & (t < last_onset + self._pulse_steps)
        x = jnp.where(in_pulse, self.amplitude * last_sign, 0.0)
        y = jnp.where(started, self.target_scale * last_sign, 0.0)
        window = self._pulse_steps + self._mask_steps
        # (an onset at or after T is not in the trial: the last step stays supervised)
        before_next = (t == next_onset - 1) & (next_onset < self.n_steps)
        hidden = (~started) | (t < last_onset + window) | before_next
        mask = jnp.where(hidden, 0.0, 1.0)
        return TaskBatch(
            x=x[..., None].astype(dtype),
            y=y[..., None].astype(dtype),
            mask=mask[..., None].astype(dtype),
        )
