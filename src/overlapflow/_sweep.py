"""Sweeps: the product of a parameter grid and seeds, batched, chunked, resumable, distributable.

A sweep takes a comparison config (TOML, see `_config`), a grid of overrides (`train.eta`,
`task.decay`, `network.N`, …) and a range of seeds. Seed s is the initial-condition seed
(`init.seed`): run (g, s) starts from `random_vectors(spec_g, seed=s)` (or the realisation of
`init.sigma` with seed s). Per grid point the seeds are cut into chunks of `chunk_size` runs:

- overlap-space modes exact / euler / direct run the seeds of a chunk in cache-sized lane
  groups (`lanes_per_group`), each one jitted `lax.scan` over epochs (float64) with the runs in
  the SIMD lanes, the groups on one thread per core; impulse tasks on linear networks use the
  T-independent closed form (`_closed_form`), falling back to stepping for a whole group in
  an epoch where any member's closed form is flagged (a `lax.cond` on the group, so a group
  never pays for both branches);
- θ-space runs are `vmap`ped in sub-batches sized to `theta_memory_bytes`;
- `flow` runs one seed at a time (adaptive steps differ per run).

Each finished chunk is written atomically to `DIR/chunks/<id>.npz`; a sweep started again with
the same arguments runs only the missing chunks (resume after Ctrl-C or a killed worker). A
chunk that raises is reported with its grid point and seeds and does not stop the others.
When every chunk exists, `DIR/sweep.csv` (one row per run) and `DIR/runs.npz` (loss curves and
final Σ per run) are written, atomically.

Schedulers: "local" (in-process), "dask-local" (a Dask LocalCluster, one single-threaded worker
process per core), or "tcp://HOST:PORT" (an existing Dask scheduler). Dask is optional
(`pip install overlapflow[dask]`). Results do not depend on the scheduler.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import itertools
import json
import math
import os
import sys
import time
import tomllib
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from . import _interrupt
from ._closed_form import (
    _lift,
    _mm,
    _t,
    closed_form_applies,
    closed_form_value_and_grad,
    impulse_batch,
)
from ._config import _TABLES, ALL_MODES, CompareConfig, config_from_dict
from ._effective import overlap_values_and_grads
from ._errors import ConfigError, OverlapflowError
from ._io import _atomic, atomic_group, write_json_atomic, write_npz_atomic
from ._overlap_learning import FlowTolerances, learn_overlaps
from ._overlaps import realise_vectors
from ._parallel import map_threaded
from ._progress import progress_bar
from ._tasks import batch_for_epoch, task_parameters
from ._theta import _optimizer, _theta_chunk

__all__ = [
    "SweepResult",
    "parse_grid",
    "parse_seeds",
    "grid_points",
    "run_sweep_chunk",
    "run_sweep",
    "load_sweep_config",
    "batched_overlap_runs",
    "lanes_per_group",
    "SCHEDULERS",
]

SCHEDULERS = ("local", "dask-local", "tcp://HOST:PORT")
BATCHED_MODES = ("exact", "euler", "direct")
SWEEP_MODES = ("theta", "exact", "flow", "euler", "direct")  # `limit`: use compare or scaling
#: Most seeds per sweep (a range like 0:100000000000 must not exhaust memory).
MAX_SEEDS = 1_000_000
#: Seconds to wait for a tcp:// Dask scheduler before giving up (nothing is written before).
CONNECT_TIMEOUT_S = 5
DEFAULT_THRESHOLDS = (1e-2, 1e-4, 1e-6)


# -- grid and seeds ------------------------------------------------------------------------


def _parse_value(text: str):
    """A grid value: a TOML scalar (1e-3, 500, "erf", true) or, failing that, the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_grid(items: Sequence[str]) -> list[tuple[str, tuple]]:
    """Parse `["train.eta=1e-3,5e-3", "task.decay=0.2,0.4"]` into [(key, values), …].

    Raises ConfigError for a malformed item, a repeated key or an empty value list.
    """
    grid: list[tuple[str, tuple]] = []
    for item in items:
        key, sep, rest = item.partition("=")
        key = key.strip()
        if not sep or not key or not rest.strip():
            raise ConfigError(f"--grid {item!r} must look like table.key=v1,v2 (e.g. train.eta=1e-3,5e-3)")
        values = tuple(_parse_value(v.strip()) for v in rest.split(",") if v.strip())
        if not values:
            raise ConfigError(f"--grid {item!r} gives no values")
        if key in [k for k, _ in grid]:
            raise ConfigError(f"--grid key {key!r} given twice")
        grid.append((key, values))
    return grid


def parse_seeds(text: str) -> tuple[int, ...]:
    """`a:b` → seeds a … b−1 (ConfigError unless 0 ≤ a < b); one integer n → the seed n."""
    try:
        if ":" in text:
            a, b = (int(x) for x in text.split(":", 1))
        else:
            a = int(text)
            b = a + 1
    except ValueError:
        raise ConfigError(f"--seeds {text!r} must be a:b (seeds a … b−1) or one integer")
    if a < 0 or b <= a:
        raise ConfigError(f"--seeds {text!r} must satisfy 0 ≤ a < b")
    if b - a > MAX_SEEDS:
        raise ConfigError(f"--seeds {text!r} asks for {b - a} seeds; at most {MAX_SEEDS} per "
                          "sweep (split it into several sweeps)")
    return tuple(range(a, b))


def _check_grid_keys(raw: dict, grid) -> None:
    """Validate `table.key` names against the config tables (task keys against the task kind)."""
    for key, _ in grid:
        table, dot, name = key.partition(".")
        if not dot or not name:
            raise ConfigError(f"--grid key {key!r} must be table.key, e.g. train.eta")
        if table not in _TABLES or table == "init":
            valid = ", ".join(t for t in _TABLES if t != "init")
            raise ConfigError(f"--grid key {key!r}: unknown table {table!r}; valid: {valid} "
                              "(the initial seed is --seeds)")
        if table == "task":
            kinds = {v for k, vals in grid if k == "task.kind" for v in vals}
            kinds = kinds or {raw.get("task", {}).get("kind")}
            allowed = {"kind", "t_max", "seed"}
            for kind in kinds:
                allowed |= set(task_parameters(kind)) if kind != "arrays" else {"file"}
        elif table == "train":
            allowed = set(_TABLES["train"]) - {"modes"}
        else:
            allowed = set(_TABLES[table])
        if name not in allowed:
            raise ConfigError(f"--grid key {key!r}: unknown key {name!r} in [{table}]; "
                              f"valid: {', '.join(sorted(allowed))}")


def grid_points(grid) -> list[dict]:
    """The product of the grid: a list of {key: value} (one dict per grid point; [{}] if empty)."""
    keys = [k for k, _ in grid]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in grid))]


def _apply(raw: dict, point: dict, modes) -> dict:
    out = {t: dict(v) for t, v in raw.items()}
    for key, value in point.items():
        table, _, name = key.partition(".")
        out.setdefault(table, {})[name] = value
    out.setdefault("train", {})["modes"] = list(modes)
    return out


def load_sweep_config(path) -> tuple[dict, Path]:
    """Read a TOML config as raw tables (validated later per grid point). Returns (raw, folder)."""
    from ._config import read_toml

    path = Path(path)
    return read_toml(path), path.resolve().parent


def _point_config(raw, base_dir, point, modes) -> CompareConfig:
    try:
        return config_from_dict(_apply(raw, point, modes), base_dir)
    except ConfigError as exc:
        where = ", ".join(f"{k}={v!r}" for k, v in point.items()) or "the base config"
        raise ConfigError(f"grid point {where}: {exc}")


# -- batched runners -----------------------------------------------------------------------


def _initial_sigmas(cfg: CompareConfig, seeds, dtype):
    """Initial vectors X₀ (n, N, P) and overlaps Σ₀ (n, P, P) for each seed (init seed)."""
    spec = cfg.network
    if cfg.init_sigma is None:
        keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds))

        def draw(key):  # exactly `random_vectors(spec, seed=s)`
            X = jax.random.normal(key, (spec.N, spec.P), dtype=jnp.float64)
            return X * jnp.sqrt(spec.N / jnp.sum(X**2, axis=0, keepdims=True))

        X0 = jax.vmap(draw)(keys)
    else:
        X0 = jnp.stack([jnp.asarray(realise_vectors(cfg.init_sigma, spec.N, seed=s)) for s in seeds])
    X0 = X0.astype(dtype)
    return X0, jnp.einsum("nia,nib->nab", X0, X0) / spec.N


def _exact_t(sig, S, eta):
    A = _lift(jnp.eye(sig.shape[0], dtype=sig.dtype), sig.ndim - 2) - 2.0 * eta * S
    return _mm(A, _mm(sig, A))


def _euler_t(sig, S, eta):
    return sig - 2.0 * eta * (_mm(S, sig) + _mm(sig, S))


def _direct_t(sig, S, eta):
    eye = _lift(jnp.eye(sig.shape[0], dtype=sig.dtype), sig.ndim - 2)
    return sig - eta * (2.0 * S - eye * S)


# The update maps of `_overlap_learning` written for (P, P, n) arrays (batch axis last).
_STEPS_T = {"exact": _exact_t, "euler": _euler_t, "direct": _direct_t}


#: Lanes per group for the stepped loss (the latent adjoint's stored states stay in cache).
STEPPED_LANES = 16
#: Bytes of one (K̃, K̃, K̃, lanes) closed-form intermediate that still fit the L1 data cache.
_L1_BYTES = 32 * 1024


def _pad_rows(a, size: int):
    """`a` (m, ...) padded to (size, ...) by repeating its last row: one compiled shape."""
    if a.shape[0] >= size:
        return a
    return jnp.concatenate([a, jnp.broadcast_to(a[-1:], (size - a.shape[0],) + a.shape[1:])])


def lanes_per_group(spec, task, loss_kind: str) -> int:
    """Runs per jitted call of `batched_overlap_runs`: the largest group that stays in cache.

    The closed form's Smith doubling forms (K̃, K̃, K̃, n) broadcast products; once they outgrow
    the L1 cache every one of its ~300 small operations streams through L2 and the cost per run
    triples (measured on the Figure-1 config, K̃ = 3: 0.8 µs per run-epoch at 64–128 lanes,
    2.6 µs at 256, 8.3 µs at 1024). So: the largest power of two with 8·K̃³·lanes ≤ 32 KiB,
    between 8 and 128. The stepped loss keeps (T, d, lanes) states: 16 lanes.
    """
    if not closed_form_applies(task, spec, loss_kind):
        return STEPPED_LANES
    k = spec.latent_dim + (2 if task.kind == "impulse_damped_cos" else 1)
    lanes = _L1_BYTES // (8 * k**3)
    return int(min(128, max(8, 1 << max(0, lanes.bit_length() - 1))))


def batched_overlap_runs(sigma0, eta, task_seed, *, spec, task, loss_kind, mode, epochs,
                         lanes: int | None = None, threads: int | None = None):
    """Overlap-space learning of n runs: lane groups of jitted `lax.scan`s, one thread per core.

    The runs are cut into groups of `lanes` (default `lanes_per_group`; the last group is
    padded by repeating its last run, so every group has one compiled shape). Each group is one
    jitted scan over epochs (`_batched_group`) whose runs sit in the SIMD lanes; groups run on
    `threads` threads (default: one per available core; XLA runs each on its own core).

    Args:
        sigma0: (n, P, P) initial overlaps.
        eta: learning rate; task_seed: batch seed (all runs see the same batches).
        mode: "exact", "euler" or "direct".

    Returns:
        numpy (loss (E+1, n), sigma (E+1, P, P, n), bad (E+1, n)); entry e is the state before
        update e; a run whose loss or state turns non-finite stops updating (bad marks it).
    """
    if lanes is not None and (isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1):
        raise ConfigError(f"lanes must be a positive integer or None, got {lanes!r}")
    sigma0 = jnp.asarray(sigma0)
    n = sigma0.shape[0]
    size = min(n, lanes or lanes_per_group(spec, task, loss_kind))
    groups = [_pad_rows(sigma0[i : i + size], size) for i in range(0, n, size)]
    run = functools.partial(_batched_group, eta=eta, task_seed=task_seed, spec=spec, task=task,
                            loss_kind=loss_kind, mode=mode, epochs=epochs)
    outs = map_threaded(lambda g: jax.tree_util.tree_map(np.asarray, run(g)), groups, threads)
    return tuple(np.concatenate([o[j] for o in outs], axis=-1)[..., :n] for j in range(3))


@functools.partial(jax.jit, static_argnames=("spec", "task", "loss_kind", "mode", "epochs"))
def _batched_group(sigma0, eta, task_seed, *, spec, task, loss_kind, mode, epochs):
    """One lane group of `batched_overlap_runs`: a jitted `lax.scan` over epochs.

    The batch is carried as (P, P, n), batch axis last, so the small-matrix algebra of every run
    vectorises across runs. Updates as `exact_overlap_step` / `euler_overlap_step` /
    `direct_overlap_step` (docs/theory.md §4). Returns (loss (E+1, n), sigma (E+1, P, P, n),
    bad (E+1, n)).
    """
    update = _STEPS_T[mode]
    dtype = sigma0.dtype
    cf = closed_form_applies(task, spec, loss_kind)

    def stepped(sig, batch):  # all runs in the lanes of one adjoint pass
        loss, G = overlap_values_and_grads(jnp.moveaxis(sig, -1, 0), batch, spec, loss_kind)
        return loss, jnp.moveaxis(0.5 * (G + jnp.swapaxes(G, 1, 2)), 0, -1)

    def closed(sig):
        loss, g, ok = closed_form_value_and_grad(sig, spec, task)
        return loss, 0.5 * (g + _t(g)), ok

    def grads(sig, batch):
        if not cf:
            return stepped(sig, batch)
        loss, S, ok = closed(sig)
        # Decided for the whole group, so that no run ever pays for both branches.
        return jax.lax.cond(jnp.all(ok), lambda: (loss, S),
                            lambda: stepped(sig, impulse_batch(task, dtype)))

    def body(sig, epoch):
        batch = jax.tree_util.tree_map(lambda a: a.astype(dtype), batch_for_epoch(task, task_seed, epoch))
        loss, S = grads(sig, batch)
        new = update(sig, S, eta)
        bad = ~(jnp.isfinite(loss) & jnp.all(jnp.isfinite(sig), axis=(0, 1)))
        keep = bad | (epoch >= epochs)
        return jnp.where(keep, sig, new), (loss, sig, bad)

    _, out = jax.lax.scan(body, jnp.moveaxis(sigma0, 0, -1), jnp.arange(epochs + 1))
    return out


def _theta_batch_size(cfg: CompareConfig, memory_bytes: float) -> int:
    spec, task = cfg.network, cfg.task
    per_run = 8.0 * spec.N * (task.n_steps * task.batch_size * 3 + 4 * spec.P)
    return max(1, int(memory_bytes // per_run))


#: Work of one jitted θ-space call in a sweep, in neuron-steps (N·T·B per run and epoch, times
#: runs and epochs): about 2-4 s on one core, so Ctrl-C and progress act within seconds even
#: when a sub-batch holds hundreds of runs of thousands of epochs.
THETA_WORK_PER_CALL = 5e8


def _theta_runs(cfg: CompareConfig, X0, dtype, memory_bytes):
    """θ-space runs of all X0 (n, N, P), vmapped in sub-batches and stepped through the epochs
    in pieces of about `THETA_WORK_PER_CALL` (Ctrl-C stops between pieces). Returns
    (loss, sigma, bad)."""
    tr, spec, task = cfg.train, cfg.network, cfg.task
    eta = jnp.asarray(tr.eta, dtype)
    E = tr.epochs
    size = _theta_batch_size(cfg, memory_bytes)
    n = X0.shape[0]
    size = min(size, n)
    per_epoch = float(spec.N) * task.n_steps * task.batch_size * size
    chunk = int(max(1, min(E + 1, THETA_WORK_PER_CALL // per_epoch)))
    run = functools.partial(_theta_chunk, spec=spec, task=task, loss_kind=cfg.loss,
                            optimizer=tr.optimizer, chunk=chunk)
    opt = _optimizer(tr.optimizer, eta, spec.N)
    # vmap of the jitted chunk: compiled once per shape and reused by every chunk of the sweep
    # (a jit around a fresh lambda would recompile for each call of this function).
    vrun = jax.vmap(lambda st, e0: run(st, e0, E, eta, cfg.task_seed), in_axes=(0, None))
    outs = []
    for i in range(0, n, size):
        _interrupt.check()
        Xb = X0[i : i + size] if n - i >= size else _pad_rows(X0[i : i + size], size)
        state = jax.vmap(lambda X: (X, opt.init(X)))(Xb)
        pieces = []
        for e0 in range(0, E + 1, chunk):
            _interrupt.check()
            state, (rec, bad) = vrun(state, e0)
            pieces.append((np.asarray(rec.loss), np.asarray(rec.sigma), np.asarray(bad)))
        m = min(size, n - i)
        outs.append(tuple(np.concatenate([p[k] for p in pieces], axis=1)[:m, : E + 1]
                          for k in range(3)))
    loss = np.concatenate([o[0] for o in outs])  # (n, E+1)
    sigma = np.concatenate([o[1] for o in outs])
    bad = np.concatenate([o[2] for o in outs])
    return loss, sigma, bad


def _finish(loss, sigma, bad):
    """Per-run NaN after the first bad entry (as `run_epochs`); returns (loss, sigma, diverged)."""
    loss, sigma, bad = np.array(loss), np.array(sigma), np.asarray(bad)
    diverged = np.where(bad.any(axis=1), np.argmax(bad, axis=1), -1)
    for i in np.nonzero(diverged >= 0)[0]:
        loss[i, diverged[i] + 1 :] = np.nan
        sigma[i, diverged[i] + 1 :] = np.nan
    return loss, sigma, diverged


def _invariant_drift(cfg: CompareConfig, sigma):
    """max_e |tr(Σ_e J) − tr(Σ_0 J)| per run (docs/theory.md §6; linear networks only, else NaN)."""
    spec = cfg.network
    if not spec.is_linear:
        return np.full(sigma.shape[0], np.nan)
    J = np.ones(spec.P)
    J[spec.m] = -1.0
    J[spec.u] = -1.0
    inv = np.einsum("neaa,a->ne", sigma, J)
    return np.nanmax(np.abs(inv - inv[:, :1]), axis=1)


#: θ-space cost per neuron-step (N·T·B per run and epoch), measured from the command line on
#: this project's 2-core CPU: a sweep of 8 Figure-1 runs (N = 500, T = 400, 2000 epochs) took
#: 30 s with compilation, ~3.6 s per run.
THETA_SECONDS_PER_NEURON_STEP = 9e-9
#: Sweeps whose θ-space runs are estimated above this are announced before they start.
ANNOUNCE_ABOVE_S = 180.0


def _announce_theta_cost(raw: dict, base_dir, todo, modes) -> None:
    """One line on stderr, before any work, when the θ-space runs look long (with the estimate)."""
    total = 0.0
    for chunk in todo:
        cfg = _point_config(raw, Path(base_dir), chunk.point, modes)
        spec, task = cfg.network, cfg.task
        total += (len(chunk.seeds) * (cfg.train.epochs + 1) * spec.N * task.n_steps
                  * task.batch_size * THETA_SECONDS_PER_NEURON_STEP)
    if total > ANNOUNCE_ABOVE_S:
        runs = sum(len(c.seeds) for c in todo)
        print(f"overlapflow: sweep: {runs} θ-space runs are estimated at about "
              f"{total / 60:.0f} min on a 2-core CPU (θ-space costs ∝ N·T·batch·epochs; the "
              "overlap modes take seconds); Ctrl-C keeps finished chunks, rerun to resume",
              file=sys.stderr, flush=True)


def run_sweep_chunk(raw: dict, base_dir: str, point: dict, seeds: Sequence[int], modes: Sequence[str],
                    *, pad_to: int | None = None, theta_memory_bytes: float = 2**30,
                    threads: int | None = None) -> dict[str, np.ndarray]:
    """Run one chunk (one grid point, a block of seeds, every mode); pure, picklable arguments.

    Returns a dict of arrays: seeds (n,), and per mode `loss_<mode>` (n, E+1),
    `sigma_final_<mode>` (n, P, P), `diverged_<mode>` (n,) (−1: no), `wall_s_<mode>` (n,),
    `drift_<mode>` (n,) invariant drift, and against θ when it ran `max_rel_loss_diff_<mode>`,
    `max_abs_sigma_diff_<mode>` (n,). `pad_to` pads the batch (repeating the last seed) so
    every chunk of a sweep has one compiled shape. `threads`: threads for the lane groups of
    the batched modes (default: one per core; Dask workers, one per core already, use 1).
    """
    cfg = _point_config(raw, Path(base_dir), point, modes)
    seeds = [int(s) for s in seeds]
    n = len(seeds)
    padded = seeds + [seeds[-1]] * max(0, (pad_to or n) - n)
    dtype = jnp.float64 if cfg.train.dtype == "float64" else jnp.float32
    X0, sigma0 = _initial_sigmas(cfg, padded, dtype)
    out: dict[str, np.ndarray] = {"seeds": np.asarray(seeds, dtype=np.int64)}
    traj: dict[str, tuple] = {}
    tr = cfg.train
    for mode in modes:
        _interrupt.check()
        start = time.perf_counter()
        if mode in BATCHED_MODES:
            loss, sigma, bad = batched_overlap_runs(
                sigma0, jnp.asarray(tr.eta, dtype), cfg.task_seed, spec=cfg.network,
                task=cfg.task, loss_kind=cfg.loss, mode=mode, epochs=tr.epochs, threads=threads)
            loss = loss.T[:n]
            sigma = np.moveaxis(sigma, -1, 0)[:n]
            bad = bad.T[:n]
        elif mode == "theta":
            loss, sigma, bad = _theta_runs(cfg, X0[:n], dtype, theta_memory_bytes)
        elif mode == "flow":
            tol = FlowTolerances(rtol=tr.flow_rtol, atol=tr.flow_atol)
            res = [learn_overlaps(sigma0[i], cfg.task, cfg.network, loss=cfg.loss, mode="flow",
                                  eta=tr.eta, epochs=tr.epochs, seed=cfg.task_seed, tol=tol,
                                  dtype=dtype) for i in range(n)]
            if any(r.interrupted_at is not None for r in res):
                raise KeyboardInterrupt  # never store a partial chunk as if it were complete
            loss = np.stack([r.loss for r in res])
            sigma = np.stack([r.sigma for r in res])
            bad = np.zeros(loss.shape, bool)
            for i, r in enumerate(res):
                if r.diverged_at is not None:
                    bad[i, r.diverged_at] = True
        else:
            raise ConfigError(f"unknown mode {mode!r}; valid: {', '.join(ALL_MODES)}")
        loss, sigma, diverged = _finish(loss, sigma, bad)
        wall = time.perf_counter() - start
        traj[mode] = (loss, sigma)
        out[f"loss_{mode}"] = loss
        out[f"sigma_final_{mode}"] = np.stack([_last_finite_sigma(s) for s in sigma])
        out[f"diverged_{mode}"] = diverged.astype(np.int64)
        out[f"wall_s_{mode}"] = np.full(n, wall / n)
        out[f"drift_{mode}"] = _invariant_drift(cfg, sigma)
    if "theta" in traj:
        ref_l, ref_s = traj["theta"]
        for mode, (loss, sigma) in traj.items():
            if mode == "theta":
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = np.abs(loss - ref_l) / np.abs(ref_l)
                out[f"max_rel_loss_diff_{mode}"] = _nanmax(rel, axis=1)
                out[f"max_abs_sigma_diff_{mode}"] = _nanmax(np.abs(sigma - ref_s), axis=(1, 2, 3))
    return out


def _nanmax(a, axis):
    a = np.where(np.isfinite(a), a, -np.inf)
    m = np.max(a, axis=axis)
    return np.where(np.isfinite(m), m, np.nan)


def _last_finite_sigma(sig):
    ok = np.all(np.isfinite(sig), axis=(1, 2))
    return sig[np.nonzero(ok)[0][-1]] if ok.any() else sig[0]


# -- the sweep -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    grid_index: int
    point: dict = field(hash=False)
    seeds: tuple[int, ...] = ()

    @property
    def id(self) -> str:
        return f"g{self.grid_index:04d}_s{self.seeds[0]:07d}-{self.seeds[-1]:07d}"

    def describe(self) -> str:
        where = ", ".join(f"{k}={v!r}" for k, v in self.point.items()) or "base config"
        return f"chunk {self.id} (grid point {where}; seeds {self.seeds[0]}…{self.seeds[-1]})"


@dataclass
class SweepResult:
    """What `run_sweep` did.

    Attributes:
        out: the output folder.
        n_chunks / n_runs: sizes of the whole sweep.
        ran: ids of chunks computed in this call (the others existed already).
        failed: [(description with grid point and seeds, error message)] of chunks that raised.
        complete: True when every chunk exists and sweep.csv / runs.npz were written.
        interrupted: True after Ctrl-C (finished chunks are kept).
        wall_s: seconds spent in this call.
    """

    out: Path
    n_chunks: int
    n_runs: int
    ran: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    complete: bool = False
    interrupted: bool = False
    wall_s: float = 0.0


def _fingerprint(raw, grid, seeds, modes, chunk_size) -> dict:
    plan = {"config": raw, "grid": [[k, list(v)] for k, v in grid], "seeds": list(seeds),
            "modes": list(modes), "chunk_size": chunk_size}
    text = json.dumps(plan, sort_keys=True, default=str)
    return {"plan": json.loads(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}


def _client_for(scheduler: str):
    """(client, cluster) for a Dask scheduler name; (None, None) for "local"."""
    if scheduler == "local":
        return None, None
    if scheduler != "dask-local" and not scheduler.startswith("tcp://"):
        raise ConfigError(f"unknown scheduler {scheduler!r}; valid: {', '.join(SCHEDULERS)}")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(f"scheduler {scheduler!r} needs Dask: pip install 'overlapflow[dask]'")
    if scheduler == "dask-local":
        cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S), None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot reach Dask scheduler {scheduler!r} within "
                          f"{CONNECT_TIMEOUT_S} s ({type(exc).__name__}: {exc}); nothing was "
                          "written") from None


def run_sweep(
    config_path,
    out_dir,
    *,
    grid: Sequence[str] | list[tuple[str, tuple]] = (),
    seeds: Sequence[int] = (0,),
    modes: Sequence[str] = ("exact",),
    scheduler: str = "local",
    client=None,
    chunk_size: int = 256,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    progress: bool = True,
    on_chunk: Callable[[str, int, int], None] | None = None,
    overwrite: bool = False,
) -> SweepResult:
    """Run (or resume) the sweep grid × seeds × modes of a TOML config into `out_dir`.

    Everything is checked before anything is written: the arguments, every grid point, the
    output folder (writable; empty, or holding this same sweep to resume, unless `overwrite`),
    the chunk files already there, and the Dask scheduler. The folder is locked
    (DIR/.lock, holding the pid) while the sweep runs: a second sweep into it is refused.

    Args:
        config_path: TOML comparison config (its [train].modes is replaced by `modes`).
        grid: "table.key=v1,v2" strings or parsed [(key, values)].
        seeds: initial-condition seeds.
        scheduler: "local", "dask-local" or "tcp://HOST:PORT"; or pass a Dask `client`.
        chunk_size: runs per chunk (cut into lane groups for the overlap modes).
        on_chunk: called as on_chunk(chunk_id, done, total) after each chunk is written.
        overwrite: start afresh: remove what DIR holds (a sweep's plan and chunks, other files).

    Returns:
        `SweepResult`. Files: DIR/chunks/*.npz, DIR/plan.json, and when complete DIR/sweep.csv,
        DIR/runs.npz.
    """
    t_start = time.perf_counter()
    raw, base_dir = load_sweep_config(config_path)
    grid = parse_grid(grid) if grid and isinstance(next(iter(grid)), str) else list(grid)
    modes = tuple(modes)
    for mode in modes:
        if mode not in SWEEP_MODES:
            hint = " (limit runs in compare and scaling, not in sweeps)" if mode == "limit" else ""
            raise ConfigError(f"unknown mode {mode!r} in --modes; valid: "
                              f"{', '.join(SWEEP_MODES)}{hint}")
    if not modes or len(set(modes)) != len(modes):
        raise ConfigError(f"--modes must list distinct modes from {', '.join(SWEEP_MODES)}")
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(f"{len(seeds)} seeds; at most {MAX_SEEDS} per sweep")
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ConfigError("a sweep needs at least one seed")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk size must be an integer ≥ 1, got {chunk_size!r}")
    if client is None and scheduler != "local" and scheduler != "dask-local" \
            and not scheduler.startswith("tcp://"):
        raise ConfigError(f"unknown scheduler {scheduler!r}; valid: {', '.join(SCHEDULERS)}")
    _check_grid_keys(raw, grid)
    points = grid_points(grid)
    resolved = []
    for point in points:  # every grid point must validate before anything runs
        resolved.append({"point": point,
                         "config": _point_config(raw, base_dir, point, modes).resolved})

    from ._io import prepare_out, provenance

    existed = Path(out_dir).is_dir()
    out = prepare_out(out_dir, check_empty=False)
    fp = _fingerprint(raw, grid, seeds, modes, chunk_size)
    try:
        with _FolderLock(out):
            return _run_locked(out, fp, raw, base_dir, grid, points, seeds, modes, chunk_size,
                               scheduler, client, thresholds, progress, on_chunk, overwrite,
                               t_start, resolved, provenance)
    except OverlapflowError:
        if not existed:  # refused before writing anything: leave no empty folder behind
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    except KeyboardInterrupt:  # before the first chunk started (checks, plan, cluster)
        n_chunks = len(points) * math.ceil(len(seeds) / chunk_size)
        return SweepResult(out=out, n_chunks=n_chunks, n_runs=len(points) * len(seeds),
                           interrupted=True, wall_s=time.perf_counter() - t_start)


#: What a sweep writes into its folder (removed by --overwrite before a different sweep).
SWEEP_FILES = ("plan.json", "chunks", "sweep.csv", "runs.npz")
_LOCK = ".lock"


class _FolderLock:
    """DIR/.lock created with O_EXCL, holding the pid; a lock whose pid is gone is taken over."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / _LOCK
        self.held = False

    def __enter__(self):
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = self._owner()
                if pid is not None and _alive(pid):
                    raise ConfigError(
                        f"{str(self.path.parent)!r} is in use by another sweep (pid {pid}, "
                        f"lock {self.path}); wait for it to finish, use another --out, or "
                        f"delete {self.path} if no sweep is running"
                    ) from None
                with contextlib.suppress(FileNotFoundError):  # stale: its process is gone
                    os.unlink(self.path)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{os.getpid()}\n")
            self.held = True
            return self
        raise ConfigError(f"cannot lock {str(self.path.parent)!r} (another sweep keeps "
                          f"taking {self.path}); use another --out")

    def _owner(self) -> int | None:
        """The pid in the lock; -1 if it has no pid yet (created this instant: a live owner);
        None if it is gone or unreadable for more than 10 s (stale)."""
        try:
            return int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            try:
                return -1 if time.time() - self.path.stat().st_mtime < 10 else None
            except OSError:
                return None

    def __exit__(self, *exc):
        if self.held:
            with contextlib.suppress(OSError):
                if self._owner() == os.getpid():
                    os.unlink(self.path)
        return False


def _alive(pid: int) -> bool:
    if pid == -1:  # a lock file being written this instant
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _read_plan(plan_path: Path) -> dict:
    try:
        plan = json.loads(plan_path.read_text())
        if not isinstance(plan, dict):
            raise ValueError("not a JSON object")
        return plan
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(
            f"{plan_path} is unreadable ({type(exc).__name__}: {exc}); delete {plan_path} "
            "to resume this sweep from its chunks (only if they come from this same command), "
            "or pass --overwrite to start afresh"
        ) from None


def _check_chunk_file(path: Path) -> None:
    """ConfigError naming the file when a chunk file is not a readable .npz."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
        if bad is not None:
            raise zipfile.BadZipFile(f"bad CRC in member {bad}")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ConfigError(f"chunk file {path} is corrupt ({type(exc).__name__}: {exc}); delete "
                          "it and run the same command again to recompute it") from None


def _run_locked(out, fp, raw, base_dir, grid, points, seeds, modes, chunk_size, scheduler,
                client, thresholds, progress, on_chunk, overwrite, t_start, resolved,
                provenance) -> SweepResult:
    plan_path = out / "plan.json"
    if overwrite:  # start afresh, whatever the folder holds
        _remove_sweep_files(out)
    elif plan_path.is_file():
        old = _read_plan(plan_path)
        if old.get("sha256") != fp["sha256"]:
            raise ConfigError(f"{str(out)!r} holds a different sweep (plan.json differs); "
                              "use another --out, the same arguments to resume, or "
                              "--overwrite to replace it")
    else:
        present = sorted(p.name for p in out.iterdir() if p.name != _LOCK
                         and not (p.name == "chunks" and p.is_dir() and not any(p.iterdir())))
        if present:
            shown = ", ".join(present[:4]) + (f" and {len(present) - 4} more"
                                               if len(present) > 4 else "")
            raise ConfigError(f"--out {str(out)!r} already holds {shown} but no plan.json of a "
                              "sweep; pass --overwrite to replace them, or choose another --out")

    chunks = [
        _Chunk(gi, point, seeds[i : i + chunk_size])
        for gi, point in enumerate(points)
        for i in range(0, len(seeds), chunk_size)
    ]
    size = min(chunk_size, len(seeds))
    todo = []
    for c in chunks:
        path = out / "chunks" / f"{c.id}.npz"
        if path.is_file():
            _check_chunk_file(path)  # a truncated chunk: say which file, before computing
        else:
            todo.append(c)
    result = SweepResult(out=out, n_chunks=len(chunks), n_runs=len(points) * len(seeds))
    kwargs = dict(pad_to=size)
    done = len(chunks) - len(todo)
    runs_done = 0

    def store(chunk, arrays):
        nonlocal done, runs_done
        write_npz_atomic(out / "chunks" / f"{chunk.id}.npz", **arrays)
        result.ran.append(chunk.id)
        done += 1
        runs_done += len(chunk.seeds)
        bar.update(1)
        rate = runs_done / max(time.perf_counter() - t_start, 1e-9)
        bar.set_postfix_str(f"{rate:.1f} runs/s")
        if on_chunk is not None:
            on_chunk(chunk.id, done, len(chunks))

    own_client = None
    cluster = None
    if todo and client is None and scheduler != "local":
        client, cluster = _client_for(scheduler)  # before the plan: an unreachable one leaves
        own_client = client  # nothing behind
    if not plan_path.is_file():  # the plan first: an interrupt right after it leaves a
        write_json_atomic(plan_path, {**fp, "resolved_configs": resolved,  # resumable folder
                                      "provenance": provenance()})
    (out / "chunks").mkdir(exist_ok=True)
    if progress and "theta" in modes and todo:
        _announce_theta_cost(raw, base_dir, todo, modes)
    with progress_bar(total=len(chunks), desc="sweep", enabled=progress, unit="chunk") as bar:
        bar.update(done)
        try:
            if client is None:
                for chunk in todo:
                    _interrupt.check()  # a swallowed Ctrl-C: stop between chunks
                    try:
                        arrays = run_sweep_chunk(raw, str(base_dir), chunk.point, chunk.seeds,
                                                 modes, **kwargs)
                    except (KeyboardInterrupt, OverlapflowError):
                        raise
                    except Exception as exc:  # noqa: BLE001 - reported, the others go on
                        result.failed.append((chunk.describe(), f"{type(exc).__name__}: {exc}"))
                        continue
                    _interrupt.check()  # Ctrl-C during the chunk, swallowed: do not store it
                    store(chunk, arrays)
            else:
                from dask.distributed import as_completed

                futures = {
                    client.submit(run_sweep_chunk, raw, str(base_dir), c.point, c.seeds, modes,
                                  pure=False, threads=1, **kwargs): c
                    for c in todo
                }
                try:
                    for fut in as_completed(list(futures)):
                        chunk = futures[fut]
                        try:
                            arrays = fut.result()
                        except Exception as exc:  # noqa: BLE001 - a killed worker, a bad chunk
                            result.failed.append((chunk.describe(), f"{type(exc).__name__}: {exc}"))
                            continue
                        store(chunk, arrays)
                finally:
                    for fut in futures:
                        fut.cancel()
            _interrupt.check()
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            with _interrupt.deferred():  # closing the cluster is not cut short by Ctrl-C
                if own_client is not None:
                    own_client.close()
                if cluster is not None:
                    cluster.close()
    if result.interrupted:
        result.wall_s = time.perf_counter() - t_start
        return result
    missing = [c for c in chunks if not (out / "chunks" / f"{c.id}.npz").is_file()]
    if not missing:
        _assemble(out, chunks, grid, modes, thresholds, raw, base_dir)
        result.complete = True
    result.wall_s = time.perf_counter() - t_start
    return result


def _remove_sweep_files(out: Path) -> None:
    """--overwrite: remove what an earlier sweep (or run) left in `out` (not the lock)."""
    import shutil

    for p in out.iterdir():
        if p.name == _LOCK:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _fmt_thr(thr: float) -> str:
    return f"{thr:.0e}"


def _assemble(out: Path, chunks, grid, modes, thresholds, raw, base_dir) -> None:
    """Write sweep.csv (one row per run) and runs.npz from every chunk file, atomically."""
    keys = [k for k, _ in grid]
    data = []
    for c in chunks:
        path = out / "chunks" / f"{c.id}.npz"
        try:
            with np.load(path, allow_pickle=False) as f:
                data.append((c, {k: np.asarray(f[k]) for k in f.files}))
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"chunk file {path} is corrupt ({type(exc).__name__}: {exc}); "
                              "delete it and run the same command again to recompute it") from None
    E1 = max(d[f"loss_{m}"].shape[1] for _, d in data for m in modes)
    P = max(d[f"sigma_final_{m}"].shape[-1] for _, d in data for m in modes)
    names = _point_config(raw, base_dir, data[0][0].point, modes).network.vector_names
    header = list(keys) + ["seed"]
    for m in modes:
        header += [f"final_loss_{m}", f"diverged_{m}"]
        header += [f"epochs_to_{_fmt_thr(t)}_{m}" for t in thresholds]
        header += [f"invariant_drift_{m}", f"wall_time_s_{m}"]
        if "theta" in modes and m != "theta":
            header += [f"max_rel_loss_diff_{m}", f"max_abs_sigma_diff_{m}"]
    rows, arrays = [], {f"loss_{m}": [] for m in modes}
    arrays.update({f"sigma_final_{m}": [] for m in modes})
    grid_vals, seeds_all = [], []
    for c, d in data:
        for i, seed in enumerate(d["seeds"]):
            row = [c.point[k] for k in keys] + [int(seed)]
            grid_vals.append([str(c.point[k]) for k in keys])
            seeds_all.append(int(seed))
            for m in modes:
                loss = d[f"loss_{m}"][i]
                finite = loss[np.isfinite(loss)]
                row += [_num(finite[-1] if finite.size else np.nan),
                        "" if d[f"diverged_{m}"][i] < 0 else int(d[f"diverged_{m}"][i])]
                for t in thresholds:
                    hit = np.nonzero(loss <= t)[0]
                    row.append(int(hit[0]) if hit.size else "")
                row += [_num(d[f"drift_{m}"][i]), _num(d[f"wall_s_{m}"][i])]
                if "theta" in modes and m != "theta":
                    row += [_num(d[f"max_rel_loss_diff_{m}"][i]), _num(d[f"max_abs_sigma_diff_{m}"][i])]
                curve = np.full(E1, np.nan)
                curve[: loss.shape[0]] = loss
                arrays[f"loss_{m}"].append(curve)
                sig = np.full((P, P), np.nan)
                s = d[f"sigma_final_{m}"][i]
                sig[: s.shape[0], : s.shape[1]] = s
                arrays[f"sigma_final_{m}"].append(sig)
            rows.append(row)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue().encode()
    npz = {k: np.stack(v) for k, v in arrays.items()}
    with atomic_group():  # sweep.csv and runs.npz together, or neither
        _atomic(out / "sweep.csv", ".csv", lambda fh: fh.write(text))
        write_npz_atomic(
            out / "runs.npz",
            grid_keys=np.array(keys, dtype=str),
            grid_values=np.array(grid_vals, dtype=str).reshape(len(seeds_all), len(keys)),
            seed=np.array(seeds_all, dtype=np.int64),
            epochs=np.arange(E1),
            names=np.array(names, dtype=str),
            **npz,
        )


def _num(x) -> str:
    x = float(x)
    return repr(x) if math.isfinite(x) else ""
