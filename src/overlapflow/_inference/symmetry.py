"""Exact symmetries of learning: initial overlaps no observation of learning can tell apart.

An orthogonal P × P matrix A with L(AᵀΣA) = L(Σ) for every Σ maps whole learning
trajectories onto each other: S(AᵀΣA) = AᵀS(Σ)A, so the exact map of §4.2 sends AᵀΣ_eA to
AᵀΣ_{e+1}A, and every observation of the network (its loss, its outputs on any input) is the
same at every epoch. Σ₀ and AᵀΣ₀A are then indistinguishable (docs/theory.md §10):

- **sign of (u_r, v_r)** — flipping u_r and v_r together leaves U Vᵀ unchanged: the network
  itself is the same. For rank R the whole group O(R) acting on U and V together is a
  symmetry (continuous for R ≥ 2: those directions are null directions of the Fisher
  information); its sign flips are the discrete part checked here.
- **duality m ↔ z, u_r ↔ v_r** — for one input and one output and a linear network (or a
  constant gain, relu and softplus) the transfer function is a scalar and equals its
  transpose, so exchanging the roles of input and readout, and of the left and right
  connectivity vectors, changes no output on any input.

Candidates are generated from the architecture and each is *kept only if it holds
numerically* at the estimate (observations equal to `SYMMETRY_RTOL` of their size), so nothing
here is assumed that the model does not confirm.
"""

from __future__ import annotations

import itertools

import numpy as np

from .._model.network import NetworkSpec

__all__ = ["SYMMETRY_RTOL", "candidate_symmetries", "confirmed_symmetries", "align",
           "group_elements"]

#: A candidate holds when max |f(AᵀΣA) − f(Σ)| ≤ SYMMETRY_RTOL · max |f(Σ)| (float64 model).
SYMMETRY_RTOL = 1e-9


def _signed_permutation(P: int, perm, signs) -> np.ndarray:
    """A with (AᵀΣA)_ij = s_i s_j Σ_{perm i, perm j}: column i of A is s_i e_{perm i}."""
    A = np.zeros((P, P))
    for i, (j, s) in enumerate(zip(perm, signs)):
        A[j, i] = s
    return A


def candidate_symmetries(spec: NetworkSpec) -> list[tuple[str, str, np.ndarray]]:
    """Discrete candidates (name, description, A (P, P) orthogonal), identity excluded."""
    P, R = spec.P, spec.rank
    u, v = range(spec.u.start, spec.u.stop), range(spec.v.start, spec.v.stop)
    out = []
    for r in range(R):
        signs = np.ones(P)
        signs[u[r]] = signs[v[r]] = -1.0
        sfx = str(r + 1) if R > 1 else ""
        out.append((f"sign_uv{sfx}", f"u{sfx}, v{sfx} → −u{sfx}, −v{sfx} (U Vᵀ unchanged)",
                    _signed_permutation(P, range(P), signs)))
    if spec.n_in == 1 and spec.n_out == 1:
        perm = list(range(P))
        m, z = spec.m.start, spec.z.start
        perm[m], perm[z] = z, m
        for r in range(R):
            perm[u[r]], perm[v[r]] = v[r], u[r]
        out.append(("duality", "m ↔ z, u ↔ v (input and readout exchanged: the same transfer "
                    "function)", _signed_permutation(P, perm, np.ones(P))))
    return out


def group_elements(generators: list[np.ndarray], P: int) -> list[np.ndarray]:
    """Every product of the (commuting, involutive) generators, identity first."""
    elems = [np.eye(P)]
    for k in range(1, len(generators) + 1):
        for combo in itertools.combinations(generators, k):
            A = np.eye(P)
            for g in combo:
                A = A @ g
            elems.append(A)
    return elems


def confirmed_symmetries(spec: NetworkSpec, observe, sigma0) -> list[dict]:
    """The candidates that leave the observations of Σ₀ unchanged (to SYMMETRY_RTOL).

    Args:
        observe: f(sigma0) -> observations (any shape); sigma0: (P, P).

    Returns:
        [{"name", "text", "A" (P, P), "discrepancy"}] for the symmetries that hold.
    """
    sigma0 = np.asarray(sigma0, dtype=np.float64)
    ref = np.asarray(observe(sigma0))
    scale = max(float(np.max(np.abs(ref))), 1e-300)
    out = []
    for name, text, A in candidate_symmetries(spec):
        diff = float(np.max(np.abs(np.asarray(observe(A.T @ sigma0 @ A)) - ref)))
        if diff <= SYMMETRY_RTOL * scale:
            out.append({"name": name, "text": text, "A": A, "discrepancy": diff / scale})
    return out


def _rotation_align(sigma, reference, spec: NetworkSpec):
    """Q ∈ O(R) acting on U and V together that best aligns σ's U/V rows with the reference's."""
    if spec.rank == 1:
        return sigma
    R = spec.rank
    other = np.r_[np.arange(spec.m.start, spec.m.stop), np.arange(spec.z.start, spec.z.stop)]
    rows = lambda s: np.concatenate([s[spec.u][:, other], s[spec.v][:, other]], axis=1)  # noqa: E731
    Us, _, Vt = np.linalg.svd(rows(sigma) @ rows(reference).T)
    Q = Us @ Vt  # maximises tr(Qᵀ C Cᵣᵀ): Qᵀ·rows(σ) ≈ rows(reference)
    A = np.eye(spec.P)
    A[spec.u, spec.u] = Q[:R, :R] if Q.shape == (R, R) else Q
    A[spec.v, spec.v] = A[spec.u, spec.u]
    return A.T @ sigma @ A


def align(sigma, reference, spec: NetworkSpec, symmetries: list[dict], mask=None) -> np.ndarray:
    """The image of σ under the confirmed symmetries (and O(R) for R ≥ 2) closest to reference.

    mask: (P, P) bool, the entries that decide "closest" (the identifiable overlaps: an entry
    the observations do not fix, say along the conserved-form shift, must not choose the image).
    """
    mask = np.ones((spec.P, spec.P), bool) if mask is None else np.asarray(mask, bool)
    if not mask.any():
        mask = np.ones((spec.P, spec.P), bool)
    best, best_d = None, np.inf
    for A in group_elements([s["A"] for s in symmetries], spec.P):
        cand = _rotation_align(A.T @ sigma @ A, reference, spec)
        d = float(np.max(np.abs(cand - reference)[mask]))
        if d < best_d:
            best, best_d = cand, d
    return best
