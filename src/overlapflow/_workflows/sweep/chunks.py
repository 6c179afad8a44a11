"""One chunk of a sweep: a grid point × a block of seeds, every requested mode, one npz."""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..._analysis.invariants import conserved_forms
from ..._learn.batched import _pad_rows, batched_overlap_runs
from ..._learn.overlap import FlowTolerances, learn_overlaps
from ..._learn.rules import theta_optimizer
from ..._learn.theta import _theta_chunk
from ..._support import interrupt as _interrupt
from ..._support.errors import ConfigError
from ..._support.precision import as_dtype
from ..config import ALL_MODES, CompareConfig
from .grid import BATCHED_MODES, _initial_sigmas, _point_config


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
    rule = tr.rule  # static without its noise seed, which is an argument (docs/theory.md §9)
    run = functools.partial(_theta_chunk, spec=spec, task=task, loss_kind=cfg.loss,
                            rule=dataclasses.replace(rule, noise_seed=0), chunk=chunk)
    opt = theta_optimizer(rule, eta, spec.N, spec=spec)
    # vmap of the jitted chunk: compiled once per shape and reused by every chunk of the sweep
    # (a jit around a fresh lambda would recompile for each call of this function).
    vrun = jax.vmap(lambda st, e0: run(st, e0, E, eta, cfg.task_seed, rule.noise_seed),
                    in_axes=(0, None))
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
    """max_e max_k |tr(Σ_e J_k) − tr(Σ_0 J_k)| per run over the conserved forms J_k of
    `conserved_forms` (docs/theory.md §6); NaN when the architecture has none."""
    forms = conserved_forms(cfg.network)
    if not forms.shape[0]:
        return np.full(sigma.shape[0], np.nan)
    inv = np.einsum("neab,kba->nek", sigma, forms)
    return np.nanmax(np.abs(inv - inv[:, :1]), axis=(1, 2))


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
    dtype = as_dtype(cfg.train.dtype, "train.dtype")
    X0, sigma0 = _initial_sigmas(cfg, padded, dtype)
    out: dict[str, np.ndarray] = {"seeds": np.asarray(seeds, dtype=np.int64)}
    traj: dict[str, tuple] = {}
    tr = cfg.train
    for mode in modes:
        _interrupt.check()
        start = time.perf_counter()
        plain = tr.rule.is_plain and tr.rule.optimizer == "gd"
        if mode in BATCHED_MODES and plain:
            loss, sigma, bad = batched_overlap_runs(
                sigma0, jnp.asarray(tr.eta, dtype), cfg.task_seed, spec=cfg.network,
                task=cfg.task, loss_kind=cfg.loss, mode=mode, epochs=tr.epochs, threads=threads)
            loss = loss.T[:n]
            sigma = np.moveaxis(sigma, -1, 0)[:n]
            bad = bad.T[:n]
        elif mode == "theta":
            loss, sigma, bad = _theta_runs(cfg, X0[:n], dtype, theta_memory_bytes)
        elif mode == "flow" or mode in BATCHED_MODES:  # (a learning rule: one run at a time)
            tol = FlowTolerances(rtol=tr.flow_rtol, atol=tr.flow_atol)
            res = [learn_overlaps(sigma0[i], cfg.task, cfg.network, loss=cfg.loss, mode=mode,
                                  eta=tr.eta, epochs=tr.epochs, seed=cfg.task_seed, tol=tol,
                                  dtype=dtype, rule=tr.rule) for i in range(n)]
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
