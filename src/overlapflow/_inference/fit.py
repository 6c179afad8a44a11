"""Least-squares fit of Σ₀ to observations of learning (docs/theory.md §10).

The objective is weighted least squares over the observed epochs k and the entries j of each
observation (`observation_model`):

    C(Σ₀) = ½ Σ_k Σ_j ((f_kj(Σ₀) − y_kj) / sd_kj)².

Parameters: Σ₀ = L Lᵀ with L lower triangular (θ = the D = P(P+1)/2 entries of L), so every
candidate is positive semi-definite by construction. Per restart (a seeded random start):

1. Adam (optax) on the first two observed epochs: a cheap, robust approach to the basin of
   the visible overlaps.
2. Continuation in the observation horizon: the epochs are taken in, a growing prefix at a
   time (2, 3, 5, 8, 12, … of them, ×1.5), and each prefix is fitted by Levenberg–Marquardt
   from the previous estimate. Early prefixes fix the visible overlaps, later ones what
   learning reveals; a weak proximal term ½μ‖θ − θ_stage‖² (μ = `prox` × the mean curvature)
   keeps the directions a prefix does not see yet where they were.
3. A restart whose objective is within a factor 100 of the best so far is then polished on
   all observations in the overlaps themselves (σ, the distinct entries of Σ₀): a line search along each direction in
   `flow_directions` (a valley that is straight in σ but curved in θ: the conserved forms,
   symmetries of gradient flow broken only at O(η²) by discrete steps), then Levenberg–
   Marquardt with steps restricted to the identifiable subspace (singular values of the
   weighted Jacobian above `rtol` of the largest) and kept inside the PSD cone (a step that
   leaves it is halved until it does not).

Levenberg–Marquardt: (H + λ diag H) d = −g with H = JᵀJ, g = Jᵀr from the Jacobian J of the
weighted residuals by forward-mode autodiff through the learning (one compiled function of σ;
θ-space derivatives by the chain rule J_θ = J_σ ∂σ/∂θ), λ updated by the gain ratio ρ
(Nielsen: λ ← λ·max(1/10, 1 − (2ρ − 1)³) on success, λ ← λ·ν, ν ← 2ν on failure); a stage
ends after `stage_iters` iterations or when an iteration gains less than 1e-6 of the objective.
Restarts run one after the other until `agree` polished ones reach the same least objective
(or `restarts` are used); the estimate is the polished restart of smallest objective.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._support import interrupt as _interrupt
from .._support.errors import ConfigError
from .model import coords_from_sym, sym_from_coords

__all__ = ["RevealSettings", "FitRun", "agreeing_runs", "fit_sigma0", "psd_range", "random_start",
           "stage_sizes"]


@dataclass(frozen=True)
class RevealSettings:
    """Settings of `fit_sigma0`.

    Attributes:
        restarts: at most this many seeded random starts (≥ 1).
        agree: stop once this many polished restarts reached the least objective (to 1e-6
            of it, or 1e-14 of the objective of predicting zeros): the minimum was found more
            than once. One restart suffices when it fits exactly (objective ≤ 1e-20 of that of
            predicting zeros: noise-free data, nothing lower exists).
        seed: seed of the starts (restart i draws from `default_rng([seed, i])`).
        adam_steps: Adam steps on the first two observed epochs (0: none); `adam_rate` its rate.
        stage_iters: Levenberg–Marquardt iterations per continuation stage (at most).
        final_iters: iterations of the polish on all observations (at most).
        xtol: convergence: the step is below xtol·(‖θ‖ + xtol).
        prox: the proximal weight of the intermediate stages, relative to tr(JᵀJ)/D.
        rtol: the polish steps only in directions whose singular value (of the weighted
            Jacobian) is above rtol of the largest (the identifiable subspace, `fisher`).
    """

    restarts: int = 8
    agree: int = 2
    seed: int = 0
    adam_steps: int = 50
    adam_rate: float = 0.02
    stage_iters: int = 25
    final_iters: int = 40
    xtol: float = 1e-13
    prox: float = 1e-8
    rtol: float = 1e-9

    def __post_init__(self):
        for name in ("restarts", "agree", "stage_iters", "final_iters"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an integer ≥ 1, got {value!r}")
        for name in ("seed", "adam_steps"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be an integer ≥ 0, got {value!r}")
        for name in ("adam_rate", "xtol", "prox", "rtol"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) \
                    or not np.isfinite(value) or value <= 0:
                raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class FitRun:
    """One restart: its start, its estimate and its objective C (nan if it failed).

    interrupted: Ctrl-C stopped this restart; sigma0 is then the point of least objective on
    all observations it had evaluated (never polished nor converged).
    """

    restart: int
    sigma_start: np.ndarray = field(repr=False)
    sigma0: np.ndarray = field(repr=False)
    fit_loss: float
    iterations: int
    converged: bool
    polished: bool
    interrupted: bool = False


def stage_sizes(E: int) -> list[int]:
    """Prefix sizes of the continuation: 2, 3, 5, 8, 12, … (×1.5, rounded up), ending at E."""
    sizes, k = [], min(2, E)
    while k < E:
        sizes.append(k)
        k = max(k + 1, int(np.ceil(1.5 * k)))
    return sizes + [E]


def random_start(P: int, seed: int, restart: int) -> np.ndarray:
    """A random positive-definite start: AᵀA/(2P), A (2P, P) standard normal (unit-scale Σ)."""
    A = np.random.default_rng([seed, restart]).standard_normal((2 * P, P))
    return A.T @ A / (2 * P)


@functools.lru_cache(maxsize=16)
def _compiled_linearise(model, P: int):
    """jit of (σ, n_active, y, w) -> (C, Jᵀr, JᵀJ) for one model (compiled once per model)."""
    D = P * (P + 1) // 2

    def residual(coords, n_active, y, w):
        r = (model(sym_from_coords(coords, P), n_active) - y) * w
        return jnp.where((jnp.arange(y.shape[0]) < n_active)[:, None], r, 0.0).ravel()

    def linearise(coords, n_active, y, w):
        fun = lambda c: residual(c, n_active, y, w)  # noqa: E731
        r = fun(coords)
        if getattr(model, "vmap_tangents", False):
            J = jax.jacfwd(fun)(coords)
        else:
            J = jax.lax.map(lambda v: jax.jvp(fun, (coords,), (v,))[1],
                            jnp.eye(D, dtype=coords.dtype)).T
        return 0.5 * jnp.sum(r * r), J.T @ r, J.T @ J

    return jax.jit(linearise)


class _Objective:
    """C and its Gauss–Newton pieces as functions of σ (one compiled function) or of θ."""

    def __init__(self, model, y, weight, P: int, dtype):
        self.P = P
        self.E = int(np.shape(y)[0])
        self.D = P * (P + 1) // 2
        self.tri = np.tril_indices(P)
        self.evaluations = 0
        self.y = jnp.asarray(y, dtype)
        self.w = jnp.asarray(weight, dtype)
        self._linearise = _compiled_linearise(model, P)
        self.dtype = dtype
        self.forget()

    def forget(self) -> None:
        """Start a new restart's record: its best point on all observations, its iterations."""
        self.best = (np.inf, None)
        self.iterations = 0

    def tick(self) -> None:
        self.iterations += 1

    def sigma_of_theta(self, theta) -> np.ndarray:
        L = np.zeros((self.P, self.P))
        L[self.tri] = np.asarray(theta)
        return L @ L.T

    def chol_jacobian(self, theta) -> np.ndarray:
        """∂σ/∂θ (D, D) of σ = coords(L Lᵀ): dΣ = dL Lᵀ + L dLᵀ."""
        L = np.zeros((self.P, self.P))
        L[self.tri] = np.asarray(theta)
        cols = []
        for i, j in zip(*self.tri):
            dL = np.zeros((self.P, self.P))
            dL[i, j] = 1.0
            cols.append(np.asarray(coords_from_sym(dL @ L.T + L @ dL.T)))
        return np.stack(cols, axis=1)

    def at_sigma(self, coords, n_active):
        """(C, g, H) in σ (overlap coordinates); C = inf when not finite."""
        self.evaluations += 1
        c, g, H = (np.asarray(a, dtype=np.float64)
                   for a in self._linearise(jnp.asarray(coords, self.dtype), n_active,
                                            self.y, self.w))
        if not (np.isfinite(c) and np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
            return np.inf, g, H
        if n_active == self.E and c < self.best[0]:  # what an interrupted restart keeps
            self.best = (float(c), np.array(coords, dtype=np.float64))
        return float(c), g, H

    def at_theta(self, theta, n_active, anchor=None, mu=0.0):
        """(C + ½μ‖θ − anchor‖², g, H) in θ (Cholesky entries), by the chain rule."""
        coords = coords_from_sym(self.sigma_of_theta(theta))
        c, g, H = self.at_sigma(coords, n_active)
        M = self.chol_jacobian(theta)
        g, H = M.T @ g, M.T @ H @ M
        if mu:
            dv = np.asarray(theta) - anchor
            c, g, H = c + 0.5 * mu * float(dv @ dv), g + mu * dv, H + mu * np.eye(self.D)
        return c, g, H


def _admissible(P: int, coords) -> bool:
    sigma = np.asarray(sym_from_coords(jnp.asarray(coords), P))
    return bool(np.linalg.eigvalsh(sigma)[0] >= -1e-12 * max(np.abs(sigma).max(), 1e-300))


def _levenberg_marquardt(evaluate, x, *, iters, xtol, stage, lam=1e-3, rtol=None, P=None,
                         tick=None):
    """Levenberg–Marquardt from x with `evaluate(x) -> (C, g, H)`.

    rtol: restrict steps to the eigen-directions of H above rtol² of its largest eigenvalue.
    P: keep x inside the PSD cone (x are the overlaps of a P × P matrix), halving steps.
    tick: called once per iteration (the count an interrupted restart reports).

    Returns (x, C, iterations, converged).
    """
    x = np.asarray(x, dtype=np.float64)
    c, g, H = evaluate(x)
    if not np.isfinite(c):
        return x, c, 0, False
    nu, it, converged = 2.0, 0, False
    while it < iters:
        _interrupt.check()  # a Ctrl-C swallowed inside JAX stops the fit here
        it += 1
        if tick is not None:
            tick()
        scale = np.maximum(np.diag(H), 1e-14 * max(float(np.max(np.diag(H))), 1e-300))
        if rtol is not None:
            lam_h, vec_h = np.linalg.eigh(H)
            keep = lam_h >= rtol**2 * max(float(lam_h[-1]), 1e-300)
            V, lk = vec_h[:, keep], lam_h[keep]
        accepted = False
        while lam < 1e16:
            if rtol is not None:
                d = -V @ ((V.T @ g) / (lk + lam * lk[-1]))
            else:
                try:
                    d = np.linalg.solve(H + lam * np.diag(scale), -g)
                except np.linalg.LinAlgError:
                    lam, nu = lam * nu, 2 * nu
                    continue
            if P is not None:
                step = 1.0
                while not _admissible(P, x + step * d) and step > 1e-6:
                    step *= 0.5  # back into the PSD cone
                d = step * d
            predicted = -(g @ d + 0.5 * d @ H @ d)
            trial = evaluate(x + d)
            rho = (c - trial[0]) / predicted if predicted > 0 else -1.0
            if trial[0] < c and rho > 0:
                accepted = True
                break
            lam, nu = lam * nu, 2 * nu
        if not accepted:
            converged = True  # no decrease is possible at this precision
            break
        x = x + d
        lam, nu = lam * max(0.1, 1.0 - (2.0 * rho - 1.0) ** 3), 2.0
        c_old, (c, g, H) = c, trial
        if np.linalg.norm(d) <= xtol * (np.linalg.norm(x) + xtol) or c == 0.0:
            converged = True
            break
        if stage and (c_old - c) <= 1e-6 * c_old:
            break
    return x, c, it, converged


def _adam(obj: _Objective, theta, n_active, steps: int, rate: float):
    """Adam (optax) on the first n_active epochs; returns the best θ seen."""
    opt = optax.adam(rate)
    theta = jnp.asarray(theta)
    state = opt.init(theta)
    best, best_c = np.asarray(theta), np.inf
    for _ in range(steps):
        c, g, _ = obj.at_theta(np.asarray(theta), n_active)
        if not np.isfinite(c):
            break
        if c < best_c:
            best, best_c = np.asarray(theta), c
        updates, state = opt.update(jnp.asarray(g), state, theta)
        theta = optax.apply_updates(theta, updates)
    return best


def psd_range(sigma: np.ndarray, J: np.ndarray) -> tuple[float, float]:
    """The interval of t for which Σ + tJ stays positive semi-definite."""
    lam, vec = np.linalg.eigh(sigma)
    lam = np.maximum(lam, 1e-12 * max(float(lam[-1]), 1e-300))
    root = vec / np.sqrt(lam)
    mu = np.linalg.eigvalsh(root.T @ J @ root)
    hi = -1.0 / mu[0] if mu[0] < 0 else np.inf
    lo = -1.0 / mu[-1] if mu[-1] > 0 else -np.inf
    span = 10.0 * max(float(np.max(np.abs(sigma))), 1e-12)
    return max(lo, -span), min(hi, span)


def _line_search(obj: _Objective, coords, direction):
    """Minimise C along σ + t·direction inside the PSD cone (9-point grid, golden section)."""
    P, E = obj.P, obj.E
    direction = np.asarray(direction, dtype=np.float64)
    J = np.asarray(sym_from_coords(jnp.asarray(direction), P))
    lo, hi = psd_range(np.asarray(sym_from_coords(jnp.asarray(coords), P)), J)
    lo, hi = 0.999 * lo, 0.999 * hi

    def cost(t):
        return obj.at_sigma(coords + t * direction, E)[0]

    grid = np.sort(np.r_[np.linspace(lo, hi, 9), 0.0])
    values = np.array([cost(t) for t in grid])
    k = int(np.argmin(values))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    gold = (np.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = b - gold * (b - a), a + gold * (b - a)
    f1, f2 = cost(x1), cost(x2)
    for _ in range(20):
        if f1 <= f2:
            b, x2, f2 = x2, x1, f1
            x1 = b - gold * (b - a)
            f1 = cost(x1)
        else:
            a, x1, f1 = x1, x2, f2
            x2 = a + gold * (b - a)
            f2 = cost(x2)
    best = min([(values[k], grid[k]), (f1, x1), (f2, x2)])[1]
    return coords + best * direction


def fit_sigma0(model, y, weight, P: int, settings: RevealSettings = RevealSettings(),
               *, dtype=jnp.float64, starts=None, flow_directions=(),
               record: list | None = None, on_restart=None) -> list[FitRun]:
    """Fit Σ₀ (P, P) to observations `y` (E, m) with weights 1/sd `weight` (E, m).

    Args:
        model: `observation_model(...)`: f(sigma0, n_active) -> (E, m).
        starts: optional (k, P, P) positive-definite starts used instead of random ones.
        flow_directions: (k, D) directions of the distinct overlaps along which the objective
            is nearly flat (the conserved forms of a linear network); each polished restart
            is first minimised along them by a line search.
        record: a list that receives each `FitRun` as it finishes; on Ctrl-C (KeyboardInterrupt,
            re-raised) also the restart in progress, `interrupted=True`, if it had evaluated
            the objective on all observations. What an interrupted fit leaves.
        on_restart: called with each `FitRun` as it finishes (progress reports).

    Returns:
        one `FitRun` per restart, in restart order (the estimate is the polished run of least
        `fit_loss`).
    """
    obj = _Objective(model, y, weight, P, dtype)
    sizes = stage_sizes(obj.E)
    c_ref = 0.5 * float(np.sum((np.asarray(y) * np.asarray(weight)) ** 2))
    if starts is None:
        starts = [random_start(P, settings.seed, i) for i in range(settings.restarts)]
    runs: list[FitRun] = [] if record is None else record
    try:
        return _restarts(obj, starts, sizes, settings, flow_directions, c_ref, runs, on_restart)
    except KeyboardInterrupt:
        i = len(runs)
        c, coords = obj.best
        if coords is not None and i < len(starts):
            runs.append(FitRun(restart=i, sigma_start=np.asarray(starts[i], np.float64),
                               sigma0=np.asarray(sym_from_coords(jnp.asarray(coords), P)),
                               fit_loss=float(c), iterations=obj.iterations, converged=False,
                               polished=False, interrupted=True))
        raise


def _restarts(obj: _Objective, starts, sizes, settings: RevealSettings, flow_directions,
              c_ref: float, runs: list, on_restart=None) -> list[FitRun]:
    """The restarts of `fit_sigma0`, appended to `runs` as each finishes."""
    P, E = obj.P, obj.E
    best_staged = np.inf
    for i, start in enumerate(starts):
        _interrupt.check()
        obj.forget()
        start = np.asarray(start, np.float64)
        theta, c, total = _continuation(obj, start, sizes, settings)
        best_staged = min(best_staged, c)
        coords = np.asarray(coords_from_sym(obj.sigma_of_theta(theta)))
        polish = bool(np.isfinite(c) and c <= 100.0 * best_staged)
        ok = False
        if polish:
            for direction in flow_directions:
                coords = _line_search(obj, coords, direction)
            coords, c, k, ok = _levenberg_marquardt(
                lambda x: obj.at_sigma(x, E), coords, iters=settings.final_iters,
                xtol=settings.xtol, stage=False, lam=1e-6, rtol=settings.rtol, P=P,
                tick=obj.tick)
            total += k
        runs.append(FitRun(restart=i, sigma_start=start,
                           sigma0=np.asarray(sym_from_coords(jnp.asarray(coords), P)),
                           fit_loss=float(c) if np.isfinite(c) else float("nan"),
                           iterations=total, converged=bool(ok and np.isfinite(c)),
                           polished=polish))
        obj.forget()  # this restart is recorded whole
        if on_restart is not None:
            on_restart(runs[-1])
        if agreeing_runs(runs, c_ref) >= settings.agree or (
                polish and np.isfinite(c) and c <= 1e-20 * c_ref):
            break  # found twice, or an exact fit (nothing lower exists)
    return runs


def agreeing_runs(runs: list[FitRun], c_ref: float) -> int:
    """How many polished runs reached the least objective (to 1e-6 of it, or 1e-14 of C_ref)."""
    costs = [r.fit_loss for r in runs if r.polished and np.isfinite(r.fit_loss)]
    if not costs:
        return 0
    best = min(costs)
    return sum(1 for c in costs if c - best <= 1e-6 * best + 1e-14 * c_ref)


def _continuation(obj: _Objective, start, sizes, settings: RevealSettings):
    """Adam on the first prefix, then Levenberg–Marquardt on growing prefixes, in θ."""
    P, E = obj.P, obj.E
    L = np.linalg.cholesky(start + 1e-12 * np.trace(start) / P * np.eye(P))
    theta = L[obj.tri]
    total = 0
    if settings.adam_steps:
        theta = _adam(obj, theta, sizes[0], settings.adam_steps, settings.adam_rate)
    c = np.inf
    for n_active in sizes:
        mu = 0.0
        if n_active < E:
            _, _, H = obj.at_theta(theta, n_active)
            mu = settings.prox * float(np.trace(H)) / obj.D if np.all(np.isfinite(H)) else 0.0
        anchor = np.array(theta)
        theta, c, k, _ = _levenberg_marquardt(
            lambda t, n=n_active, a=anchor, m=mu: obj.at_theta(t, n, a, m), theta,
            iters=settings.stage_iters, xtol=settings.xtol, stage=True, tick=obj.tick)
        total += k
    return theta, c, total
