"""Fisher information of observed learning about Σ₀, and what it identifies (docs/theory.md §10).

With observations y = f(σ) + noise of standard deviation sd (independent Gaussian), and σ the
D = P(P+1)/2 distinct overlaps of Σ₀ (`overlap_pairs` order),

    F = Jᵀ W J = J̃ᵀ J̃,      J = ∂f/∂σ (autodiff, float64),   W = diag(1/sd²),   J̃ = W^½ J.

Definitions used throughout (J̃ = U diag(s) Vᵀ, s_1 ≥ … ≥ s_D; F = V diag(s²) Vᵀ):

- **Fisher rank** r = #{k : s_k > RANK_RTOL · s_1}: the directions the observations
  determine at all, numerically. Singular values come from J̃ itself, not from F, whose small
  eigenvalues are lost below ~1e-16 λ_1. Exact symmetries give s_k ≲ 1e-15 s_1; the weakest
  real direction met (the conserved-form shift of a linear network seen through the loss
  curve) ~3e-9; rounding in a Jacobian through 400 time steps ~1e-9.
- **covariance bound** C = F_r⁺ = Σ_{k ≤ r} v_k v_kᵀ / s_k² (the pseudo-inverse restricted to
  the numerically identifiable subspace); the **Cramér–Rao standard error** of σ_i is
  se_i = √C_ii, the smallest standard deviation an unbiased estimator of σ_i can have when
  every determined direction is estimated jointly.
- **identifiable overlap** σ_i: e_i lies in that subspace, up to SPAN_TOL (‖V_nullᵀ e_i‖ ≤
  1e-3: a null direction may leave σ_i undetermined by at most 1e-3 of its own size — the
  conserved-form shift of a linear network, for one, is exact for gradient flow and tilted by
  ~1e-4 into the cross overlaps by discrete steps), *and* se_i ≤ max_sd (a bound on what
  counts as determined; None: no bound). Otherwise its stderr is reported as undefined.
- **weak direction**: a determined direction with s_k / s_1 < WEAK_RTOL — 10⁴ times or more
  less precisely determined than the best one.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._support.linalg import rref
from .._support.precision import require_float64
from .model import coords_from_sym, sym_from_coords

__all__ = ["RANK_RTOL", "SPAN_TOL", "WEAK_RTOL", "fisher_information", "identifiability",
           "describe_direction", "null_basis"]

RANK_RTOL = 1e-8
SPAN_TOL = 1e-3
WEAK_RTOL = 1e-4


def fisher_information(model, sigma0, weight, *, n_active=None):
    """F (D, D) and the weighted Jacobian J̃ = W^½ J (n, D) w.r.t. the distinct overlaps.

    Args:
        model: f(sigma0, n_active) -> (E, m) (`observation_model`).
        sigma0: (P, P); weight: (E, m) = 1/sd.

    Computes in float64 (the rank threshold RANK_RTOL = 1e-8 is below float32's rounding): a
    `ConfigError` naming `of.enable_float64()` while JAX's 64-bit mode is off.
    """
    require_float64("fisher_information")
    sigma0 = jnp.asarray(sigma0, jnp.float64)
    P = sigma0.shape[0]
    E = np.shape(weight)[0]
    n_active = E if n_active is None else n_active
    w = jnp.asarray(weight, jnp.float64).ravel()
    J = np.asarray(_compiled_jacobian(model, P)(coords_from_sym(sigma0), n_active, w))
    return J.T @ J, J


@functools.lru_cache(maxsize=16)
def _compiled_jacobian(model, P: int):
    """jit of (σ, n_active, w) -> W^½ ∂f/∂σ (n, D), compiled once per model."""

    def jacobian(coords, n_active, w):
        def flat(c):
            return model(sym_from_coords(c, P), n_active).ravel() * w

        if getattr(model, "vmap_tangents", False):
            return jax.jacfwd(flat)(coords)
        basis = jnp.eye(coords.shape[0], dtype=coords.dtype)
        return jax.lax.map(lambda v: jax.jvp(flat, (coords,), (v,))[1], basis).T

    return jax.jit(jacobian)


def null_basis(vectors: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """A readable basis of span(vectors (k, D)): reduced row echelon form, max |entry| = 1."""
    A, row = rref(vectors, tol)
    A = np.where(np.abs(A) < 1e-9, 0.0, A[:row])
    return A / np.max(np.abs(A), axis=1, keepdims=True)


def identifiability(J: np.ndarray, names, *, max_sd: float | None = None) -> dict:
    """Fisher rank, identifiable overlaps, Cramér–Rao standard errors (module docstring).

    Args:
        J: (n, D) the weighted Jacobian W^½ ∂f/∂σ (`fisher_information`); names: the D names.
        max_sd: the largest standard error of an overlap counted as identifiable (None: no
            bound, only the numerical condition).

    Returns:
        dict with singular (D,) descending, eigenvalues (D,) = singular², eigenvectors (D, D)
        (column k ↔ singular value k), rank, identifiable (D,) bool, stderr (D,) (nan where
        not identifiable), covariance (D, D), null (D − r, D) readable basis of the null
        directions, weak (list of (D,) vectors).
    """
    D = len(names)
    J = np.asarray(J, dtype=np.float64).reshape(-1, D)
    if J.shape[0] >= D:  # the singular values and V of J are those of its R factor (D, D)
        J = np.linalg.qr(J, mode="r")
    else:
        J = np.concatenate([J, np.zeros((D - J.shape[0], D))])
    _, s, vt = np.linalg.svd(J)
    vec = vt.T
    top = max(float(s[0]), 1e-300)
    keep = s > RANK_RTOL * top
    r = int(np.sum(keep))
    V_r, V_0 = vec[:, :r], vec[:, r:]
    in_span = np.linalg.norm(V_0, axis=1) <= SPAN_TOL if V_0.size else np.ones(D, bool)
    cov = (V_r / s[:r] ** 2) @ V_r.T
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    ident = in_span & (se <= max_sd if max_sd is not None else True)
    stderr = np.where(ident, se, np.nan)
    weak = [vec[:, k] for k in range(r) if s[k] / top < WEAK_RTOL]
    return {
        "singular": s, "eigenvalues": s**2, "eigenvectors": vec, "rank": r,
        "identifiable": ident, "stderr": stderr, "covariance": cov,
        "null": null_basis(V_0.T) if V_0.size else np.zeros((0, D)),
        "weak": weak,
    }


def _sym(name: str) -> str:
    return f"σ_{name}"


def describe_direction(vec, names, values, *, weak: bool = False, rel_info: float | None = None,
                       known: str | None = None) -> dict:
    """Plain words for a direction of the distinct overlaps that observations (barely) fix.

    Args:
        vec: (D,) direction; names: the D overlap names; values: (D,) the estimate.
        weak: a weak determined direction instead of a null one; rel_info: its singular
            value relative to the largest (s_k/s_1).
        known: a sentence naming the symmetry this direction is, if recognised.

    Returns:
        {"overlaps": {name: coefficient}, "text": ...}
    """
    vec = np.asarray(vec, dtype=np.float64)
    vec = vec / np.max(np.abs(vec))
    support = [i for i in np.flatnonzero(np.abs(vec) > 1e-3)]
    coeffs = {names[i]: round(float(vec[i]), 6) for i in support}
    combo = " ".join(f"{'+' if vec[i] > 0 else '−'} {abs(vec[i]):.3g}·{_sym(names[i])}"
                     for i in support).lstrip("+ ")
    if len(support) == 1:
        text = f"{_sym(names[support[0]])} is not fixed"
    elif len(support) == 2:
        a, b = support
        q = vec[b] / vec[a]
        sa, sb = float(values[a]), float(values[b])
        both = f"{_sym(names[a])}, {_sym(names[b])}"
        if sa != 0 and abs(q + sb / sa) <= 1e-3 * max(abs(q), 1e-12):
            text = f"only the product {_sym(names[a])}·{_sym(names[b])} is fixed"
        elif sb != 0 and sa != 0 and abs(q - sb / sa) <= 1e-3 * max(abs(q), 1e-12):
            text = f"only the ratio {_sym(names[a])}/{_sym(names[b])} is fixed"
        elif abs(q + 1) <= 1e-3:
            text = f"only the sum {_sym(names[a])} + {_sym(names[b])} is fixed"
        elif abs(q - 1) <= 1e-3:
            text = f"only the difference {_sym(names[a])} − {_sym(names[b])} is fixed"
        else:
            text = f"of {both} only the combinations unchanged along ({combo}) are fixed"
    else:
        text = (f"moving along ({combo}) does not change the observations: of "
                f"{', '.join(_sym(names[i]) for i in support)} only combinations orthogonal "
                "to it are fixed")
    if weak:
        text = (f"({combo}) is fixed only weakly (singular value {rel_info:.2g} of the largest: "
                "determined that much less precisely than the best-fixed combination)")
    if known:
        text += f" — {known}"
    return {"overlaps": coeffs, "text": text}
