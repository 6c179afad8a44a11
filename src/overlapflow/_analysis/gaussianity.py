"""How Gaussian the loadings stay during learning, and how much leaves the initial span (docs/theory.md §4, §8).

The overlap closure assumes the entries of the vectors, across neurons, stay jointly Gaussian
(a map X ↦ X A keeps them so). These statistics measure the departure, per vector (column of
X), for N samples (θ-space, weights 1/N) or for weighted quadrature nodes (mode `limit`):

- excess kurtosis ⟨(x−μ)⁴⟩/s⁴ − 3 and skewness ⟨(x−μ)³⟩/s³ (0 for a Gaussian);
- Q-Q correlation: weighted Pearson correlation between the sorted values and the normal
  quantiles Φ⁻¹(c_i) at the mid-cumulative weights c_i (1 for a Gaussian; for equal weights
  c_i = (i − ½)/N, the usual Q-Q plot);
- out-of-span fraction: the part of ‖x‖² outside the linear functions of the initial
  loadings X(0), by weighted least squares. For θ-space (weights 1/N) that is
  ‖x − Π x‖²/‖x‖² with Π the orthogonal projection onto span of the columns of X(0); in the
  limit, the part of the map F_t(X(0)) that is not linear in X(0). Learning by any X ↦ X A
  keeps it 0; nonlinear GD grows it (docs/theory.md §8: 0.1% → 1% between η·E = 1.5 and 3).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri

__all__ = [
    "GaussianityStats",
    "vector_moments",
    "qq_correlation",
    "out_of_span_fraction",
    "gaussianity_stats",
]


class GaussianityStats(NamedTuple):
    """Per-vector Gaussianity statistics (leading axes, if any, index snapshots).

    Attributes:
        kurtosis: (..., P) excess kurtosis of each vector's entries.
        skewness: (..., P) skewness.
        qq_corr: (..., P) Q-Q correlation with the normal distribution.
        out_of_span: (..., P) fraction of each vector's squared norm outside the linear
            functions of X(0) (NaN when X(0) is not given).
        out_of_span_total: (...) the same fraction for ‖X‖²_F as a whole.
    """

    kurtosis: jax.Array
    skewness: jax.Array
    qq_corr: jax.Array
    out_of_span: jax.Array
    out_of_span_total: jax.Array


def _normalised_weights(X, weights):
    K = X.shape[0]
    if weights is None:
        return jnp.full((K,), 1.0 / K, dtype=X.dtype)
    weights = jnp.asarray(weights, X.dtype)
    return weights / jnp.sum(weights)


def vector_moments(X, weights=None):
    """Return (skewness, excess kurtosis), each (P,), of the columns of X (K, P).

    Args:
        X: (K, P) samples (rows) of P vectors' entries, or weighted nodes.
        weights: (K,) non-negative weights, or None for equal weights.
    """
    w = _normalised_weights(X, weights)
    mu = w @ X
    c = X - mu
    m2 = w @ c**2
    m3 = w @ c**3
    m4 = w @ c**4
    return m3 / m2**1.5, m4 / m2**2 - 3.0


def qq_correlation(X, weights=None):
    """Return the (P,) Q-Q correlations of the columns of X (K, P) with the normal law.

    Sorted values x_(i) against Φ⁻¹(c_i), c_i = Σ_{j<i} w_(j) + w_(i)/2 (weights normalised),
    correlated with the weights w_(i).
    """
    w = _normalised_weights(X, weights)
    order = jnp.argsort(X, axis=0)
    xs = jnp.take_along_axis(X, order, axis=0)
    ws = w[order]
    c = jnp.cumsum(ws, axis=0) - 0.5 * ws
    q = ndtri(jnp.clip(c, 1e-300, 1.0 - 1e-16))
    mx = jnp.sum(ws * xs, axis=0)
    mq = jnp.sum(ws * q, axis=0)
    cov = jnp.sum(ws * (xs - mx) * (q - mq), axis=0)
    vx = jnp.sum(ws * (xs - mx) ** 2, axis=0)
    vq = jnp.sum(ws * (q - mq) ** 2, axis=0)
    return cov / jnp.sqrt(vx * vq)


def out_of_span_fraction(X, X0, weights=None):
    """Fraction of ‖X‖² outside the linear functions of X0 (weighted least squares).

    Args:
        X: (K, P) current loadings; X0: (K, P0) initial loadings (same rows).
        weights: (K,) weights, or None for equal weights (θ-space: projection onto span X0).

    Returns:
        (per_vector (P,), total ()): Σ_k w_k R_k² / Σ_k w_k X_k² with R = X − X0 B,
        B = argmin Σ_k w_k ‖X_k − X0_k B‖².
    """
    w = _normalised_weights(X, weights)
    X0 = jnp.asarray(X0, X.dtype)
    sw = jnp.sqrt(w)[:, None]
    # Least squares in the √w-weighted rows: lstsq handles a singular Σ(0) gracefully.
    B = jnp.linalg.lstsq(sw * X0, sw * X)[0]
    R = X - X0 @ B
    r2 = w @ R**2
    x2 = w @ X**2
    return r2 / x2, jnp.sum(r2) / jnp.sum(x2)


def gaussianity_stats(X, X0=None, weights=None) -> GaussianityStats:
    """All statistics of one snapshot X (K, P); `X0` (K, P) enables the out-of-span fraction."""
    skew, kurt = vector_moments(X, weights)
    qq = qq_correlation(X, weights)
    if X0 is None:
        nan = jnp.full((X.shape[1],), jnp.nan, X.dtype)
        return GaussianityStats(kurt, skew, qq, nan, jnp.asarray(jnp.nan, X.dtype))
    frac, total = out_of_span_fraction(X, X0, weights)
    return GaussianityStats(kurt, skew, qq, frac, total)
