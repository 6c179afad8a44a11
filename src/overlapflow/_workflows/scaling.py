"""Both errors of the overlap description, measured (docs/theory.md §8).

For a configuration, θ-space networks of several sizes N (several seeds each) learn from
X(0) with i.i.d. rows ~ N(0, Σ₀); the N → ∞ limit (`learn_limit`) and the overlap closure
(`learn_overlaps`, mode "exact") learn from Σ₀. Two discrepancies per network, each the max
relative loss-curve difference over epochs:

- vs_limit:   network vs limit    (finite-N fluctuations; expected ∝ N^(−1/2))
- vs_closure: network vs closure  (plateaus at the closure error when φ is nonlinear)

plus closure_error = limit vs closure, which does not depend on N.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .._learn.overlap import learn_overlaps
from .._learn.rules import check_rule_mode
from .._limit import learn_limit, learn_particles, sample_nodes
from .._limit.learners import check_limit_rule
from .._support.differences import max_rel_diff, rel_diff
from .._support.errors import ConfigError
from .._support.parallel import available_cores, map_threaded
from .._support.precision import as_dtype
from .._support.progress import progress_bar
from .config import CompareConfig

__all__ = ["ScalingResult", "run_scaling", "scaling_summary", "fit_slope", "QUICK"]

QUICK = {"N": (100, 400), "seeds": (0, 1), "max_epochs": 10, "limit_nodes": 6}
"""What --quick runs: these N and seeds, at most this many epochs, this many limit nodes."""


@dataclass
class ScalingResult:
    """Loss curves and discrepancies of a scaling study.

    Attributes:
        N: network sizes; seeds: θ-space initial seeds (rows of X(0) and nothing else).
        epochs: (E + 1,) epoch indices.
        loss_theta: (len(N), len(seeds), E + 1) network loss curves.
        loss_limit, loss_closure: (E + 1,) loss curves of the limit and of the closure.
        vs_limit, vs_closure: (len(N), len(seeds)) max relative loss-curve differences.
        quadrature_error: the limit run's difference to a coarser rule.
        limit_nodes: number of nodes of the limit rule.
        wall_time_s: {"theta": [seconds per N, summed over seeds], "limit": s, "closure": s,
            "workers": threads that ran them}.
    """

    config: CompareConfig
    N: list[int]
    seeds: list[int]
    epochs: np.ndarray
    loss_theta: np.ndarray
    loss_limit: np.ndarray
    loss_closure: np.ndarray
    vs_limit: np.ndarray
    vs_closure: np.ndarray
    quadrature_error: float | None
    limit_nodes: int
    tol: float = 0.01
    wall_time_s: dict = field(default_factory=dict)


def fit_slope(N, values, *, n_boot: int = 2000, seed: int = 0):
    """Log-log slope of median discrepancy against N, with a bootstrap 95% interval.

    Args:
        N: (n,) sizes; values: (n, S) discrepancies per size and seed.
        n_boot: bootstrap resamples of the seeds (per size), drawn from `seed`.

    Returns:
        (slope, [low, high]); NaN when fewer than two sizes have positive medians.
    """
    logN = np.log(np.asarray(N, dtype=float))
    values = np.asarray(values, dtype=float)

    def slope_of(vals):
        med = np.median(vals, axis=1)
        ok = np.isfinite(med) & (med > 0)
        if ok.sum() < 2:
            return float("nan")
        return float(np.polyfit(logN[ok], np.log(med[ok]), 1)[0])

    slope = slope_of(values)
    rng = np.random.default_rng(seed)
    S = values.shape[1]
    boots = [slope_of(np.take_along_axis(values, rng.integers(0, S, values.shape), axis=1))
             for _ in range(n_boot)]
    boots = np.asarray(boots)
    boots = boots[np.isfinite(boots)]
    ci = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))] if boots.size \
        else [float("nan"), float("nan")]
    return slope, ci


def run_scaling(
    config: CompareConfig,
    N: list[int],
    seeds: list[int],
    *,
    tol: float = 0.01,
    limit_nodes: int | None = None,
    max_epochs: int | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> ScalingResult:
    """θ-space at each N and seed against the N → ∞ limit and the overlap closure.

    Σ₀ is `config.init_sigma`, or the identity (the N → ∞ overlaps of independent unit-norm
    vectors). Every run uses the config's task, loss, η and the batches of `config.task_seed`;
    θ-space uses the config's optimizer on `sample_nodes(Σ₀, N, seed=s)` (GD: step N·η).

    Args:
        N: network sizes (≥ 1 each); seeds: initial seeds of θ-space.
        tol: the agreement level for `n_for_tol`.
        limit_nodes: override of `config.train.limit_nodes`.
        max_epochs: cap on `config.train.epochs` (the quick mode).
        workers: threads running the independent runs (default: one per available core).
    """
    if not N or any(not isinstance(n, int) or n < 1 for n in N):
        raise ConfigError(f"N must list integers ≥ 1, got {N!r}")
    if not seeds or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise ConfigError(f"seeds must list integers ≥ 0, got {seeds!r}")
    if not (isinstance(tol, float) and 0 < tol < 1):
        raise ConfigError(f"tol must be a number in (0, 1), got {tol!r}")
    spec, tr = config.network, config.train
    sigma0 = config.init_sigma if config.init_sigma is not None else np.eye(spec.P)
    epochs = tr.epochs if max_epochs is None else min(tr.epochs, max_epochs)
    dtype = as_dtype(tr.dtype, "train.dtype")
    common = dict(loss=config.loss, eta=tr.eta, epochs=epochs, seed=config.task_seed,
                  dtype=dtype)
    nodes = limit_nodes or tr.limit_nodes
    loss_theta = np.full((len(N), len(seeds), epochs + 1), np.nan)
    theta_seconds = np.zeros((len(N), len(seeds)))

    # Every run is independent: they go to a thread pool, one thread per core (XLA runs each
    # thread's computation on its own core), largest first so that the cores finish together.
    # Large-N runs are memory-bound, so two at once are slower each: the docs/theory.md §8 erf set-up
    # (N = 250…16000, 4 seeds) took 1166 s on 2 threads against 1305 s on one.
    rule = tr.rule  # docs/theory.md §9; refused up front where a run has no form for it
    check_rule_mode(rule, "exact")
    check_limit_rule(rule)

    def limit_run():
        return learn_limit(sigma0, config.task, spec, nodes=nodes, check=True,
                           rule=rule, **common)

    def closure_run():
        return learn_overlaps(sigma0, config.task, spec, mode="exact", rule=rule, **common)

    def theta_run(i, j):
        run = learn_particles(sample_nodes(sigma0, spec, N[i], seed=seeds[j]), config.task, spec,
                              rule=rule, desc=f"theta N={N[i]}", **common)
        return run.loss

    jobs = [("limit", limit_run), ("closure", closure_run)]
    order = sorted(((i, j) for i in range(len(N)) for j in range(len(seeds))),
                   key=lambda ij: -N[ij[0]])
    jobs += [(ij, functools.partial(theta_run, *ij)) for ij in order]
    workers = min(len(jobs), workers or available_cores())
    with progress_bar(total=len(jobs), desc="scaling", enabled=progress, unit="run") as bar:
        lock = threading.Lock()

        def timed(job):
            key, fn = job
            start = time.perf_counter()
            out = fn()
            with lock:
                bar.update(1)
            return key, out, time.perf_counter() - start

        done = map_threaded(timed, jobs, workers)
    times: dict = {}
    for key, out, seconds in done:
        if key == "limit":
            lim, times["limit"] = out, seconds
        elif key == "closure":
            clo, times["closure"] = out, seconds
        else:
            loss_theta[key], theta_seconds[key] = out, seconds
    # Seconds of θ-space runs per N (summed over seeds: the cost on one core).
    times["theta"] = [float(t) for t in theta_seconds.sum(axis=1)]
    times["workers"] = int(workers)
    vs_limit = np.array([[max_rel_diff(c, lim.loss) for c in row] for row in loss_theta])
    vs_closure = np.array([[max_rel_diff(c, clo.loss) for c in row] for row in loss_theta])
    return ScalingResult(
        config=config, N=list(N), seeds=list(seeds), epochs=np.arange(epochs + 1),
        loss_theta=loss_theta, loss_limit=lim.loss, loss_closure=clo.loss,
        vs_limit=vs_limit, vs_closure=vs_closure,
        quadrature_error=lim.state.quadrature_error, limit_nodes=int(lim.state.weights.shape[0]),
        tol=tol, wall_time_s=times,
    )


def _rel_curve(a, ref) -> list:
    return [None if not np.isfinite(v) else float(v) for v in rel_diff(a, ref)]


def scaling_curves(result: ScalingResult) -> dict[str, np.ndarray]:
    """The loss curves behind scaling.json, for curves.npz: epochs (E+1,), loss_limit,
    loss_closure (E+1,), loss_theta (n_N, n_seeds, E+1), N, seeds."""
    return {"epochs": np.asarray(result.epochs), "loss_limit": np.asarray(result.loss_limit),
            "loss_closure": np.asarray(result.loss_closure),
            "loss_theta": np.asarray(result.loss_theta), "N": np.asarray(result.N),
            "seeds": np.asarray(result.seeds)}


def scaling_summary(result: ScalingResult) -> dict:
    """The scaling.json content (summary keys, plus per-seed values and timings)."""
    med_lim = np.median(result.vs_limit, axis=1)
    med_clo = np.median(result.vs_closure, axis=1)
    slope, ci = fit_slope(result.N, result.vs_limit)
    slope_c, ci_c = fit_slope(result.N, result.vs_closure)
    below = [n for n, v in zip(result.N, med_lim) if np.isfinite(v) and v < result.tol]
    spec = result.config.network
    return {
        "N": result.N,
        "seeds": result.seeds,
        "vs_limit_median": med_lim,
        "vs_closure_median": med_clo,
        "vs_limit": result.vs_limit,
        "vs_closure": result.vs_closure,
        "slope_vs_limit": slope,
        "slope_ci": ci,
        "slope_vs_closure": slope_c,
        "slope_vs_closure_ci": ci_c,
        "closure_error": max_rel_diff(result.loss_closure, result.loss_limit),
        # |L_closure(e) / L_limit(e) − 1| at every epoch e: how the closure error grows
        "closure_error_by_epoch": _rel_curve(result.loss_closure, result.loss_limit),
        "final_loss": {"limit": float(result.loss_limit[-1]),
                       "closure": float(result.loss_closure[-1])},
        "n_for_tol": min(below) if below else None,
        "tol": result.tol,
        "quadrature_error": result.quadrature_error,
        "limit_nodes": result.limit_nodes,
        "epochs": int(result.epochs[-1]),
        "phi": spec.phi_name,
        "optimizer": result.config.train.optimizer,
        "eta": result.config.train.eta,
        "task_seed": result.config.task_seed,
        "wall_time_s": result.wall_time_s,
        "config": result.config.echo,
    }
