"""How far two results are apart: the one place for the difference measures the project reports.

Every measure ignores entries where either side is not finite (a diverged or interrupted run
leaves NaN behind) and returns NaN when nothing is left to compare; `missing` replaces that
NaN where a caller reports "nothing compared" as None (summary.json writes null either way).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "curve_diff",
    "exact_rel_diff",
    "max_abs_diff",
    "max_rel_diff",
    "rel_diff",
    "rel_max_diff",
    "rel_rms",
]


def _pair(a, ref):
    return np.asarray(a, dtype=np.float64), np.asarray(ref, dtype=np.float64)


def rel_diff(a, ref) -> np.ndarray:
    """|a − ref| / |ref| per entry; NaN where either is not finite or ref is 0."""
    a, ref = _pair(a, ref)
    ok = np.isfinite(a) & np.isfinite(ref) & (ref != 0)
    out = np.full(np.broadcast(a, ref).shape, np.nan)
    out[ok] = np.abs(a[ok] - ref[ok]) / np.abs(ref[ok])
    return out


def max_rel_diff(a, ref, *, floor: float = 0.0, missing=float("nan")):
    """max |a − ref| / |ref| over the entries where both are finite and |ref| > floor."""
    a, ref = _pair(a, ref)
    ok = np.isfinite(a) & np.isfinite(ref) & (np.abs(ref) > floor)
    if not ok.any():
        return missing
    return float(np.max(np.abs(a[ok] - ref[ok]) / np.abs(ref[ok])))


def exact_rel_diff(a, ref) -> float:
    """`max_rel_diff` of two loss curves over the epochs where ref > 1e-10·ref₀: below that,
    float64 rounding of a loss that fell by 10 orders dominates any relative comparison."""
    ref = np.asarray(ref, dtype=np.float64)
    return max_rel_diff(a, ref, floor=1e-10 * abs(ref[0]))


def max_abs_diff(a, ref, *, missing=float("nan")):
    """max |a − ref| over the leading-axis entries (e.g. epochs of Σ (E, P, P)) where both are
    entirely finite."""
    a, ref = _pair(a, ref)
    axes = tuple(range(1, a.ndim))
    ok = np.all(np.isfinite(a), axis=axes) & np.all(np.isfinite(ref), axis=axes)
    if not ok.any():
        return missing
    return float(np.max(np.abs(a[ok] - ref[ok])))


def curve_diff(a, ref) -> float:
    """max_e |a_e − ref_e| / |ref_0|: distance between two curves relative to the start."""
    a, ref = _pair(a, ref)
    ok = np.isfinite(a) & np.isfinite(ref)
    return float(np.max(np.abs(a[ok] - ref[ok])) / abs(ref[0])) if ok.any() else float("nan")


def rel_max_diff(a, ref) -> float:
    """max |a − ref| / max |ref| over all entries (e.g. outputs over batch, time and outputs)."""
    a, ref = _pair(a, ref)
    return float(np.max(np.abs(a - ref)) / np.max(np.abs(ref)))


def rel_rms(a, ref) -> float:
    """‖a − ref‖₂ / ‖ref‖₂ over all entries (relative RMS difference)."""
    a, ref = _pair(a, ref)
    return float(np.sqrt(np.mean((a - ref) ** 2) / np.mean(ref**2)))
