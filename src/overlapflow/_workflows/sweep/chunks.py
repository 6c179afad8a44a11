"""One chunk of a sweep: a grid point × a block of seeds, every requested mode, one npz."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..._analysis.invariants import conserved_forms
from ..._learn.batched import batched_overlap_runs, pad_rows
from ..._learn.loop import run_lanes
from ..._learn.overlap import FlowTolerances, learn_overlaps
from ..._learn.rules import check_rule_mode, is_augmented, stack_rules
from ..._learn.theta import theta_chunk, theta_state
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
#: Most epochs per jitted θ-space call of a sweep. The length is a power of two that does not
#: depend on the number of epochs (the last call is padded), so every epoch count runs the
#: same compiled program.
THETA_MAX_CHUNK = 64


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
    fits = int(max(1, min(THETA_MAX_CHUNK, THETA_WORK_PER_CALL // per_epoch)))
    chunk = 1 << (fits.bit_length() - 1)
    rule = tr.rule  # a traced argument: its numbers never compile again (docs/theory.md §9)
    run = functools.partial(theta_chunk, spec=spec, task=task, loss_kind=cfg.loss, chunk=chunk)
    # vmap of the jitted chunk: compiled once per shape and reused by every chunk of the sweep
    # (a jit around a fresh lambda would recompile for each call of this function).
    vrun = jax.vmap(lambda st, e0: run(st, e0, E, eta, cfg.task_seed, rule), in_axes=(0, None),
                    out_axes=(0, -1))  # records with the runs last, as the batched engine's
    outs = []
    for i in range(0, n, size):
        _interrupt.check()
        Xb = X0[i : i + size] if n - i >= size else pad_rows(X0[i : i + size], size)
        state = jax.vmap(lambda X: theta_state(X, rule, eta, spec))(Xb)
        loss, sigma, bad = run_lanes(lambda st, e0, _: vrun(st, e0), state, E, chunk,
                                     split=lambda out: (out[0].loss, out[0].sigma, out[1]))
        m = min(size, n - i)
        outs.append((loss.T[:m], np.moveaxis(sigma, -1, 0)[:m], bad.T[:m]))
    loss = np.concatenate([o[0] for o in outs])  # (n, E+1)
    sigma = np.concatenate([o[1] for o in outs])
    bad = np.concatenate([o[2] for o in outs])
    return loss, sigma, bad


def _diverged(bad) -> np.ndarray:
    """Per run the first bad entry (−1: none); the drivers already set the later ones to NaN."""
    bad = np.asarray(bad)
    return np.where(bad.any(axis=1), np.argmax(bad, axis=1), -1)


def _invariant_drift(cfg: CompareConfig, sigma):
    """max_e max_k |tr(Σ_e J_k) − tr(Σ_0 J_k)| per run over the conserved forms J_k of
    `conserved_forms` (docs/theory.md §6); NaN when the architecture has none."""
    forms = conserved_forms(cfg.network)
    if not forms.shape[0]:
        return np.full(sigma.shape[0], np.nan)
    inv = np.einsum("neab,kba->nek", sigma, forms)
    return np.nanmax(np.abs(inv - inv[:, :1]), axis=(1, 2))


#: θ-space cost per neuron-step (N·T·B per run and epoch), from the θ-space sweep timed on
#: docs/performance.md (Sweeps): an estimate for the announcement below, not a promise.
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
              f"{total / 60:.0f} min at the rate measured on two cores (θ-space costs ∝ "
              "N·T·batch·epochs; the "
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
    return run_sweep_chunks(raw, base_dir, [point], [seeds], modes, pad_to=pad_to,
                            theta_memory_bytes=theta_memory_bytes, threads=threads)[0]


def batch_key(cfg: CompareConfig):
    """What chunks must share to run their batched modes in the lanes of one program: all of
    the config but η and the learning rule's numbers (its structure included)."""
    tr = cfg.train
    return (cfg.network, cfg.task, cfg.loss, cfg.task_seed, tr.epochs, tr.dtype,
            jax.tree_util.tree_structure(tr.rule))


def _batchable(cfg: CompareConfig, mode: str) -> bool:
    """Whether the batched engine runs `mode` under this config's rule."""
    rule = cfg.train.rule
    if mode not in BATCHED_MODES or rule.optimizer == "adam":
        return False
    if mode == "direct":
        return rule.is_plain
    return mode == "exact" or not is_augmented(rule)


def run_sweep_chunks(raw: dict, base_dir: str, points: Sequence[dict],
                     seed_blocks: Sequence[Sequence[int]], modes: Sequence[str], *,
                     pad_to: int | None = None, theta_memory_bytes: float = 2**30,
                     threads: int | None = None) -> list[dict[str, np.ndarray]]:
    """Run chunks (grid point k with seeds seed_blocks[k]), one `run_sweep_chunk` dict each.

    Chunks whose configs differ only in η and the learning rule's numbers (`batch_key`) run
    their batched modes together: every run of every chunk in the lanes of one program, η and
    the rule's numbers one value per lane (`batched_overlap_runs`), so a grid over η × weight
    decay is one compilation and full lane groups. The other modes run chunk by chunk.
    """
    cfgs = [_point_config(raw, Path(base_dir), point, modes) for point in points]
    blocks, drawn = [], {}
    for cfg, seeds in zip(cfgs, seed_blocks):
        seeds = [int(s) for s in seeds]
        padded = seeds + [seeds[-1]] * max(0, (pad_to or len(seeds)) - len(seeds))
        dtype = as_dtype(cfg.train.dtype, "train.dtype")
        if cfg.init_vectors is None and cfg.init_sigma is None:  # random vectors: the same
            key = (cfg.network, tuple(padded), str(dtype))  # at every point of one network
            if key not in drawn:
                drawn[key] = _initial_sigmas(cfg, padded, dtype)
            X0, sigma0 = drawn[key]
        else:
            X0, sigma0 = _initial_sigmas(cfg, padded, dtype)
        blocks.append((cfg, len(seeds), X0, sigma0, dtype))
    outs = [{"seeds": np.asarray([int(s) for s in seeds], dtype=np.int64)}
            for seeds in seed_blocks]
    trajs: list[dict[str, tuple]] = [{} for _ in blocks]
    together = all(batch_key(c) == batch_key(cfgs[0]) for c in cfgs)
    for mode in modes:
        _interrupt.check()
        if together and all(_batchable(c, mode) for c in cfgs):
            for k, (loss, sigma, bad, wall) in enumerate(_batched_mode(blocks, mode, threads)):
                _record(outs[k], trajs[k], cfgs[k], mode, loss, sigma, bad, wall)
            continue
        for k, (cfg, n, X0, sigma0, dtype) in enumerate(blocks):
            start = time.perf_counter()
            loss, sigma, bad = _one_mode(cfg, mode, n, X0, sigma0, dtype, theta_memory_bytes,
                                         threads)
            _record(outs[k], trajs[k], cfg, mode, loss, sigma, bad,
                    (time.perf_counter() - start) / n)
    for out, traj in zip(outs, trajs):
        _compare_to_theta(out, traj)
    return outs


def _batched_mode(blocks, mode, threads):
    """The batched mode of every block in shared lanes: [(loss, sigma, bad, wall per run)]."""
    start = time.perf_counter()
    cfg0 = blocks[0][0]
    sizes = [b[3].shape[0] for b in blocks]
    sigma0 = jnp.concatenate([b[3] for b in blocks])
    eta = np.concatenate([np.full(m, b[0].train.eta) for b, m in zip(blocks, sizes)])
    rules = [b[0].train.rule for b, m in zip(blocks, sizes) for _ in range(m)]
    plain = all(r.is_plain and r.optimizer == "gd" for r in rules)
    for b in blocks:
        check_rule_mode(b[0].train.rule, mode)
    loss, sigma, bad = batched_overlap_runs(
        sigma0, jnp.asarray(eta, blocks[0][4]), cfg0.task_seed, spec=cfg0.network,
        task=cfg0.task, loss_kind=cfg0.loss, mode=mode, epochs=cfg0.train.epochs,
        threads=threads, rule=None if plain else stack_rules(rules))
    wall = (time.perf_counter() - start) / sum(b[1] for b in blocks)
    out, offset = [], 0
    for b, m in zip(blocks, sizes):
        n = b[1]
        part = slice(offset, offset + n)
        out.append((loss[:, part].T, np.moveaxis(sigma[..., part], -1, 0), bad[:, part].T, wall))
        offset += m
    return out


def _one_mode(cfg: CompareConfig, mode, n, X0, sigma0, dtype, theta_memory_bytes, threads):
    """(loss (n, E+1), sigma (n, E+1, P, P), bad (n, E+1)) of one chunk in one mode."""
    tr = cfg.train
    if mode in BATCHED_MODES and _batchable(cfg, mode):
        loss, sigma, bad = batched_overlap_runs(
            sigma0, jnp.asarray(tr.eta, dtype), cfg.task_seed, spec=cfg.network,
            task=cfg.task, loss_kind=cfg.loss, mode=mode, epochs=tr.epochs, threads=threads,
            rule=None if (tr.rule.is_plain and tr.rule.optimizer == "gd") else tr.rule)
        return loss.T[:n], np.moveaxis(sigma, -1, 0)[:n], bad.T[:n]
    if mode == "theta":
        return _theta_runs(cfg, X0[:n], dtype, theta_memory_bytes)
    if mode == "flow" or mode in BATCHED_MODES:  # (one run at a time)
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
        return loss, sigma, bad
    raise ConfigError(f"unknown mode {mode!r}; valid: {', '.join(ALL_MODES)}")


def _record(out, traj, cfg, mode, loss, sigma, bad, wall_per_run) -> None:
    """Store one mode's arrays of one chunk in `out` (and its trajectories in `traj`)."""
    diverged = _diverged(bad)
    n = loss.shape[0]
    traj[mode] = (loss, sigma)
    out[f"loss_{mode}"] = loss
    out[f"sigma_final_{mode}"] = np.stack([_last_finite_sigma(s) for s in sigma])
    out[f"diverged_{mode}"] = diverged.astype(np.int64)
    out[f"wall_s_{mode}"] = np.full(n, wall_per_run)
    out[f"drift_{mode}"] = _invariant_drift(cfg, sigma)


def _compare_to_theta(out, traj) -> None:
    if "theta" not in traj:
        return
    ref_l, ref_s = traj["theta"]
    for mode, (loss, sigma) in traj.items():
        if mode == "theta":
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.abs(loss - ref_l) / np.abs(ref_l)
            out[f"max_rel_loss_diff_{mode}"] = _nanmax(rel, axis=1)
            out[f"max_abs_sigma_diff_{mode}"] = _nanmax(np.abs(sigma - ref_s), axis=(1, 2, 3))


def _nanmax(a, axis):
    a = np.where(np.isfinite(a), a, -np.inf)
    m = np.max(a, axis=axis)
    return np.where(np.isfinite(m), m, np.nan)


def _last_finite_sigma(sig):
    ok = np.all(np.isfinite(sig), axis=(1, 2))
    return sig[np.nonzero(ok)[0][-1]] if ok.any() else sig[0]
