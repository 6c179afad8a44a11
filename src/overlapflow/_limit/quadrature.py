"""Quadrature rules over the initial loadings X(0) ~ N(0, Σ₀): tensor Gauss–Hermite nodes,
Monte-Carlo nodes, θ-space rows as nodes, and Q-Q interpolation bases (docs/theory.md §8)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._model.network import NetworkSpec
from .._model.overlaps import check_sigma
from .._support.errors import ConfigError
from .._support.precision import require_float64
from .._support.validate import count, integer

MAX_NODES = 2_000_000


class QuadratureNodes(NamedTuple):
    """Weighted initial loadings: X0 (K, P) rows and weights (K,), Σ_k w_k = 1.

    `grid` (tensor rules only): the 1-D standard-normal nodes of each of the P coordinates, in
    the row-major order of the rows; it lets the Q-Q statistic interpolate the node map.
    """

    X0: jax.Array
    weights: jax.Array
    grid: tuple | None = None


QQ_SAMPLES = 4096
QQ_SEED = 0
"""Q-Q correlations of tensor-rule nodes use this many N(0, I) points (drawn from this seed) at
which the node map X(t) = F_t(ξ) is evaluated by tensor Lagrange interpolation through the
Gauss–Hermite nodes: the node values themselves are a discrete law (a few atoms per
coordinate) whose Q-Q correlation is < 1 even for a Gaussian. Moments need no such step."""


def _barycentric_basis(nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Lagrange basis L_i(x) (S, n) through `nodes` (n,), barycentric form."""
    diff = nodes[:, None] - nodes[None, :]
    np.fill_diagonal(diff, 1.0)
    bw = 1.0 / np.prod(diff, axis=1)
    d = x[:, None] - nodes[None, :]
    d = np.where(d == 0, 1e-300, d)
    t = bw[None, :] / d
    return t / np.sum(t, axis=1, keepdims=True)


def qq_bases(grid: tuple, *, samples: int = QQ_SAMPLES, seed: int = QQ_SEED) -> tuple:
    """Per-coordinate Lagrange bases (S, n_j) at `samples` standard-normal points (seeded)."""
    xi = np.random.default_rng(seed).standard_normal((samples, len(grid)))
    return tuple(jnp.asarray(_barycentric_basis(np.asarray(g), xi[:, j]))
                 for j, g in enumerate(grid))


def interpolate_nodes(X, bases):
    """Evaluate the node map at the sample points: X (K, P) on the tensor grid → (S, P)."""
    shape = tuple(b.shape[1] for b in bases) + (X.shape[1],)
    T = jnp.tensordot(bases[0].astype(X.dtype), X.reshape(shape), axes=(1, 0))
    for b in bases[1:]:
        T = jnp.einsum("si,si...->s...", b.astype(X.dtype), T)
    return T


def _drive_rest(spec: NetworkSpec) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(spec.P)
    drive = np.r_[idx[spec.m], idx[spec.u]]
    rest = np.r_[idx[spec.v], idx[spec.z]]
    return drive, rest


def _psd_factor(S: np.ndarray) -> np.ndarray:
    """F with FᵀF = S for a PSD S (eigendecomposition; Cholesky fails on singular S)."""
    lam, W = np.linalg.eigh(0.5 * (S + S.T))
    return np.sqrt(np.clip(lam, 0.0, None))[:, None] * W.T


def _hermite_1d(n: int) -> tuple[np.ndarray, np.ndarray]:
    xi, w = np.polynomial.hermite_e.hermegauss(n)
    return xi, w / w.sum()


def limit_nodes(
    sigma0, spec: NetworkSpec, *, nodes: int = 9, nodes_rest: int | None = None
) -> QuadratureNodes:
    """Gaussian quadrature over X(0) ~ N(0, Σ₀) (module docstring for the rule).

    Args:
        sigma0: (P, P) initial overlaps Σ₀ (symmetric PSD).
        spec: architecture (gives the drive directions M, U and the rest V, Z).
        nodes: Gauss–Hermite points along each of the n_in + R drive directions (≥ 2).
        nodes_rest: points along each of the R + n_out other directions; default `nodes`
            when P ≤ 4, else 3.

    Returns:
        `QuadratureNodes` with K = nodes^(n_in+R) · nodes_rest^(R+n_out) rows; the rule is
        exact for Σ_k w_k X_kᵀ X_k = Σ₀ and every polynomial moment of degree < 2·min(n).
        The rule is built in float64 NumPy and returned in JAX's default float dtype (float32
        while the 64-bit mode is off: what `learn_limit(dtype=jnp.float32)` runs on).
    """
    sigma0 = check_sigma(sigma0, spec, what="Σ₀")
    if nodes_rest is None:
        nodes_rest = nodes if spec.P <= 4 else 3
    for name, value in (("nodes", nodes), ("nodes_rest", nodes_rest)):
        integer(name, value, minimum=2, maximum=60)
    drive, rest = _drive_rest(spec)
    d, r = len(drive), len(rest)
    K = nodes**d * nodes_rest**r
    if K > MAX_NODES:
        raise ConfigError(
            f"limit rule has {K} nodes ({nodes}^{d} · {nodes_rest}^{r}); at most {MAX_NODES}: "
            "lower nodes or nodes_rest"
        )
    S_dd = sigma0[np.ix_(drive, drive)]
    S_dr = sigma0[np.ix_(drive, rest)]
    S_rr = sigma0[np.ix_(rest, rest)]
    S_dd_pinv = np.linalg.pinv(S_dd, rcond=1e-12, hermitian=True)
    B = S_dd_pinv @ S_dr  # regression of the rest on the drive loadings
    F_d = _psd_factor(S_dd)
    F_r = _psd_factor(S_rr - S_dr.T @ S_dd_pinv @ S_dr)

    grids, weights = [], []
    for n in (nodes,) * d + (nodes_rest,) * r:
        xi, w = _hermite_1d(n)
        grids.append(xi)
        weights.append(w)
    mesh = np.meshgrid(*grids, indexing="ij")
    xi = np.stack([g.reshape(-1) for g in mesh], axis=1)  # (K, P)
    wmesh = np.meshgrid(*weights, indexing="ij")
    w = np.prod(np.stack([g.reshape(-1) for g in wmesh], axis=1), axis=1)
    X_d = xi[:, :d] @ F_d
    X_r = X_d @ B + xi[:, d:] @ F_r
    X0 = np.empty((K, spec.P))
    X0[:, drive] = X_d
    X0[:, rest] = X_r
    grid = tuple(np.asarray(g) for g in grids)
    return QuadratureNodes(jnp.asarray(X0), jnp.asarray(w / w.sum()), grid)


def sample_nodes(sigma0, spec: NetworkSpec, N: int, *, seed: int) -> QuadratureNodes:
    """N i.i.d. rows X_i ~ N(0, Σ₀) with weights 1/N: a finite network drawn from the limit's law.

    Learning these nodes with `learn_particles` is θ-space GD (step N·η) of that network.
    The draw is float64 (`random_vectors`' stream): a `ConfigError` naming
    `of.enable_float64()` while JAX's 64-bit mode is off.
    """
    require_float64("sample_nodes")
    sigma0 = check_sigma(sigma0, spec, what="Σ₀")
    count("N", N)
    integer("seed", seed, minimum=0)
    G = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (N, spec.P), jnp.float64))
    return QuadratureNodes(jnp.asarray(G @ _psd_factor(sigma0)), jnp.full((N,), 1.0 / N))


def theta_nodes(X) -> QuadratureNodes:
    """The N rows of a network's vectors X (N, P) as nodes of weight 1/N (θ-space GD)."""
    X = jnp.asarray(X)
    return QuadratureNodes(X, jnp.full((X.shape[0],), 1.0 / X.shape[0], X.dtype))
