"""Tasks from neurogym: task kind "neurogym" (docs/theory.md §11).

A neurogym environment makes trials on the host (numpy, its own random state); overlapflow's
loops draw a batch per epoch inside a jitted scan. The bridge is a *pool*: at construction
`pool_size` sequences of T steps are drawn from the environment seeded with `pool_seed`
(each sequence: whole trials one after another, cut at T steps, as neurogym's own
`Dataset` does) and held as arrays in the task; the batch of epoch e is `batch_size`
distinct sequences of the pool chosen by the epoch's key, `fold_in(PRNGKey(seed), e)`
(`batch_for_epoch`). θ-space and overlap-space runs with the same seed therefore see the
same trials, and the pool is the same for every run of a sweep with that seed.

Memory and cost: the pool holds pool_size · T · (n_in + 2·n_out) float64 numbers
(PerceptualDecisionMaking at dt = 20 ms, τ = 100 ms, one 2.2-s trial per sequence: T = 110,
8.1 MB for the default 1024 sequences), is drawn once (about 0.1 ms per neurogym trial), and
is a constant of the compiled loop. Per epoch only a gather of B sequences is added to the
network's cost. The price of the pool is that trials repeat: an epoch sees B of the
pool_size sequences, so after about pool_size/B epochs trials come back (in new
combinations); raise pool_size to see more distinct trials.

Conventions:
    inputs   x[b, t] = the environment's observation at step t (float32 values as float64);
    targets  one-hot over the actions (n_out = number of actions) for a discrete action
             space; the environment's target itself for a continuous (Box) one;
    mask     1 on the steps of the periods named in `mask_periods` (default: "decision"),
             0 elsewhere, the same for every output; "all": 1 everywhere;
    time     neurogym's dt is in milliseconds; overlapflow's dt is in units of the network's
             time constant τ (docs/theory.md §1). With τ = `tau_ms` milliseconds the
             environment's step is env.dt / tau_ms, which must equal the network's dt.
             t_max is in units of τ too: T = round(t_max / dt) steps.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ..._support.errors import ConfigError
from ..._support.extras import require_module
from ..._support.validate import count, positive
from .base import Task, TaskBatch, check_fields, default_float_dtype, set_field, store_arrays

__all__ = ["NeurogymTask", "FrozenTable"]


class FrozenTable(Mapping):
    """An immutable, hashable table (TOML tables and arrays frozen: lists become tuples)."""

    __slots__ = ("_items",)

    def __init__(self, items=()):
        items = dict(items)
        frozen = {}
        for k, v in items.items():
            if not isinstance(k, str):
                raise ConfigError(f"neurogym: env_kwargs keys must be strings, got {k!r}")
            frozen[k] = _freeze(v)
        object.__setattr__(self, "_items", frozen)

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __hash__(self):
        return hash(json.dumps(self.thaw(), sort_keys=True, default=repr))

    def __eq__(self, other):
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __repr__(self):
        return repr(self.thaw())

    def thaw(self) -> dict:
        """Plain dicts and lists again (what the environment gets)."""
        return {k: _thaw(v) for k, v in self._items.items()}


def _freeze(value):
    if isinstance(value, Mapping):
        return FrozenTable(value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise ConfigError(f"neurogym: env_kwargs values must be numbers, strings, lists or tables, "
                      f"got {type(value).__name__}")


def _thaw(value):
    if isinstance(value, FrozenTable):
        return value.thaw()
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _make_env(name: str, kwargs: dict):
    require_module("neurogym", 'task kind "neurogym"')
    import neurogym

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            env = neurogym.make(name, **kwargs)
        except Exception as exc:  # gymnasium raises many kinds; all mean a bad env or kwargs
            line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"neurogym: cannot make {name!r} with env_kwargs {kwargs}: {line}") from None
    return env.unwrapped


@dataclass(frozen=True, kw_only=True)
class NeurogymTask(Task):
    """Batches from a neurogym environment (docs/theory.md §11).

    Inputs are the environment's observations; targets are one-hot over its actions
    (n_out = number of actions), or its own target for a continuous action space; the mask
    is 1 on the steps of the periods in `mask_periods`, 0 elsewhere. neurogym's dt is in
    milliseconds, overlapflow's in units of the network's τ: with τ = `tau_ms` ms the
    environment's step env.dt / tau_ms must equal the network's dt, and t_max is in units
    of τ. A pool of `pool_size` sequences of T steps (whole trials back to back, cut at T) is
    drawn once from the environment seeded with `pool_seed`; the batch of an epoch is
    `batch_size` distinct sequences of it, chosen by the epoch's key. The pool holds
    pool_size · T · (n_in + 2·n_out) float64 numbers; trials repeat, in new combinations,
    after about pool_size / batch_size epochs.

    Parameters:
        env: the environment's id, e.g. "PerceptualDecisionMaking-v0".
        env_kwargs: keyword arguments of the environment (a table), e.g. {dt = 20}.
        tau_ms: the network's time constant τ in ms (default 100).
        mask_periods: names of the periods where the loss counts (default ["decision"]), or
            "all".
        batch_size: B, sequences per batch (default 16).
        pool_size: sequences drawn on the host (default 1024; ≥ batch_size).
        pool_seed: seed of the environment's random state for the pool (in a config: the
            [task] seed unless given).
        t_max: sequence length in units of τ; default: one trial, when the environment's
            trials all have one length (checked on 64 trials), else required.

    n_in and n_out must be the environment's observation size and number of actions (or
    target size): ConfigError otherwise, and for a dt that does not match.
    """

    kind: ClassVar[str] = "neurogym"
    t_max: float | None = None  # type: ignore[assignment]
    env: str = "PerceptualDecisionMaking-v0"
    env_kwargs: Any = None
    tau_ms: float = 100.0
    mask_periods: Any = ("decision",)
    batch_size: int = 16
    pool_size: int = 1024
    pool_seed: int = 0
    pool_x: Any = field(default=None, init=False, compare=False, repr=False)
    pool_y: Any = field(default=None, init=False, compare=False, repr=False)
    pool_mask: Any = field(default=None, init=False, compare=False, repr=False)
    digest: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        k = self.kind
        if not isinstance(self.env, str) or not self.env:
            raise ConfigError(f"{k}: env must be an environment id such as "
                              f"'PerceptualDecisionMaking-v0', got {self.env!r}")
        kwargs = self.env_kwargs if self.env_kwargs is not None else {}
        if not isinstance(kwargs, Mapping):
            raise ConfigError(f"{k}: env_kwargs must be a table, got {kwargs!r}")
        set_field(self, "env_kwargs", FrozenTable(kwargs))
        check_fields(self, positive, "tau_ms")
        periods = self.mask_periods
        if isinstance(periods, str):
            periods = (periods,)
        if not isinstance(periods, (list, tuple)) or not periods or \
                not all(isinstance(p, str) for p in periods):
            raise ConfigError(f"{k}: mask_periods must be a list of period names or \"all\", "
                              f"got {self.mask_periods!r}")
        set_field(self, "mask_periods", tuple(periods))
        check_fields(self, count, "batch_size", "pool_size")
        check_fields(self, count, "pool_seed", minimum=0)
        if self.pool_size < self.batch_size:
            raise ConfigError(f"{k}: pool_size = {self.pool_size} must be ≥ batch_size = "
                              f"{self.batch_size}")
        check_fields(self, positive, "dt")
        _check_env_kwargs(self.env_kwargs.thaw())

        env = _make_env(self.env, self.env_kwargs.thaw())
        env_dt = float(env.dt)
        if not math.isclose(env_dt / self.tau_ms, self.dt, rel_tol=1e-9):
            raise ConfigError(
                f"{k}: {self.env} has dt = {env_dt:g} ms, which with tau_ms = {self.tau_ms:g} is "
                f"dt = {env_dt / self.tau_ms:g} in units of τ, but the network has dt = {self.dt:g}: "
                f"set env_kwargs.dt = {self.dt * self.tau_ms:g}, tau_ms = {env_dt / self.dt:g} or "
                f"network.dt = {env_dt / self.tau_ms:g}")
        n_obs, n_act, discrete = _spaces(env, self.env)
        if (self.n_in, self.n_out) != (n_obs, n_act):
            raise ConfigError(
                f"{k}: {self.env} has {n_obs} observation channels and "
                f"{n_act} {'actions' if discrete else 'target channels'}; the network has "
                f"n_in = {self.n_in}, n_out = {self.n_out}: set [network] n_in = {n_obs}, "
                f"n_out = {n_act}")
        env.seed(self.pool_seed)
        if self.t_max is None:
            lengths = {_trial(env, self.env)[0].shape[0] for _ in range(64)}
            if len(lengths) > 1:
                raise ConfigError(f"{k}: the trials of {self.env} vary in length ({min(lengths)}–"
                                  f"{max(lengths)} steps): give t_max (the sequence length, in τ)")
            set_field(self, "t_max", lengths.pop() * self.dt)
            env.seed(self.pool_seed)
        super().__post_init__()
        x, y, mask = _draw_pool(env, self.env, self.pool_size, self.n_steps, n_act, discrete,
                                self.mask_periods)
        if not np.any(mask > 0):
            raise ConfigError(f"{k}: the mask is zero everywhere (no step of {self.env} lies in "
                              f"{', '.join(self.mask_periods)} within T = {self.n_steps} steps)")
        store_arrays(self, pool_x=x, pool_y=y, pool_mask=mask)

    @property
    def pool_bytes(self) -> int:
        """Memory held by the pool (bytes)."""
        return int(self.pool_x.nbytes + self.pool_y.nbytes + self.pool_mask.nbytes)

    def _sample(self, key) -> TaskBatch:
        """B distinct sequences of the pool, chosen by `key`: x (B, T, n_in), y, mask (B, T, n_out)."""
        dtype = default_float_dtype()
        idx = jax.random.choice(key, self.pool_size, (self.batch_size,), replace=False)
        return TaskBatch(
            x=jnp.asarray(self.pool_x, dtype)[idx],
            y=jnp.asarray(self.pool_y, dtype)[idx],
            mask=jnp.asarray(self.pool_mask, dtype)[idx],
        )


#: neurogym's named distributions of a period's duration: timing.NAME = [distribution, args].
_TIMING_DISTRIBUTIONS = ("uniform", "choice", "truncated_exponential", "constant", "until")


def _duration(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0)


def _check_env_kwargs(kwargs: dict) -> None:
    """The keyword arguments neurogym takes without checking: dt (ms) and timing (ms each)."""
    if "dt" in kwargs:
        dt = kwargs["dt"]
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) \
                or dt <= 0:
            raise ConfigError(f"neurogym: env_kwargs.dt (the environment's step, in ms) must be "
                              f"a number > 0, got {dt!r}")
    if "timing" not in kwargs:
        return
    timing = kwargs["timing"]
    if not isinstance(timing, dict):
        raise ConfigError(f"neurogym: env_kwargs.timing must be a table of period durations in "
                          f"ms, e.g. {{fixation = 100}}, got {timing!r}")
    for period, value in timing.items():
        ok = _duration(value)
        if isinstance(value, list) and value:
            if all(_duration(v) for v in value):  # durations to choose from
                ok = True
            elif len(value) == 2 and value[0] in _TIMING_DISTRIBUTIONS:
                args = value[1] if isinstance(value[1], list) else [value[1]]
                ok = bool(args) and all(_duration(v) for v in args)
        if not ok:
            raise ConfigError(
                f"neurogym: env_kwargs.timing.{period} must be a duration in ms ≥ 0, a list of "
                f"durations to choose from, or [distribution, durations] (distribution: "
                f"{', '.join(_TIMING_DISTRIBUTIONS)}); got {value!r}")


def _spaces(env, name):
    obs = env.observation_space
    act = env.action_space
    if obs is None or obs.shape is None or len(obs.shape) != 1:
        raise ConfigError(f"neurogym: {name} has observations of shape "
                          f"{getattr(obs, 'shape', None)}; a vector per step is needed")
    if hasattr(act, "n") and act.shape == ():
        return int(obs.shape[0]), int(act.n), True
    if act.shape is not None and len(act.shape) == 1:
        return int(obs.shape[0]), int(act.shape[0]), False
    raise ConfigError(f"neurogym: {name} has an action space {act} that is neither discrete nor a "
                      "vector")


def _trial(env, name):
    """One trial: ob (L, n_obs), gt (L,) or (L, k), periods {name: (start, end)}."""
    try:
        env.new_trial()
    except Exception as exc:  # neurogym checks few of its keyword arguments itself
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"neurogym: {name} cannot draw a trial with these env_kwargs: "
                          f"{type(exc).__name__}: {line}") from None
    ob = getattr(env, "ob", None)
    gt = getattr(env, "gt", None)
    if ob is None or gt is None:
        raise ConfigError(f"neurogym: {name} has no supervised trials (no ob/gt arrays): it is an "
                          "environment for reinforcement learning only")
    periods = {p: (env.start_ind[p], env.end_ind[p]) for p in env.start_ind}
    return np.asarray(ob), np.asarray(gt), periods


def _draw_pool(env, name, pool_size, T, n_act, discrete, mask_periods):
    """pool_size sequences of T steps, each whole trials back to back, cut at T."""
    n_obs = env.observation_space.shape[0]
    x = np.zeros((pool_size, T, n_obs))
    y = np.zeros((pool_size, T, n_act))
    mask = np.zeros((pool_size, T))
    for s in range(pool_size):
        t0 = 0
        while t0 < T:
            ob, gt, periods = _trial(env, name)
            if mask_periods != ("all",):
                missing = [p for p in mask_periods if p not in periods]
                if missing:
                    raise ConfigError(f"neurogym: {name} has no period {', '.join(map(repr, missing))}; "
                                      f"its periods: {', '.join(periods)} (or \"all\")")
            L = min(ob.shape[0], T - t0)
            x[s, t0:t0 + L] = ob[:L]
            if discrete:
                y[s, np.arange(t0, t0 + L), gt[:L].astype(int)] = 1.0
            else:
                y[s, t0:t0 + L] = gt[:L].reshape(L, n_act)
            if mask_periods == ("all",):
                mask[s, t0:t0 + L] = 1.0
            else:
                for p in mask_periods:
                    a, b = periods[p]
                    a, b = max(a, 0), min(b, L)
                    if b > a:
                        mask[s, t0 + a:t0 + b] = 1.0
            t0 += L
    return x, y, np.repeat(mask[..., None], n_act, axis=2)
