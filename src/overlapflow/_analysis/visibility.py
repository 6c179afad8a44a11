"""Loss-visible and loss-invisible overlaps, found from the loss's actual dependence on Σ (docs/theory.md §5).

An overlap σ_ab is visible when ∂L/∂σ_ab ≠ 0 somewhere. We probe the symmetric gradient S at
several random PSD Σ on random white-noise inputs and targets: an entry that is zero at every
probe is structurally zero (an accidental zero at all probes has probability zero).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._model.effective import overlap_loss
from .._model.network import NetworkSpec
from .._model.overlaps import overlap_names, overlap_pairs
from .._support.precision import require_float64

__all__ = ["visible_mask", "visible_overlaps", "invisible_overlaps"]


@functools.lru_cache(maxsize=64)
def _visible_mask_cached(spec: NetworkSpec, probes: int, seed: int, n_steps: int) -> np.ndarray:
    from .._model.tasks import TaskBatch  # local: tasks import nothing from here, keep it that way

    key = jax.random.PRNGKey(seed)
    hits = np.zeros((spec.P, spec.P), dtype=bool)
    grad_fn = jax.jit(jax.grad(overlap_loss), static_argnums=(2, 3))
    for _ in range(probes):
        key, kx, ky, ks = jax.random.split(key, 4)
        x = jax.random.normal(kx, (2, n_steps, spec.n_in), jnp.float64)
        y = jax.random.normal(ky, (2, n_steps, spec.n_out), jnp.float64)
        A = jax.random.normal(ks, (spec.P + 2, spec.P), jnp.float64)
        sigma = A.T @ A / (spec.P + 2)
        g = np.asarray(grad_fn(sigma, TaskBatch(x, y, jnp.ones_like(y)), spec, "sum_dt"))
        g = np.abs(g) + np.abs(g.T)
        hits |= g > 1e-13 * max(float(np.max(g)), 1e-300)
    hits.setflags(write=False)
    return hits


def visible_mask(spec: NetworkSpec, *, probes: int = 3, seed: int = 0) -> np.ndarray:
    """Return a symmetric (P, P) boolean array, True where the loss depends on σ_ab.

    Depends only on the architecture (rank, n_in, n_out, φ), not on N or on Σ. The probes
    compute in float64 (a structural zero is told from rounding at 1e-13 of the largest
    entry): with JAX's 64-bit mode off this raises a `ConfigError` naming `of.enable_float64()`.
    """
    require_float64("visible_mask")
    probe_spec = spec.with_N(max(spec.P, 1))
    return _visible_mask_cached(probe_spec, probes, seed, 12).copy()


def visible_overlaps(spec: NetworkSpec) -> tuple[str, ...]:
    """Names of the loss-visible overlaps (see `overlap_names` for the naming)."""
    mask = visible_mask(spec)
    return tuple(n for n, (i, j) in zip(overlap_names(spec), overlap_pairs(spec)) if mask[i, j])


def invisible_overlaps(spec: NetworkSpec) -> tuple[str, ...]:
    """Names of the loss-invisible overlaps: the loss does not depend on them."""
    mask = visible_mask(spec)
    return tuple(
        n for n, (i, j) in zip(overlap_names(spec), overlap_pairs(spec)) if not mask[i, j]
    )
