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

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ._errors import ConfigError

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


def _float_dtype() -> Any:
    """JAX's default float dtype now (float64 when x64 is enabled, else float32)."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def _real(kind: str, name: str, value: Any) -> float:
    """``value`` as a finite Python float, or ConfigError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{kind}: {name} must be a real number (got {value!r})")
    out = float(value)
    if not math.isfinite(out):
        raise ConfigError(f"{kind}: {name} must be finite (got {value!r})")
    return out


def _positive(kind: str, name: str, value: Any) -> float:
    out = _real(kind, name, value)
    if out <= 0:
        raise ConfigError(f"{kind}: {name} must be > 0 (got {value!r})")
    return out


def _nonnegative(kind: str, name: str, value: Any) -> float:
    out = _real(kind, name, value)
    if out < 0:
        raise ConfigError(f"{kind}: {name} must be >= 0 (got {value!r})")
    return out


def _count(kind: str, name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as a Python int >= ``minimum``, or ConfigError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{kind}: {name} must be an integer (got {value!r})")
    out = int(value)
    if out < minimum:
        raise ConfigError(f"{kind}: {name} must be >= {minimum} (got {value!r})")
    return out


def _steps(kind: str, name: str, seconds: float, dt: float, minimum: int) -> int:
    """Number of steps ``round(seconds/dt)``; ConfigError if below ``minimum``."""
    n = round(seconds / dt)
    if n < minimum:
        raise ConfigError(
            f"{kind}: {name}={seconds!r} is {n} steps of dt={dt!r}; it must be >= {minimum} steps"
        )
    return n


def _set(obj: Any, name: str, value: Any) -> None:
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
        _set(self, "target_noise", _nonnegative(k, "target_noise", self.target_noise))
        _set(self, "dt", _positive(k, "dt", self.dt))
        if self.t_max is None:
            raise ConfigError(f"{k}: t_max is required")
        _set(self, "t_max", _positive(k, "t_max", self.t_max))
        _set(self, "n_in", _count(k, "n_in", self.n_in))
        _set(self, "n_out", _count(k, "n_out", self.n_out))
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
        dtype = _float_dtype()
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
        _set(self, "decay", _real(self.kind, "decay", self.decay))
        _set(self, "amplitude", _real(self.kind, "amplitude", self.amplitude))

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
        for name in ("decay", "omega", "amplitude"):
            _set(self, name, _real(self.kind, name, getattr(self, name)))

    def _kernel(self, times: Array) -> Array:
        return self.amplitude * jnp.exp(-self.decay * times) * jnp.cos(self.omega * times)


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
        k = self.kind
        _set(self, "decay", _real(k, "decay", self.decay))
        _set(self, "noise_sd", _nonnegative(k, "noise_sd", self.noise_sd))
        _set(self, "batch_size", _count(k, "batch_size", self.batch_size))

    def _sample(self, key: Array) -> TaskBatch:
        """Return a random batch: x (B, T, n_in), y and mask (B, T, n_out)."""
        dtype = _float_dtype()
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
        _set(self, "amplitude", _real(k, "amplitude", self.amplitude))
        _set(self, "target_scale", _real(k, "target_scale", self.target_scale))
        for name in ("pulse_duration", "wait_min", "wait_max"):
            _set(self, name, _positive(k, name, getattr(self, name)))
        for name in ("first_pulse", "mask_after"):
            _set(self, name, _nonnegative(k, name, getattr(self, name)))
        _set(self, "batch_size", _count(k, "batch_size", self.batch_size))
        if self.wait_max < self.wait_min:
            raise ConfigError(
                f"{k}: wait_max={self.wait_max!r} must be >= wait_min={self.wait_min!r}"
            )
        _steps(k, "pulse_duration", self.pulse_duration, self.dt, 1)
        _steps(k, "wait_min", self.wait_min, self.dt, 1)
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
        return self._first_step + gaps, signs.astype(_float_dtype())

    def _sample(self, key: Array) -> TaskBatch:
        """Return a random batch: x, y, mask all (B, T, 1)."""
        dtype = _float_dtype()
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
        _set(self, "dt", _positive(k, "dt", self.dt))
        for name in ("fixation", "delay", "noise_sd"):
            _set(self, name, _nonnegative(k, name, getattr(self, name)))
        for name in ("stimulus", "response"):
            _set(self, name, _positive(k, name, getattr(self, name)))
        total = self.fixation + self.stimulus + self.delay + self.response
        if self.t_max is None:
            _set(self, "t_max", total)
        super().__post_init__()
        if self.n_in != 1 or self.n_out != 1:
            raise ConfigError(
                f"{k}: needs n_in = n_out = 1 (got n_in={self.n_in}, n_out={self.n_out})"
            )
        if total > self.t_max * (1 + 1e-12):
            raise ConfigError(
                f"{k}: t_max={self.t_max!r} is shorter than fixation+stimulus+delay+response={total!r}"
            )
        _steps(k, "stimulus", self.stimulus, self.dt, 1)
        _steps(k, "response", self.response, self.dt, 1)
        cohs = self.coherences
        if isinstance(cohs, (str, bytes)) or not hasattr(cohs, "__iter__"):
            raise ConfigError(f"{k}: coherences must be a sequence of numbers (got {cohs!r})")
        cohs = tuple(_real(k, "coherences entry", c) for c in cohs)
        if not cohs:
            raise ConfigError(f"{k}: coherences must not be empty")
        _set(self, "coherences", cohs)
        if self.target not in ("continuous", "sign"):
            raise ConfigError(f"{k}: target must be 'continuous' or 'sign' (got {self.target!r})")
        _set(self, "batch_size", _count(k, "batch_size", self.batch_size))
        bounds = self.epoch_bounds
        if bounds[1] <= bounds[0] or bounds[4] <= bounds[3]:
            raise ConfigError(f"{k}: stimulus and response must each span at least one step")

    @property
    def epoch_bounds(self) -> tuple[int, int, int, int, int]:
        """Step boundaries (0, end of fixation, end of stimulus, end of delay, end of response).

        The stimulus is on steps ``[b[1], b[2])`` and the response window is ``[b[3], b[4])``.
        """
        cum = np.cumsum([0.0, self.fixation, self.stimulus, self.delay, self.response])
        b = tuple(round(float(c) / self.dt) for c in cum)
        return b[0], b[1], b[2], b[3], min(b[4], self.n_steps)

    def _sample(self, key: Array) -> TaskBatch:
        """Return a random batch: x, y, mask all (B, T, 1)."""
        dtype = _float_dtype()
        k_coh, k_noise = jax.random.split(key)
        cohs = jnp.asarray(self.coherences, dtype)
        coh = cohs[jax.random.randint(k_coh, (self.batch_size,), 0, len(self.coherences))]
        _, s0, s1, r0, r1 = self.epoch_bounds
        t = jnp.arange(self.n_steps)
        stim = ((t >= s0) & (t < s1)).astype(dtype)
        resp = ((t >= r0) & (t < r1)).astype(dtype)
        noise = jax.random.normal(k_noise, (self.batch_size, self.n_steps), dtype)
        x = self.noise_sd * noise + (coh * 3.2 / 100)[:, None] * stim[None, :]
        value = coh / 16 if self.target == "continuous" else jnp.sign(coh)
        y = value[:, None] * resp[None, :]
        mask = jnp.broadcast_to(resp[None, :], y.shape)
        return TaskBatch(x=x[..., None], y=y[..., None], mask=mask[..., None])


# ---------------------------------------------------------------------------------------
# imitate a teacher network


def _read_overlaps(spec: Any) -> np.ndarray:
    """(P, P) bool: the entries of Σ the effective network reads (docs/theory.md §3, §5).

    Σ_VM, Σ_VU, Σ_ZM, Σ_ZU always, and Σ_MM, Σ_MU, Σ_UU through the gain when φ is not
    linear: exactly the loss-visible overlaps, found here from the structure of the dynamics.
    """
    read = np.zeros((spec.P, spec.P), bool)
    mu = np.r_[np.arange(spec.P)[spec.m], np.arange(spec.P)[spec.u]]
    for block in (spec.v, spec.z):
        rows = np.arange(spec.P)[block]
        read[np.ix_(rows, mu)] = read[np.ix_(mu, rows)] = True
    if not spec.is_linear:
        read[np.ix_(mu, mu)] = True
    return read


def _teacher_sigma(kind: str, value: Any, spec: Any) -> tuple[tuple[float, ...], ...]:
    """The teacher's full (P, P) Σ from a matrix or a {overlap name: value} table.

    A table must give every overlap the teacher's output depends on (`_read_overlaps`);
    the missing ones do not change its output and are completed to a positive-definite
    matrix: off-diagonal ones set to 0 and missing self-overlaps to the smallest power of
    two ≥ 1 that makes Σ positive definite.
    """
    from ._errors import SigmaError
    from ._overlaps import check_sigma, overlap_index, overlap_names, overlap_pairs

    P = spec.P
    try:
        if isinstance(value, dict):
            sigma = np.full((P, P), np.nan)
            for name, entry in value.items():
                i, j = overlap_index(spec, str(name))
                sigma[i, j] = sigma[j, i] = _real(kind, f"sigma.{name}", entry)
            read = _read_overlaps(spec)
            missing = [n for n, (i, j) in zip(overlap_names(spec), overlap_pairs(spec))
                       if read[i, j] and np.isnan(sigma[i, j])]
            if missing:
                raise ConfigError(
                    f"{kind}: sigma must give every loss-visible overlap; missing: "
                    f"{', '.join(missing)}"
                )
            free_diag = [i for i in range(P) if np.isnan(sigma[i, i])]
            sigma[np.isnan(sigma)] = 0.0
            for c in 2.0 ** np.arange(0, 41):
                sigma[free_diag, free_diag] = c
                if np.linalg.eigvalsh(sigma)[0] > 0 or not free_diag:
                    break
        else:
            sigma = np.asarray(value, dtype=np.float64)
        sigma = check_sigma(sigma, spec, what=f"{kind}: sigma")
    except SigmaError as err:
        raise ConfigError(str(err)) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{kind}: sigma must be a (P, P) matrix or a table of overlaps ({err})")
    return tuple(tuple(float(v) for v in row) for row in sigma)


@dataclass(frozen=True, kw_only=True)
class TeacherTask(Task):
    """Imitate a teacher network: targets are its outputs on noisy inputs (docs/theory.md §7, task C).

    The teacher is an effective network (docs/theory.md §3) given by its overlaps ``sigma``, its
    nonlinearity ``phi`` and the task's ``dt`` (rank ``rank``, the task's n_in and n_out).
    Inputs come from another task, the ``source`` (its targets and mask are not used):

        x = input_scale · x_source + noise_sd · ξ,    ξ_t ~ N(0, 1) i.i.d. per step,
        y = teacher outputs on x (readout after each update, docs/theory.md §1),  mask = 1.

    The paper's task C is ``source`` = the default flip-flop (waits 4–10 s, amplitude 1),
    ``input_scale`` 2, ``noise_sd`` 1.5, ``phi`` "erf", and the teacher overlaps σ_zm 0.5,
    σ_zu 2.3, σ_vm 2.0, σ_vu 1.5, σ_mu 1.6, σ_mm 1.8, σ_uu 2.2.

    Parameters:
        sigma: (P, P) overlap matrix, or a table {overlap name: value} giving at least the
            loss-visible overlaps (the rest is completed, see below). Required.
        phi: the teacher's nonlinearity name ("linear", "erf", …). Required.
        rank: the teacher's rank R ≥ 1 (P = n_in + 2R + n_out); default 1.
        source: the task supplying the inputs: a Task, or a table {kind = …, its
            parameters} (it gets this task's dt, t_max and n_in; its n_out defaults to this
            task's). Required. The batch size is the source's.
        noise_sd: sd of the white noise added to the input per step, ≥ 0; default 0.
        input_scale: factor on the source's input, finite; default 1.

    Missing invisible overlaps of a table are set to 0 (self-overlaps: the smallest power
    of two ≥ 1 that makes Σ positive definite); they do not change the teacher's output.
    """

    kind: ClassVar[str] = "teacher"
    sigma: Any = None
    phi: str | None = None
    rank: int = 1
    source: Any = None
    noise_sd: float = 0.0
    input_scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        k = self.kind
        from ._network import NetworkSpec

        if self.phi is None or not isinstance(self.phi, str):
            raise ConfigError(f"{k}: phi (the teacher's nonlinearity name, e.g. 'erf') is required")
        _set(self, "rank", _count(k, "rank", self.rank))
        try:
            spec = NetworkSpec(N=max(self.n_in + 2 * self.rank + self.n_out, 1), rank=self.rank,
                               n_in=self.n_in, n_out=self.n_out, phi=self.phi, dt=self.dt)
        except ConfigError as err:
            raise ConfigError(f"{k}: {err}") from None
        if self.sigma is None:
            raise ConfigError(f"{k}: sigma (the teacher's overlaps) is required")
        _set(self, "sigma", _teacher_sigma(k, self.sigma, spec))
        _set(self, "noise_sd", _nonnegative(k, "noise_sd", self.noise_sd))
        _set(self, "input_scale", _real(k, "input_scale", self.input_scale))
        source = self.source
        if isinstance(source, dict):
            params = dict(source)
            src_kind = params.pop("kind", None)
            if src_kind is None:
                raise ConfigError(f"{k}: source needs kind = one of {', '.join(TASK_KINDS)}")
            for name in ("dt", "t_max", "n_in"):
                if name in params:
                    raise ConfigError(f"{k}: source.{name} is this task's {name}; remove it")
            n_out = params.pop("n_out", self.n_out)
            source = make_task(src_kind, dt=self.dt, t_max=self.t_max, n_in=self.n_in,
                               n_out=n_out, **params)
        if not isinstance(source, Task):
            raise ConfigError(f"{k}: source must be a task or a table with its kind (got {source!r})")
        if source.n_in != self.n_in or source.n_steps != self.n_steps or source.dt != self.dt:
            raise ConfigError(
                f"{k}: source must share dt, n_steps and n_in with the teacher task (got "
                f"dt={source.dt}, T={source.n_steps}, n_in={source.n_in}; want {self.dt}, "
                f"{self.n_steps}, {self.n_in})"
            )
        _set(self, "source", source)

    @property
    def teacher_spec(self) -> Any:
        """The teacher's `NetworkSpec` (its N is nominal: the effective network has none)."""
        from ._network import NetworkSpec

        return NetworkSpec(N=max(self.n_in + 2 * self.rank + self.n_out, 1), rank=self.rank,
                           n_in=self.n_in, n_out=self.n_out, phi=self.phi, dt=self.dt)

    @property
    def batch_size(self) -> int:
        """B, the source's batch size."""
        return self.source.batch_size

    def _sample(self, key: Array) -> TaskBatch:
        """Return a random batch: x (B, T, n_in), y and mask (B, T, n_out)."""
        from ._effective import effective_outputs

        k_src, k_noise = jax.random.split(key)
        x = self.source.sample(k_src).x
        x = self.input_scale * x + self.noise_sd * jax.random.normal(k_noise, x.shape, x.dtype)
        y = effective_outputs(jnp.asarray(self.sigma, x.dtype), x, self.teacher_spec)
        return TaskBatch(x=x, y=y, mask=jnp.ones_like(y))


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
        _set(self, "dt", _positive(k, "dt", self.dt))
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
            _set(self, "t_max", n_steps * self.dt)
        else:
            t_max = _positive(k, "t_max", self.t_max)
            if round(t_max / self.dt) != n_steps:
                raise ConfigError(
                    f"{k}: t_max={t_max!r} gives {round(t_max / self.dt)} steps but the arrays have T={n_steps}"
                )
        super().__post_init__()
        if x.shape[2] != self.n_in:
            raise ConfigError(f"{k}: x has {x.shape[2]} input channels but n_in={self.n_in}")
        if y.shape[2] != self.n_out:
            raise ConfigError(f"{k}: y has {y.shape[2]} output channels but n_out={self.n_out}")
        digest = hashlib.blake2b(digest_size=16)
        for arr in (x, y, mask):
            arr.setflags(write=False)
            digest.update(repr(arr.shape).encode())
            digest.update(arr.tobytes())
        _set(self, "x", x)
        _set(self, "y", y)
        _set(self, "mask", mask)
        _set(self, "digest", digest.hexdigest())

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
        dtype = _float_dtype()
        return TaskBatch(
            x=jnp.asarray(self.x, dtype),
            y=jnp.asarray(self.y, dtype),
            mask=jnp.asarray(self.mask, dtype),
        )


# ---------------------------------------------------------------------------------------
# factory


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
    )
}

TASK_KINDS: tuple[str, ...] = tuple(_REGISTRY)
_COMMON = ("dt", "t_max", "n_in", "n_out")


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


def _task_class(kind: str) -> type[Task]:
    if kind not in _REGISTRY:
        raise ConfigError(f"unknown task kind {kind!r}; valid kinds: {', '.join(TASK_KINDS)}")
    return _REGISTRY[kind]


def task_parameters(kind: str) -> dict[str, Any]:
    """Return the kind-specific parameter names of a task kind and their defaults.

    The common arguments ``dt``, ``t_max``, ``n_in``, ``n_out`` of :func:`make_task` are not
    included. Raises ConfigError for an unknown kind (listing the valid ones).
    """
    cls = _task_class(kind)
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
    cls = _task_class(kind)
    valid = task_parameters(kind)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(
            f"{kind}: unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(valid) or '(none)'}"
        )
    return cls(dt=dt, t_max=t_max, n_in=n_in, n_out=n_out, **params)


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
