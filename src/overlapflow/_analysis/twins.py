"""Functionally equivalent twins: equal visible overlaps, different invisible ones (docs/theory.md §5).

A twin Σ' of Σ keeps every loss-visible overlap and changes invisible ones while staying
positive semi-definite, so it is realisable by vectors (docs/theory.md §2) and computes exactly the
same function (linear φ; for nonlinear φ the same mean-field function), yet learns differently.

Behaviour on infeasible requests (documented contract):

- A request is feasible when Σ with the requested invisible values — the visible overlaps,
  and unless `adjust_others=True` the other invisible overlaps, kept — is PSD. With
  `adjust_others=True` the unrequested invisible overlaps may move, as little as possible
  (least squares), to make it PSD.
- `on_infeasible="raise"` (default): an infeasible request raises `InfeasibleError`, one line
  naming the requested overlaps, the smallest eigenvalue they would give, and the nearest
  feasible values.
- `on_infeasible="nearest"`: the nearest feasible twin is returned instead (requested entries
  as close as possible in least squares, visible overlaps exact) and a `TwinWarning` with the
  same message is emitted.
- Asking for a loss-visible or unknown overlap, or a non-finite value, is a `ConfigError`
  (`SigmaError` for names) whatever `on_infeasible` says.

"Least squares" is the Frobenius distance over the entries allowed to move; it is solved
with a log-barrier interior-point method (phase 1 finds a strictly PD point, phase 2 the
nearest one), so the result is strictly positive definite (λ_min ≥ margin) and every fixed
entry is copied, not recomputed.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

from .._model.effective import effective_outputs
from .._model.network import NetworkSpec, network_outputs
from .._model.overlaps import (
    check_sigma,
    overlap_index,
    overlap_names,
    overlap_pairs,
    realise_vectors,
)
from .._support.errors import ConfigError, InfeasibleError
from .visibility import visible_mask

__all__ = ["TwinWarning", "equivalent_twin", "twin_output_difference"]

ON_INFEASIBLE = ("raise", "nearest")


class TwinWarning(UserWarning):
    """A twin request could not be met exactly; the nearest feasible twin was returned."""


class _Affine:
    """Σ(f) = base + Σ_k f_k B_k over the free entries `pairs` (B_k = e_i e_jᵀ + e_j e_iᵀ)."""

    def __init__(self, sigma: np.ndarray, pairs):
        P = sigma.shape[0]
        self.pairs = list(pairs)
        self.base = _with(sigma, {p: 0.0 for p in self.pairs})
        B = np.zeros((len(self.pairs), P, P))
        for k, (i, j) in enumerate(self.pairs):
            B[k, i, j] = B[k, j, i] = 1.0
        self.B = B
        # Frobenius weights of the distinct entries: off-diagonal ones appear twice.
        self.w = np.array([1.0 if i == j else 2.0 for i, j in self.pairs])

    def values(self, sigma: np.ndarray) -> np.ndarray:
        return np.array([sigma[p] for p in self.pairs])

    def __call__(self, f: np.ndarray) -> np.ndarray:
        return self.base + np.tensordot(f, self.B, axes=1)


def _logdet_pd(Z: np.ndarray) -> float:
    try:
        L = np.linalg.cholesky(Z)
    except np.linalg.LinAlgError:
        return -np.inf
    return 2.0 * float(np.sum(np.log(np.diag(L))))


def _center(x, Z_of, A, t, c, w, x0, stop=None, max_newton=200):
    """Damped Newton on F(x) = t (c·x + ½ Σ w (x − x0)²) − log det Z(x), Z(x) ≻ 0 kept.

    A: (k, P, P) = ∂Z/∂x_k (Z is affine in x). Returns x (stops early when stop(x)).
    """

    def F(y):
        ld = _logdet_pd(Z_of(y))
        return np.inf if ld == -np.inf else t * (c @ y + 0.5 * np.sum(w * (y - x0) ** 2)) - ld

    for _ in range(max_newton):
        Zi = np.linalg.inv(Z_of(x))
        Y = np.matmul(Zi, A)  # (k, P, P)
        g = t * (c + w * (x - x0)) - np.trace(Y, axis1=1, axis2=2)
        H = t * np.diag(w) + np.einsum("kij,lji->kl", Y, Y)
        dx = -np.linalg.lstsq(H, g, rcond=1e-14)[0]
        dec = float(-g @ dx)
        if dec < 2e-12:
            break
        f0, step = F(x), 1.0
        while F(x + step * dx) > f0 - 0.25 * step * dec and step > 1e-12:
            step *= 0.5
        x = x + step * dx
        if stop is not None and stop(x):
            break
    return x


def _interior_point(aff: _Affine, f_start: np.ndarray, floor: float, scale: float):
    """Free values f with λ_min(Σ(f)) > floor, or None when there are none (phase 1).

    Maximises s subject to Σ(f) − sI ≻ 0 by the barrier method; stops as soon as s > floor,
    and declares infeasibility once the central-path bound s* ≤ s + P/t is below floor.
    """
    P = aff.base.shape[0]
    k = len(aff.pairs)
    A = np.concatenate([aff.B, -np.eye(P)[None]], axis=0)
    c = np.zeros(k + 1)
    c[-1] = -1.0
    w = np.zeros(k + 1)

    def Z_of(x):
        return aff(x[:k]) - x[-1] * np.eye(P)

    s0 = float(np.linalg.eigvalsh(aff(f_start))[0]) - scale
    x = np.concatenate([f_start, [s0]])
    t = 1.0 / scale
    while t < 1e15 / scale:
        x = _center(x, Z_of, A, t, c, w, x, stop=lambda y: y[-1] > floor)
        if x[-1] > floor:
            return x[:k]
        if x[-1] + P / t < floor:
            return None
        t *= 10.0
    return None


def _nearest(aff: _Affine, target: np.ndarray, f_start: np.ndarray, floor: float, scale: float):
    """Free values closest to `target` (Frobenius) with Σ(f) − floor·I ≻ 0 (phase 2).

    Barrier method from the strictly feasible `f_start`; stops at duality gap P/t below
    1e-13·scale². The result is strictly feasible.
    """
    P = aff.base.shape[0]
    c = np.zeros(len(aff.pairs))

    def Z_of(f):
        return aff(f) - floor * np.eye(P)

    f = f_start.copy()
    t = 1.0 / scale**2
    while P / t > 1e-13 * scale**2:
        t *= 10.0
        f = _center(f, Z_of, aff.B, t, c, aff.w, target)
    return f


def _parse_requests(spec: NetworkSpec, invisible: Mapping, mask: np.ndarray):
    if not isinstance(invisible, Mapping):
        raise ConfigError(
            f"invisible must be a mapping {{overlap name: value}}, got {type(invisible).__name__}"
        )
    names = overlap_names(spec)
    pairs = overlap_pairs(spec)
    requests: dict[tuple[int, int], float] = {}
    for name, value in invisible.items():
        i, j = overlap_index(spec, str(name))
        canonical = names[pairs.index((i, j))]
        if mask[i, j]:
            allowed = ", ".join(n for n, p in zip(names, pairs) if not mask[p])
            raise ConfigError(
                f"σ_{canonical} is loss-visible and a twin keeps it; request only invisible "
                f"overlaps: {allowed or '(none for this network)'}"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(float(value))
        ):
            raise ConfigError(f"requested σ_{canonical} must be a finite number, got {value!r}")
        if (i, j) in requests:
            raise ConfigError(f"σ_{canonical} is requested twice (as {name!r} and before)")
        requests[(i, j)] = float(value)
    return requests


def _with(sigma: np.ndarray, entries: Mapping[tuple[int, int], float]) -> np.ndarray:
    out = sigma.copy()
    for (i, j), value in entries.items():
        out[i, j] = out[j, i] = value
    return out


def equivalent_twin(
    sigma,
    spec: NetworkSpec,
    invisible: Mapping[str, float] | None = None,
    *,
    seed: int = 0,
    adjust_others: bool = False,
    on_infeasible: str = "raise",
    margin: float = 1e-9,
) -> np.ndarray:
    """Return a twin Σ' (P, P): PSD, the same loss-visible overlaps, requested invisible ones.

    Args:
        sigma: (P, P) overlaps of the original network (symmetric PSD).
        spec: architecture (decides which overlaps are visible, `visible_mask`).
        invisible: {overlap name: value} for invisible overlaps, e.g. {"uu": 2.05, "mu": 0.8}
            (the paper's rank-1 example). None draws a random twin: every invisible entry is
            moved by N(0, (s/2)²), s = mean self-overlap, from `seed`, and the nearest
            feasible matrix to that is returned (no warning).
        seed: seed of the random twin (used only when `invisible` is None).
        adjust_others: let unrequested invisible overlaps move (least squares) when the
            requests cannot be met with them fixed.
        on_infeasible: "raise" (InfeasibleError) or "nearest" (TwinWarning + nearest twin);
            see the module docstring.
        margin: projections keep λ_min(Σ') ≥ margin · max|Σ| (capped by λ_min(Σ)/2), so the
            returned twin is strictly PSD whenever Σ is.

    Returns:
        Σ' (P, P) float64, visible entries bit-identical to Σ's, PSD.

    Raises:
        InfeasibleError: the requests cannot be met and on_infeasible = "raise".
        ConfigError / SigmaError: unknown or visible overlap requested, bad value or option.
    """
    if on_infeasible not in ON_INFEASIBLE:
        raise ConfigError(
            f"on_infeasible must be one of {', '.join(ON_INFEASIBLE)}, got {on_infeasible!r}"
        )
    sigma = check_sigma(sigma, spec)
    mask = visible_mask(spec)
    names = overlap_names(spec)
    pairs = overlap_pairs(spec)
    scale = max(float(np.max(np.abs(sigma))), 1e-300)
    lam0 = float(np.linalg.eigvalsh(sigma)[0])
    floor = max(0.0, min(margin * scale, 0.5 * lam0))

    invisible_pairs = [p for p in pairs if not mask[p]]
    if invisible is None:
        rng = np.random.default_rng(seed)
        s = float(np.mean(np.diag(sigma)))
        target = _with(sigma, {p: sigma[p] + 0.5 * s * rng.standard_normal() for p in invisible_pairs})
        return _solve_nearest(sigma, target, invisible_pairs, floor, scale)

    requests = _parse_requests(spec, invisible, mask)
    target = _with(sigma, requests)
    lam_t = float(np.linalg.eigvalsh(target)[0])
    if lam_t >= 0.0:
        return target
    others = [p for p in invisible_pairs if p not in requests]
    if adjust_others and others:
        aff = _Affine(target, others)
        f = _interior_point(aff, aff.values(target), floor, scale)
        if f is not None:
            return aff(_nearest(aff, aff.values(target), f, floor, scale))

    free = list(requests) + (others if adjust_others else [])
    x = _solve_nearest(sigma, target, free, floor, scale)
    label = {p: "σ_" + names[pairs.index(p)] for p in pairs}
    asked = ", ".join(f"{label[p]} = {v:.6g}" for p, v in requests.items())
    near = ", ".join(f"{label[p]} = {x[p]:.6g}" for p in requests)
    kept = "the visible overlaps" + ("" if adjust_others else " and the other invisible overlaps")
    message = (
        f"twin request {asked} is infeasible: Σ' would not be positive semi-definite "
        f"(smallest eigenvalue {lam_t:.3g}) with {kept} fixed; nearest feasible: {near}"
    )
    if on_infeasible == "raise":
        hint = "" if adjust_others else "adjust_others=True or "
        raise InfeasibleError(f"{message} (pass {hint}on_infeasible='nearest' to accept it)")
    warnings.warn(message, TwinWarning, stacklevel=2)
    return x


def _solve_nearest(sigma, target, free, floor, scale) -> np.ndarray:
    """Σ' nearest to `target` over the `free` entries with Σ' − floor·I ≻ 0 (others = target)."""
    aff = _Affine(target, free)
    start = aff.values(sigma)
    if float(np.linalg.eigvalsh(aff(start))[0]) <= floor:
        start = _interior_point(aff, start, floor, scale)
        if start is None:
            raise InfeasibleError(
                "Σ has no strictly positive-definite twin: its loss-visible overlaps alone "
                "make it singular; give a positive-definite Σ"
            )
    return aff(_nearest(aff, aff.values(target), start, floor, scale))


def twin_output_difference(
    sigma_a,
    sigma_b,
    spec: NetworkSpec,
    *,
    seed: int = 0,
    batch: int = 4,
    n_steps: int = 100,
    N: int | None = None,
) -> float:
    """Max |y_a − y_b| / max |y_a| of two networks' outputs on random white-noise inputs.

    Args:
        sigma_a, sigma_b: (P, P) overlaps of the two networks.
        seed: seed of the inputs x ~ N(0, 1/dt), shape (batch, n_steps, n_in), and of the
            realisation of the vectors (when N is given).
        N: None compares the effective networks (docs/theory.md §3; exact for linear φ, mean field
            otherwise); an integer realises both Σ with N-dim vectors (`realise_vectors`)
            and runs the full networks (`network_outputs`).

    Returns:
        The relative output difference (0 for functionally identical twins, up to rounding).
    """
    a = check_sigma(sigma_a, spec, what="sigma_a")
    b = check_sigma(sigma_b, spec, what="sigma_b")
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal((batch, n_steps, spec.n_in)) / math.sqrt(spec.dt))
    if N is None:
        ya = np.asarray(effective_outputs(jnp.asarray(a), x, spec))
        yb = np.asarray(effective_outputs(jnp.asarray(b), x, spec))
    else:
        sN = spec.with_N(N)
        ya = np.asarray(network_outputs(realise_vectors(a, N, seed=seed), x, sN))
        yb = np.asarray(network_outputs(realise_vectors(b, N, seed=seed + 1), x, sN))
    return float(np.max(np.abs(ya - yb)) / max(float(np.max(np.abs(ya))), 1e-300))
