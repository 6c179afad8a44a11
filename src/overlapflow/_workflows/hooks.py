"""What `compare` adds to a finished comparison: summary numbers, results.npz arrays and warnings
computed from its runs by the analysis and limit modules (docs/theory.md §6, §8).

These functions take a `Comparison`; the physics modules they call never see one.
"""

from __future__ import annotations

import numpy as np

from .._analysis.invariants import conserved_forms, invariant_drift
from .._limit import GaussianityTrack, LimitState
from .._plots.style import mode_label
from .._support.differences import max_rel_diff

__all__ = [
    "CLOSURE_WARN_THRESHOLD",
    "closure_warning",
    "comparison_invariant_drift",
    "gaussianity_arrays",
    "invariant_drift_arrays",
    "limit_summary",
    "max_invariant_drift",
]


# -- conserved forms (docs/theory.md §6) ---------------------------------------------------


def comparison_invariant_drift(comp) -> dict[str, np.ndarray | None]:
    """{mode: (E + 1,) `invariant_drift` of that run's Σ, or None without conserved forms}."""
    forms = conserved_forms(comp.config.network)
    P = comp.config.network.P
    out = {}
    for mode, run in comp.runs.items():
        sigma = np.asarray(run.sigma)
        if forms.shape[0] and (sigma.ndim != 3 or sigma.shape[1:] != (P, P) or not len(sigma)):
            out[mode] = np.full(np.shape(comp.epochs), np.nan)  # nothing recorded (Ctrl-C)
        else:
            out[mode] = invariant_drift(sigma, forms)
    return out


def invariant_drift_arrays(comp, drift: dict | None = None) -> dict[str, np.ndarray]:
    """{"invariant_drift_<mode>": (E + 1,) drift} for results.npz; all NaN without forms.
    `drift`: `comparison_invariant_drift(comp)` if already computed."""
    drift = comparison_invariant_drift(comp) if drift is None else drift
    return {
        f"invariant_drift_{mode}": np.full(comp.epochs.shape, np.nan) if d is None else d
        for mode, d in drift.items()
    }


def max_invariant_drift(comp, drift: dict | None = None) -> dict[str, float | None]:
    """{mode: max over epochs of the invariant drift (finite entries), or None}.

    None when no conserved form exists for the architecture or no entry is finite. `drift`:
    `comparison_invariant_drift(comp)` if already computed.
    """
    out = {}
    for mode, d in (comparison_invariant_drift(comp) if drift is None else drift).items():
        finite = None if d is None else d[np.isfinite(d)]
        out[mode] = None if finite is None or finite.size == 0 else float(np.max(finite))
    return out


# -- the N → ∞ limit (docs/theory.md §8) ------------------------------------------------


CLOSURE_WARN_THRESHOLD = 0.01
"""`compare` warns when the limit and the overlap closure differ by more than this (max
relative loss-curve difference): the Gaussian closure then misdescribes even N → ∞ (§8)."""

_CLOSURE_MODES = ("exact", "flow", "euler")
_STATS = ("kurtosis", "skewness", "qq_corr", "out_of_span", "out_of_span_total")


def _track(run) -> GaussianityTrack | None:
    return getattr(run.state, "gaussianity", None) if isinstance(run.state, LimitState) else None


def limit_summary(comp) -> dict:
    """Summary entries of a `Comparison` for docs/theory.md §8 (empty when no mode needs them).

    - closure_error: {closure mode: max relative loss-curve difference to `limit`};
    - quadrature_error / quadrature_sigma_error: the limit run's difference to a coarser rule;
    - gaussianity_final: {mode: {statistic: per-vector values at the last tracked epoch}}.
    """
    out: dict = {}
    runs = comp.runs
    if "limit" in runs:
        lim = runs["limit"]
        out["closure_error"] = {
            m: max_rel_diff(runs[m].loss, lim.loss, missing=None) for m in _CLOSURE_MODES if m in runs
        }
        out["closure_warn_threshold"] = CLOSURE_WARN_THRESHOLD
        if isinstance(lim.state, LimitState):
            out["quadrature_error"] = lim.state.quadrature_error
            out["quadrature_sigma_error"] = lim.state.sigma_error
            out["limit_nodes"] = int(lim.state.weights.shape[0])
            out["limit_check_nodes"] = lim.state.coarse_nodes
    finals = {}
    for mode, run in runs.items():
        track = _track(run)
        if track is not None:
            finals[mode] = {
                "epoch": int(track.epochs[-1]),
                **{k: np.asarray(getattr(track.stats, k))[-1] for k in _STATS},
            }
    if finals:
        out["gaussianity_final"] = finals
    return out


def gaussianity_arrays(comp) -> dict[str, np.ndarray]:
    """results.npz arrays gauss_epochs_<mode> (n,) and gauss_<statistic>_<mode> (n, P) or (n,)."""
    arrays = {}
    for mode, run in comp.runs.items():
        track = _track(run)
        if track is None:
            continue
        arrays[f"gauss_epochs_{mode}"] = np.asarray(track.epochs)
        for k in _STATS:
            arrays[f"gauss_{k}_{mode}"] = np.asarray(getattr(track.stats, k))
    return arrays


def closure_warning(summary: dict, threshold: float = CLOSURE_WARN_THRESHOLD) -> str | None:
    """A one-line warning when the limit differs from the overlap closure by > threshold."""
    errors = {m: e for m, e in summary.get("closure_error", {}).items() if e is not None}
    if not errors:
        return None
    mode, err = max(errors.items(), key=lambda kv: kv[1])
    if err <= threshold:
        return None
    method = summary.get("methods", {}).get(mode) or mode_label(mode, linear=False)
    return (
        f"the N → ∞ limit and mode {mode} ({method}) differ by {err:.3g} (max relative "
        f"loss-curve difference) > {threshold:g}: the Gaussian closure misdescribes this "
        "network even at large N (docs/theory.md §8)"
    )
