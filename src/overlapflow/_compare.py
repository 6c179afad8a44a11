"""θ-space training and overlap-space learning of one configuration, side by side."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from ._config import CompareConfig
from ._io import write_json_atomic, write_npz_atomic
from ._loop import LoopResult
from ._network import random_vectors
from ._overlap_learning import FlowTolerances, learn_overlaps
from ._overlaps import overlaps, realise_vectors
from ._theta import train_theta
from ._visibility import visible_mask

__all__ = ["Comparison", "initial_vectors", "run_comparison", "comparison_summary", "write_comparison"]


@dataclass
class Comparison:
    """Results of `run_comparison`.

    Attributes:
        config: the `CompareConfig` that was run.
        epochs: (E + 1,) epoch indices; entry e is the state before update e.
        names: (P,) vector names in the order of Σ.
        runs: {mode: LoopResult} for every mode that ran (in config order).
        wall_time_s: {mode: seconds of the first run, compile included}.
        compiled_time_s: {mode: seconds of a second, compiled run, or None}.
        interrupted: True when Ctrl-C stopped the comparison (files hold what was computed).
    """

    config: CompareConfig
    epochs: np.ndarray
    names: tuple[str, ...]
    runs: dict[str, LoopResult] = field(default_factory=dict)
    wall_time_s: dict[str, float] = field(default_factory=dict)
    compiled_time_s: dict[str, float | None] = field(default_factory=dict)
    interrupted: bool = False


def initial_vectors(config: CompareConfig):
    """Initial vectors X₀ (N, P): random unit-norm Gaussian, or realising `init_sigma` exactly."""
    spec = config.network
    if config.init_sigma is not None:
        return realise_vectors(config.init_sigma, spec.N, seed=config.init_seed)
    return random_vectors(spec, seed=config.init_seed)


def _run_mode(config: CompareConfig, mode: str, X0, sigma0, *, progress: bool) -> LoopResult:
    tr = config.train
    dtype = jnp.float64 if tr.dtype == "float64" else jnp.float32
    common = dict(loss=config.loss, eta=tr.eta, epochs=tr.epochs, seed=config.task_seed,
                  progress=progress, dtype=dtype)
    if mode == "limit":  # THEORY §8: N → ∞ learning on quadrature nodes over X(0) ~ N(0, Σ₀)
        from ._limit import learn_limit

        return learn_limit(sigma0, config.task, config.network, optimizer=tr.optimizer,
                           nodes=tr.limit_nodes, check=tr.limit_check,
                           track_every=tr.track_every or None, **common)
    if mode == "theta" and tr.track_every:
        # The same optimizer on N nodes of weight 1/N (GD: step N·η; Adam: ε scaled by N so
        # that it is θ-space Adam exactly), recording Gaussianity statistics.
        from ._limit import train_theta_adjoint

        return train_theta_adjoint(X0, config.task, config.network, optimizer=tr.optimizer,
                                   track_every=tr.track_every, **common)
    if mode == "theta":
        return train_theta(X0, config.task, config.network, optimizer=tr.optimizer, **common)
    tol = FlowTolerances(rtol=tr.flow_rtol, atol=tr.flow_atol)
    return learn_overlaps(sigma0, config.task, config.network, mode=mode, tol=tol, **common)


def run_comparison(
    config: CompareConfig, *, progress: bool = True, time_compiled: bool = False
) -> Comparison:
    """Run every mode of `config.train.modes` from the same start and the same batches.

    θ-space starts from X₀ (`initial_vectors`); overlap modes start from Σ₀ = X₀ᵀX₀/N, so the
    comparison has no initial-condition mismatch. Overlap modes always describe GD / gradient
    flow with rate η, whatever the θ-space optimizer.

    Args:
        time_compiled: also time a second, already-compiled run of each mode.
    """
    X0 = initial_vectors(config)
    sigma0 = overlaps(X0)
    comp = Comparison(
        config=config,
        epochs=np.arange(config.train.epochs + 1),
        names=config.network.vector_names,
    )
    for mode in config.train.modes:
        start = time.perf_counter()
        result = _run_mode(config, mode, X0, sigma0, progress=progress)
        comp.wall_time_s[mode] = time.perf_counter() - start
        comp.runs[mode] = result
        comp.compiled_time_s[mode] = None
        if result.interrupted_at is not None:
            comp.interrupted = True
            break
        if time_compiled:
            start = time.perf_counter()
            again = _run_mode(config, mode, X0, sigma0, progress=False)
            comp.compiled_time_s[mode] = time.perf_counter() - start
            if again.interrupted_at is not None:
                comp.interrupted = True
                break
    return comp


def _max_rel_diff(a: np.ndarray, ref: np.ndarray) -> float | None:
    ok = np.isfinite(a) & np.isfinite(ref) & (ref != 0)
    if not ok.any():
        return None
    return float(np.max(np.abs(a[ok] - ref[ok]) / np.abs(ref[ok])))


def _max_abs_diff(a: np.ndarray, ref: np.ndarray) -> float | None:
    ok = np.all(np.isfinite(a), axis=(1, 2)) & np.all(np.isfinite(ref), axis=(1, 2))
    if not ok.any():
        return None
    return float(np.max(np.abs(a[ok] - ref[ok])))


def _last_finite(x: np.ndarray) -> float | None:
    finite = x[np.isfinite(x)]
    return float(finite[-1]) if finite.size else None


def comparison_summary(comp: Comparison) -> dict:
    """The summary.json content: config echo, seeds, timings, final losses, discrepancies."""
    from ._invariants import max_invariant_drift
    from ._visibility import invisible_overlaps, visible_overlaps

    cfg = comp.config
    summary = {
        "config": cfg.echo,
        "seeds": {"init": cfg.init_seed, "task": cfg.task_seed},
        "modes": list(comp.runs),
        "wall_time_s": dict(comp.wall_time_s),
        "compiled_time_s": dict(comp.compiled_time_s),
        "final_loss": {m: _last_finite(r.loss) for m, r in comp.runs.items()},
        "max_rel_loss_diff": {},
        "max_abs_sigma_diff": {},
        "diverged": {m: r.diverged_at for m, r in comp.runs.items()},
        "interrupted": {m: r.interrupted_at for m, r in comp.runs.items()},
        "visible": list(visible_overlaps(cfg.network)),
        "invisible": list(invisible_overlaps(cfg.network)),
        "names": list(comp.names),
        "max_invariant_drift": max_invariant_drift(comp),  # THEORY §6; None: no conserved form
    }
    from ._limit import limit_summary

    summary.update(limit_summary(comp))  # closure_error, quadrature_error, gaussianity (§8)
    if "theta" in comp.runs:
        ref = comp.runs["theta"]
        for mode, run in comp.runs.items():
            if mode == "theta":
                continue
            summary["max_rel_loss_diff"][mode] = _max_rel_diff(run.loss, ref.loss)
            summary["max_abs_sigma_diff"][mode] = _max_abs_diff(run.sigma, ref.sigma)
    return summary


def write_comparison(comp: Comparison, out_dir, *, figure: bool = True) -> dict:
    """Write results.npz, summary.json (atomically) and compare.png into `out_dir`.

    Returns:
        The summary dict that was written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arrays = {"epochs": comp.epochs, "names": np.array(comp.names, dtype=str)}
    for mode, run in comp.runs.items():
        arrays[f"loss_{mode}"] = run.loss
        arrays[f"sigma_{mode}"] = run.sigma
    from ._invariants import invariant_drift_arrays

    arrays.update(invariant_drift_arrays(comp))  # relative drift of tr(ΣJ), spec(ΣJ); NaN: no J
    from ._limit import gaussianity_arrays

    arrays.update(gaussianity_arrays(comp))  # gauss_<stat>_<mode>, when tracked (§8)
    write_npz_atomic(out / "results.npz", **arrays)
    summary = comparison_summary(comp)
    write_json_atomic(out / "summary.json", summary)
    if figure:
        from ._plots import plot_comparison

        plot_comparison(comp, out / "compare.png", visible=visible_mask(comp.config.network))
        from ._plots_nonlinear import plot_gaussianity

        plot_gaussianity(comp, out / "gaussianity.png")  # only when a run tracked it (§8)
    return summary
