"""The metric G(Σ) of overlap-space gradient flow on the distinct overlaps (docs/theory.md §4).

Gradient flow dΣ/dt = −2η (SΣ + ΣS), written on the D = P(P+1)/2 distinct overlaps σ
(`overlap_pairs` order) with g = ∇_σ L (g_ab = ∂L/∂σ_ab, so S_aa = g_aa, S_ab = g_ab / 2):

    dσ/dt = −η G(Σ) g,     G_(ij),(ab) = 2 (E_ab Σ + Σ E_ab)_ij,
    E_aa = e_a e_aᵀ,  E_ab = (e_a e_bᵀ + e_b e_aᵀ) / 2  (a ≠ b).

Explicitly G_(ij),(ab) = δ_ia Σ_bj + δ_ib Σ_aj + δ_ja Σ_ib + δ_jb Σ_ia, times 2 when a = b
(and counted once per distinct index). G is symmetric, linear in Σ, and an entry is
structurally zero exactly when the pairs {i, j} and {a, b} share no index (rank-1 linear:
42 of 100).
"""

from __future__ import annotations

import numpy as np

from .._model.network import NetworkSpec

__all__ = ["metric", "metric_structural_zeros", "sigma_gradient"]


def _unit_gradient_matrices(P: int) -> np.ndarray:
    """(D, P, P): the symmetric S of a unit gradient along each distinct overlap."""
    D = P * (P + 1) // 2
    out = np.zeros((D, P, P))
    for k, (a, b) in enumerate((i, j) for i in range(P) for j in range(i, P)):
        if a == b:
            out[k, a, a] = 1.0
        else:
            out[k, a, b] = out[k, b, a] = 0.5
    return out


def metric(sigma, spec: NetworkSpec) -> np.ndarray:
    """Return G(Σ), shape (D, D), D = P(P+1)/2, with dσ/dt = −η G(Σ) ∇_σ L (docs/theory.md §4).

    Args:
        sigma: (P, P) overlaps, or (..., P, P) batched.
        spec: architecture (fixes P and the `overlap_pairs` order of rows and columns).

    Returns:
        (..., D, D) symmetric metric; rows/columns in `overlap_pairs(spec)` order.
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    P = spec.P
    E = _unit_gradient_matrices(P)  # (D, P, P)
    # velocity of Σ for a unit gradient along overlap (ab): 2 (E Σ + Σ E)
    vel = 2.0 * (np.einsum("dij,...jk->...dik", E, sigma) + np.einsum("...ij,djk->...dik", sigma, E))
    iu = np.triu_indices(P)
    return np.swapaxes(vel[..., iu[0], iu[1]], -1, -2)  # (..., D rows (ij), D cols (ab))


def sigma_gradient(S) -> np.ndarray:
    """∇_σ L on the distinct overlaps from the symmetric gradient S (P, P): shape (D,).

    g_aa = S_aa, g_ab = 2 S_ab (a < b), in `overlap_pairs` order (docs/theory.md §4).
    """
    S = np.asarray(S, dtype=np.float64)
    P = S.shape[-1]
    iu = np.triu_indices(P)
    factor = np.where(iu[0] == iu[1], 1.0, 2.0)
    return S[..., iu[0], iu[1]] * factor


def metric_structural_zeros(spec: NetworkSpec, *, seed: int = 0) -> np.ndarray:
    """Boolean (D, D), True where G(Σ) is zero for every Σ (the structural sparsity).

    Found numerically: entries that vanish at two random dense positive-definite Σ (drawn
    from `seed`) and at Σ = all-ones (a zero at all three by accident has probability zero).
    """
    P = spec.P
    rng = np.random.default_rng(seed)
    zero = np.ones((P * (P + 1) // 2,) * 2, dtype=bool)
    probes = [np.ones((P, P))]
    for _ in range(2):
        A = rng.standard_normal((P + 2, P))
        probes.append(A.T @ A / (P + 2))
    for sig in probes:
        G = metric(sig, spec)
        zero &= np.abs(G) <= 1e-14 * np.max(np.abs(G))
    return zero
