"""Overlaps Σ = XᵀX/N between connectivity vectors (docs/theory.md §2): names, checks, realisation."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np

from .._support.errors import ConfigError, SigmaError
from .._support.precision import require_float64
from .network import NetworkSpec

__all__ = [
    "overlaps",
    "overlap_pairs",
    "overlap_names",
    "overlap_index",
    "get_overlap",
    "check_sigma",
    "realise_vectors",
    "overlap_labels",
]

# Canonical pair names follow the paper (σ_zm, σ_zu, σ_vm, σ_vu, σ_mu, σ_zv): the vector whose
# group comes first in z, v, m, u is written first; within a group, the lower index first.
_GROUP_PRIORITY = {"z": 0, "v": 1, "m": 2, "u": 3}


def overlaps(X):
    """Return Σ = XᵀX/N, shape (P, P), for stacked vectors X of shape (N, P) (or (..., N, P))."""
    return jnp.swapaxes(X, -1, -2) @ X / X.shape[-2]


def _pair_name(name_a: str, name_b: str) -> str:
    key_a = (_GROUP_PRIORITY[name_a[0]], name_a)
    key_b = (_GROUP_PRIORITY[name_b[0]], name_b)
    first, second = (name_a, name_b) if key_a <= key_b else (name_b, name_a)
    return first + second


def overlap_pairs(spec: NetworkSpec) -> tuple[tuple[int, int], ...]:
    """Index pairs (i, j), i ≤ j, of the P(P+1)/2 distinct overlaps, row-major upper triangle."""
    P = spec.P
    return tuple((i, j) for i in range(P) for j in range(i, P))


def overlap_names(spec: NetworkSpec) -> tuple[str, ...]:
    """Names of the distinct overlaps in `overlap_pairs` order, e.g. ("mm", "mu", "vm", ...)."""
    names = spec.vector_names
    return tuple(_pair_name(names[i], names[j]) for i, j in overlap_pairs(spec))


_NAME_RE = re.compile(r"[muvz]\d*")


def overlap_index(spec: NetworkSpec, name: str) -> tuple[int, int]:
    """Index pair (i, j), i ≤ j, of a named overlap: "zm", "sigma_zm", "σ_u1v2", "mz" all work.

    Raises:
        SigmaError: the name does not denote two vectors of this network.
    """
    raw = name
    for prefix in ("sigma_", "σ_", "σ"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    parts = _NAME_RE.findall(name)
    vectors = spec.vector_names
    if len(parts) != 2 or "".join(parts) != name or any(p not in vectors for p in parts):
        raise SigmaError(
            f"unknown overlap {raw!r}; an overlap names two of the vectors {', '.join(vectors)}"
            f" (for example {overlap_names(spec)[min(1, spec.P - 1)]!r})"
        )
    i, j = sorted(vectors.index(p) for p in parts)
    return i, j


def get_overlap(sigma, spec: NetworkSpec, name: str):
    """Value of the named overlap σ_ab in Σ of shape (..., P, P)."""
    i, j = overlap_index(spec, name)
    return sigma[..., i, j]


def check_sigma(sigma, spec: NetworkSpec, *, what: str = "Σ", rtol: float = 1e-9) -> np.ndarray:
    """Validate an overlap matrix and return it as a float64 numpy array.

    Checks shape (P, P), finiteness, symmetry (to rtol·max|Σ|) and positive semi-definiteness
    (smallest eigenvalue ≥ −rtol·max|Σ|).

    Raises:
        SigmaError: naming the failed check (the message gives the smallest eigenvalue for PSD).
    """
    arr = np.asarray(sigma, dtype=np.float64)
    P = spec.P
    if arr.shape != (P, P):
        raise SigmaError(
            f"{what} must have shape ({P}, {P}) for order {'|'.join(spec.vector_names)}, "
            f"got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise SigmaError(f"{what} contains NaN or inf")
    scale = max(float(np.max(np.abs(arr))), 1e-300)
    asym = float(np.max(np.abs(arr - arr.T)))
    if asym > rtol * scale:
        raise SigmaError(f"{what} is not symmetric (max |Σ − Σᵀ| = {asym:.3g})")
    arr = 0.5 * (arr + arr.T)
    lam_min = float(np.linalg.eigvalsh(arr)[0])
    if lam_min < -rtol * scale:
        raise SigmaError(
            f"{what} is not positive semi-definite (smallest eigenvalue {lam_min:.6g})"
        )
    return arr


def realise_vectors(sigma, N: int, *, seed: int, rtol: float = 1e-12):
    """Return N-dimensional vectors X (N, P) with XᵀX/N = Σ exactly (to rounding).

    X = √N · Q F with FᵀF = Σ from the eigendecomposition (Cholesky fails on singular Σ) and
    Q (N, r) with orthonormal columns drawn from `seed`, r = numerical rank of Σ (docs/theory.md §2).

    Raises:
        SigmaError: Σ not symmetric PSD, or N smaller than the rank of Σ.
        ConfigError: JAX's 64-bit mode is off (the draw and X are float64; the message names
            `of.enable_float64()`).
    """
    require_float64("realise_vectors")
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.ndim != 2 or sigma.shape[0] != sigma.shape[1]:
        raise SigmaError(f"Σ must be a square matrix, got shape {sigma.shape}")
    sigma = 0.5 * (sigma + sigma.T)
    lam, W = np.linalg.eigh(sigma)
    scale = max(float(np.max(np.abs(lam))), 1e-300)
    if lam[0] < -1e-9 * scale:
        raise SigmaError(f"Σ is not positive semi-definite (smallest eigenvalue {lam[0]:.6g})")
    keep = lam > rtol * scale
    r = int(np.sum(keep))
    if N < r:
        raise SigmaError(f"N = {N} is smaller than the rank of Σ ({r}): not realisable")
    F = np.sqrt(lam[keep])[:, None] * W[:, keep].T  # (r, P), FᵀF = Σ (up to dropped λ≈0)
    G = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (N, max(r, 1)), jnp.float64))
    Q, _ = np.linalg.qr(G)
    X = np.sqrt(N) * Q[:, :r] @ F
    return jnp.asarray(X)


def overlap_labels(spec: NetworkSpec, labels) -> tuple[str, ...]:
    """`overlap_names(spec)` with each vector named by `labels` (P,), e.g. `vector_labels(net)`.

    A pair keeps the order of `overlap_names`; labels longer than a letter and a number
    ("bias", "h0") are joined with "·": "zm1", "v·bias", "h0·h0".
    """
    names, labels = spec.vector_names, tuple(str(c) for c in labels)
    if len(labels) != spec.P:
        raise ConfigError(f"labels must name the {spec.P} columns of X, got {len(labels)}")
    out = []
    for (i, j), plain in zip(overlap_pairs(spec), overlap_names(spec)):
        first, second = (i, j) if plain == names[i] + names[j] else (j, i)
        a, b = labels[first], labels[second]
        simple = all(re.fullmatch(r"[muvz][0-9]*", c) for c in (a, b))
        out.append(a + b if simple else f"{a}·{b}")
    return tuple(out)
