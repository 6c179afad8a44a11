"""Reveal a network's initial overlaps Σ₀ — invisible ones included — from how it learns.

docs/theory.md §10. Two networks with equal loss-visible overlaps compute the same function,
so no input–output experiment on the untrained network can tell their invisible overlaps
apart. Learning can: the visible overlaps move at speeds set by the whole of Σ (the metric
G(Σ), §4.5), so the loss curve, or the outputs at a few epochs of learning, depend on the
invisible overlaps too. `reveal` inverts that dependence:

1. a forward model (`observation_model`): Σ₀ → the exact overlap map of plain gradient descent
   → the observations (the loss curve, or outputs on a fixed probe input) at the observed epochs;
2. a least-squares fit of Σ₀ = L Lᵀ (`fit_sigma0`: Adam, continuation in the horizon,
   Levenberg–Marquardt, seeded restarts);
3. the Fisher information of the observations about the distinct overlaps at the estimate,
   its numerical rank, the locally identifiable overlaps with Cramér–Rao standard errors, the
   null and weak directions in words (`fisher`), and the exact symmetries that no observation
   of learning can resolve (`symmetry`).

Local is not global (docs/theory.md §10.3–§10.4): the Fisher information says that no
*nearby* Σ₀ fits as well, but an exact symmetry A maps the estimate to AᵀΣ̂₀A, far away and
exactly as consistent with the observations. An overlap that such an image changes is
reported as determined only up to that symmetry, with the alternative value
(`RevealResult.determined_up_to`), and is not called identifiable: `identifiable` means
locally identifiable *and* unchanged by every exact symmetry.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np

from .._analysis.invariants import conserved_forms
from .._analysis.visibility import visible_mask
from .._model.network import NetworkSpec
from .._model.overlaps import overlap_names, overlap_pairs
from .._model.tasks import check_task_for
from .._support.errors import ConfigError
from .._support.precision import check_float64
from .fisher import describe_direction, fisher_information, identifiability
from .fit import FitRun, RevealSettings, agreeing_runs, fit_sigma0, psd_range
from .model import coords_from_sym, observation_model, sym_from_coords
from .observations import Observations
from .symmetry import align, confirmed_symmetries

__all__ = ["CHANGE_RTOL", "RevealInterrupted", "RevealResult", "interrupted_summary", "reveal",
           "reveal_summary", "symmetry_alternatives"]

#: An exact symmetry changes an overlap of the estimate when it moves it by more than this
#: fraction of the estimate's largest |σ_ij| (an entry it only permutes onto an equal one, or
#: flips at zero, is unchanged).
CHANGE_RTOL = 1e-9


class RevealInterrupted(KeyboardInterrupt):
    """Ctrl-C during `reveal`: what the fit had done (`runs`: the finished restarts and the
    one in progress, `FitRun.interrupted`; empty when nothing was fitted yet)."""

    def __init__(self, runs: list, settings):
        super().__init__("reveal interrupted")
        self.runs = list(runs)
        self.settings = settings


@dataclass(frozen=True)
class RevealResult:
    """The outcome of `reveal` (docs/theory.md §10).

    Attributes:
        spec: the network.
        names: the P vector names (the order of sigma0's rows).
        overlap_names: the D distinct overlaps (`overlap_pairs` order).
        sigma0: (P, P) the estimate.
        fit_loss: its objective ½ Σ ((f − y)/sd)².
        runs: every restart (`FitRun`).
        sd: (E, m) the noise sd used for the Fisher information; sd_source "given" or
            "estimated" (√(2·fit_loss/(n − r)) when the observations carry no sd).
        fisher: (D, D) F = Jᵀ W J at the estimate; info: `identifiability(F)` (its
            "identifiable" is the local criterion: `locally_identifiable`).
        null_directions, weak_directions: [{"overlaps": {name: coef}, "text"}].
        symmetries: [{"name", "text", "changes": [overlap names]}] exact, confirmed.
        determined_up_to: {overlap name: [{"symmetry", "value"}]}: the values the confirmed
            exact symmetries map this overlap of the estimate to, where they change it
            (`symmetry_alternatives`; value None: a continuous symmetry); [] where none does.
        fitted: (E, m) the model's observations at the estimate; observed: `Observations`.
        wall_s: seconds.
    """

    spec: NetworkSpec
    names: tuple
    overlap_names: tuple
    sigma0: np.ndarray = field(repr=False)
    fit_loss: float
    runs: list = field(repr=False)
    sd: np.ndarray = field(repr=False)
    sd_source: str
    fisher: np.ndarray = field(repr=False)
    info: dict = field(repr=False)
    null_directions: list = field(repr=False)
    weak_directions: list = field(repr=False)
    symmetries: list = field(repr=False)
    fitted: np.ndarray = field(repr=False)
    observed: Observations = field(repr=False)
    settings: RevealSettings = field(repr=False)
    max_sd: float = 0.0
    agreeing: int = 1
    exact_fit: bool = False
    wall_s: float = 0.0
    determined_up_to: dict = field(default_factory=dict, repr=False)

    @property
    def locally_identifiable(self) -> dict:
        """{name: bool}: no nearby Σ₀ fits as well (the Fisher criterion, docs/theory.md §10.3)."""
        return dict(zip(self.overlap_names, (bool(b) for b in self.info["identifiable"])))

    @property
    def identifiable(self) -> dict:
        """{name: bool}: locally identifiable and changed by no exact symmetry: the
        observations fix this overlap to its estimate (given the fit is the global minimum)."""
        return {n: ok and not self.determined_up_to.get(n)
                for n, ok in self.locally_identifiable.items()}

    @property
    def stderr(self) -> dict:
        return {n: (float(s) if np.isfinite(s) else None)
                for n, s in zip(self.overlap_names, self.info["stderr"])}

    def aligned(self, reference) -> np.ndarray:
        """The estimate's image under the exact symmetries closest to `reference` (P, P) in
        the locally identifiable overlaps."""
        return align(self.sigma0, np.asarray(reference, np.float64), self.spec,
                     [s for s in self.symmetries if "A" in s],
                     mask=self.locally_identifiable_mask)

    @property
    def locally_identifiable_mask(self) -> np.ndarray:
        """(P, P) bool: the locally identifiable overlaps, both triangles."""
        P = self.spec.P
        mask = np.zeros((P, P), bool)
        iu = np.triu_indices(P)
        mask[iu] = self.info["identifiable"]
        return mask | mask.T


def _flow_directions(spec: NetworkSpec) -> list[np.ndarray]:
    """Distinct-overlap directions of the conserved forms J (Σ₀ + tJ: a gradient-flow symmetry)."""
    return [np.asarray(coords_from_sym(np.asarray(J))) for J in conserved_forms(spec)]


def _rotation_directions(spec: NetworkSpec, sigma) -> list[np.ndarray]:
    """δσ of the infinitesimal O(R) rotations of (U, V) together, at Σ (R ≥ 2; none for R = 1)."""
    out = []
    R = spec.rank
    for a in range(R):
        for b in range(a + 1, R):
            K = np.zeros((R, R))
            K[a, b], K[b, a] = 1.0, -1.0
            Om = np.zeros((spec.P, spec.P))
            Om[spec.u, spec.u] = K
            Om[spec.v, spec.v] = K
            out.append(np.asarray(coords_from_sym(Om.T @ sigma + sigma @ Om)))
    return out


def _known(vec, families: list[tuple[list[np.ndarray], str]], tol: float) -> str | None:
    """The sentence of the first family whose span contains `vec` (to `tol`), else None."""
    v = np.asarray(vec) / np.linalg.norm(vec)
    for dirs, text in families:
        if not dirs:
            continue
        Q = np.linalg.qr(np.stack(dirs, axis=1))[0]
        if np.linalg.norm(v - Q @ (Q.T @ v)) <= tol:
            return text
    return None


def _bound_null_directions(info: dict, sigma0, max_sd) -> dict:
    """Add `null_bound` (D,): how far each overlap can move along the null directions.

    Along a null direction v the observations do not fix the estimate, which may sit anywhere
    in the PSD range of Σ₀ + t·V (V the symmetric matrix of v). An overlap with a component
    v_i on it is then uncertain by up to |v_i|·max|t|; summed over the null directions, that is
    `null_bound`. An overlap counts as identifiable only when that bound, too, is ≤ max_sd.
    """
    P = sigma0.shape[0]
    D = info["eigenvectors"].shape[0]
    bound = np.zeros(D)
    for k in range(info["rank"], D):
        v = info["eigenvectors"][:, k]
        lo, hi = psd_range(sigma0, np.asarray(sym_from_coords(v, P)))
        bound += np.abs(v) * max(abs(lo), abs(hi))
    ident = info["identifiable"] & (bound <= (max_sd if max_sd is not None else np.inf))
    return {**info, "null_bound": bound, "identifiable": ident,
            "stderr": np.where(ident, info["stderr"], np.nan)}


def _changes(spec: NetworkSpec, A: np.ndarray, names) -> list[str]:
    """The overlaps that an orthogonal A changes in a generic Σ."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3 * spec.P, spec.P))
    sigma = X.T @ X
    diff = np.abs(coords_from_sym(A.T @ sigma @ A) - coords_from_sym(sigma))
    return [n for n, d in zip(names, diff) if d > 1e-9 * np.abs(sigma).max()]


def symmetry_alternatives(sigma0, symmetries: list[dict], names) -> dict[str, list[dict]]:
    """The values each exact symmetry maps each overlap of the estimate to, where it changes it.

    Args:
        sigma0: (P, P) the estimate; names: the D overlap names (`overlap_pairs` order).
        symmetries: the confirmed symmetries ({"name", "A" (P, P)} discrete, or {"name",
            "changes"} continuous, without "A").

    Returns:
        {name: [{"symmetry", "value"}]}, one entry per element of the group the discrete
        symmetries generate (identity excluded; a product is named "a+b": both applied) that
        moves σ_name by more than CHANGE_RTOL·max|σ_ij|, value (AᵀΣ̂₀A)_name; and one entry
        {"symmetry": name, "value": None} per continuous symmetry that changes it.
    """
    sigma0 = np.asarray(sigma0, np.float64)
    P = sigma0.shape[0]
    coords = np.asarray(coords_from_sym(sigma0))
    tol = CHANGE_RTOL * max(float(np.max(np.abs(sigma0))), 1e-300)
    out = {n: [] for n in names}
    discrete = [(s["name"], np.asarray(s["A"])) for s in symmetries if "A" in s]
    for k in range(1, len(discrete) + 1):
        for combo in itertools.combinations(discrete, k):
            A = np.eye(P)
            for _, g in combo:
                A = A @ g
            alt = np.asarray(coords_from_sym(A.T @ sigma0 @ A))
            label = "+".join(name for name, _ in combo)
            for n, a, c in zip(names, alt, coords):
                if abs(a - c) > tol:
                    out[n].append({"symmetry": label, "value": float(a)})
    for sym in symmetries:
        if "A" not in sym:
            for n in sym.get("changes", []):
                out[n].append({"symmetry": sym["name"], "value": None})
    return out


#: A direction counts as identified when its Cramér–Rao standard deviation is at most this
#: fraction of the overlap scale √(mean σ_aa²) of the estimate (docs/theory.md §10).
MAX_SD_REL = 0.1


def reveal(spec: NetworkSpec, task, observations: Observations, *, loss_kind: str, eta: float,
           seed: int = 0, settings: RevealSettings = RevealSettings(), starts=None,
           max_sd_rel: float = MAX_SD_REL, on_restart=None) -> RevealResult:
    """Estimate Σ₀ (P, P) from observations of learning, with its identifiability.

    Args:
        spec, task, loss_kind, eta: the network, its task, loss and GD learning rate (θ-space
            step N·η; in overlap space the exact map, docs/theory.md §4.2).
        observations: `check_observations(...)`.
        seed: the batch seed (epoch e learns on `batch_for_epoch(task, seed, e)`).
        settings: the fit (`RevealSettings`); starts: optional (k, P, P) starts.
        max_sd_rel: a direction of the overlaps is identified when its Cramér–Rao standard
            deviation is at most max_sd_rel × √(mean σ_aa²) of the estimate.
        on_restart: called with each restart's `FitRun` as it finishes (progress reports).

    Returns:
        `RevealResult`. Float64 throughout (JAX's 64-bit mode must be on).

    Raises:
        RevealInterrupted: on Ctrl-C (a KeyboardInterrupt), with the restarts done so far.
    """
    check_float64(jnp.float64, "reveal")
    check_task_for(task, spec)
    record: list[FitRun] = []
    try:
        return _reveal(spec, task, observations, loss_kind=loss_kind, eta=eta, seed=seed,
                       settings=settings, starts=starts, max_sd_rel=max_sd_rel, record=record,
                       on_restart=on_restart)
    except RevealInterrupted:
        raise
    except KeyboardInterrupt:
        raise RevealInterrupted(record, settings) from None


def _reveal(spec, task, observations, *, loss_kind, eta, seed, settings, starts, max_sd_rel,
            record, on_restart) -> RevealResult:
    t0 = time.perf_counter()
    model = observation_model(spec, task, loss_kind=loss_kind, eta=eta, seed=seed,
                              epochs=observations.epochs, kind=observations.kind,
                              probe_x=observations.probe_x)
    y = observations.flat
    given = observations.sd is not None
    weight = 1.0 / observations.sd.reshape(y.shape) if given else np.ones_like(y)
    flow = _flow_directions(spec)
    runs = fit_sigma0(model, y, weight, spec.P, settings, starts=starts, flow_directions=flow,
                      record=record, on_restart=on_restart)
    polished = [r for r in runs if r.polished and np.isfinite(r.fit_loss)]
    if not polished:
        raise ConfigError("reveal: every restart diverged (the learning of every candidate "
                          "blew up); check eta and the observations, or give more restarts")
    best = min(polished, key=lambda r: r.fit_loss)
    sigma0 = best.sigma0
    c_ref = 0.5 * float(np.sum((y * weight) ** 2))
    agreeing = agreeing_runs(runs, c_ref)
    exact_fit = bool(best.fit_loss <= 1e-20 * c_ref)
    F, J = fisher_information(model, sigma0, weight)
    names = overlap_names(spec)
    max_sd = max_sd_rel * float(np.sqrt(np.mean(np.diag(sigma0) ** 2)))
    info = identifiability(J, names, max_sd=max_sd)
    fitted = np.asarray(model.jit(sigma0))
    if given:
        sd = observations.sd.reshape(y.shape)
        source = "given"
    else:  # unknown noise: the residual standard deviation, F and the errors rescaled
        dof = max(y.size - info["rank"], 1)
        s = float(np.sqrt(max(2.0 * best.fit_loss, 0.0) / dof))
        s = max(s, 1e-300)
        sd = np.full(y.shape, s)
        F, J = F / s**2, J / s
        info = identifiability(J, names, max_sd=max_sd)
        source = "estimated"
    info = _bound_null_directions(info, sigma0, max_sd)
    coords = np.asarray(coords_from_sym(sigma0))
    top = max(float(info["singular"][0]), 1e-300)
    rotations = _rotation_directions(spec, sigma0)
    families = [
        (rotations, "the rotations of the (u, v) pairs together (U Vᵀ unchanged): an exact "
                    "symmetry, no observation can fix it"),
        (flow, "the shift of Σ₀ by a conserved form J (docs/theory.md §6): an exact symmetry "
               "of gradient flow, seen only through the O(η²) term of discrete steps"),
    ]
    null_dirs = [describe_direction(v, names, coords, known=_known(v, families, 1e-6))
                 for v in info["null"]]
    weak_dirs = []
    for v in info["weak"]:
        rel = float(np.linalg.norm(J @ v)) / top
        weak_dirs.append(describe_direction(v, names, coords, weak=True, rel_info=rel,
                                            known=_known(v, families[1:], 1e-2)))
    symmetries = []
    for sym in confirmed_symmetries(spec, model.jit, sigma0):
        symmetries.append({**sym, "changes": _changes(spec, sym["A"], names)})
    if spec.rank > 1:
        symmetries.append({"name": "rotation_uv", "text": f"U, V → UQ, VQ for Q ∈ O({spec.rank}) "
                           "(U Vᵀ unchanged): continuous, the null directions it spans",
                           "changes": [n for n, d in zip(names, np.abs(np.sum(rotations, 0)))
                                       if d > 1e-12]})
    determined_up_to = symmetry_alternatives(sigma0, symmetries, names)
    return RevealResult(
        spec=spec, names=tuple(spec.vector_names), overlap_names=tuple(names), sigma0=sigma0,
        fit_loss=best.fit_loss, runs=runs, sd=sd, sd_source=source, fisher=F, info=info,
        null_directions=null_dirs, weak_directions=weak_dirs, symmetries=symmetries,
        fitted=fitted, observed=observations, settings=settings, max_sd=max_sd,
        agreeing=agreeing, exact_fit=exact_fit, wall_s=time.perf_counter() - t0,
        determined_up_to=determined_up_to)


def _run_summary(run: FitRun, result: RevealResult) -> dict:
    aligned = align(run.sigma0, result.sigma0, result.spec,
                    [s for s in result.symmetries if "A" in s],
                    mask=result.locally_identifiable_mask)
    ident = result.info["identifiable"]
    diff = np.abs(coords_from_sym(aligned - result.sigma0))[ident]
    return {"restart": run.restart, "fit_loss": run.fit_loss, "polished": run.polished,
            "converged": run.converged, "iterations": run.iterations,
            "max_difference_to_estimate": float(diff.max()) if diff.size else 0.0}


def reveal_summary(result: RevealResult, truth=None) -> dict:
    """The JSON-able record of a `RevealResult` (reveal.json; with `truth` (P, P) its errors)."""
    info = result.info
    spec = result.spec
    vis = visible_mask(spec)
    pairs = overlap_pairs(spec)
    out = {
        "names": list(result.names),
        "overlap_names": list(result.overlap_names),
        "visible": {n: bool(vis[i, j]) for n, (i, j) in zip(result.overlap_names, pairs)},
        "sigma0": result.sigma0,
        "overlaps": dict(zip(result.overlap_names,
                             (float(v) for v in coords_from_sym(result.sigma0)))),
        "stderr": result.stderr,
        "null_bound": dict(zip(result.overlap_names, (float(b) for b in result.info["null_bound"]))),
        "identifiable": result.identifiable,
        "locally_identifiable": result.locally_identifiable,
        "determined_up_to": result.determined_up_to,
        "fisher_rank": int(info["rank"]),
        "fisher_dim": len(result.overlap_names),
        "fisher_singular_values": info["singular"],
        "fisher_eigenvalues": info["eigenvalues"],
        "fisher_eigenvectors": info["eigenvectors"],
        "fisher": result.fisher,
        "null_directions": result.null_directions,
        "weak_directions": result.weak_directions,
        "symmetries": [{k: v for k, v in s.items() if k != "A"} for s in result.symmetries],
        "fit_loss": result.fit_loss,
        "observation": result.observed.kind,
        "n_observations": int(result.observed.values.size),
        "epochs": result.observed.epochs,
        "sd_source": result.sd_source,
        "sd": float(np.median(result.sd)),
        "max_sd": result.max_sd,
        "restarts": [_run_summary(r, result) for r in result.runs],
        "agreeing_restarts": result.agreeing,
        "exact_fit": result.exact_fit,
        "global_minimum_confirmed": bool(result.exact_fit
                                         or result.agreeing >= result.settings.agree),
        "seed": result.settings.seed,
        "settings": {k: getattr(result.settings, k) for k in result.settings.__dataclass_fields__},
        "wall_s": result.wall_s,
        "interrupted": False,
        "definitions": {
            "fisher": "F = Jᵀ diag(1/sd²) J, J = ∂(observations)/∂(distinct overlaps of Σ₀)",
            "fisher_rank": "number of singular values of the weighted Jacobian W^½J above "
                           "1e-8 of the largest (F = JᵀWJ = V diag(s²) Vᵀ)",
            "stderr": "√(e_iᵀ F_r⁺ e_i), F_r⁺ = Σ_{k ≤ rank} v_k v_kᵀ / s_k²: the local "
                      "Cramér–Rao bound of σ_i, around the estimate and around each of its "
                      "symmetric images alike (null where not locally identifiable)",
            "locally_identifiable": "e_i in the span of the fisher_rank leading directions "
                                    "(to 1e-3), stderr ≤ max_sd = 0.1·√(mean σ_aa²) of the "
                                    "estimate, and null_bound ≤ max_sd: no nearby Σ₀ fits as "
                                    "well; says nothing about distant ones",
            "determined_up_to": "per overlap, [{symmetry, value}]: each element of the group "
                                "of confirmed exact symmetries (\"a+b\": both applied) that "
                                "changes this overlap of the estimate, and the value it maps "
                                "it to — a distant Σ₀ exactly as consistent with the "
                                "observations (value null: a continuous symmetry)",
            "identifiable": "locally_identifiable and determined_up_to empty: the "
                            "observations fix σ_i to its estimate (± stderr), provided the "
                            "fit found the global minimum",
            "null_bound": "Σ over null directions v of |v_i|·max|t|, t over the PSD range of "
                          "Σ₀ + t·V: how far σ_i can move along what the observations do not fix",
            "symmetries": "exact: Σ₀ and AᵀΣ₀A give the same observations at every epoch",
        },
    }
    if truth is not None:
        truth = np.asarray(truth, np.float64)
        aligned = result.aligned(truth)
        err = coords_from_sym(aligned - truth)
        local = np.asarray(info["identifiable"], bool)
        ident = np.array([result.identifiable[n] for n in result.overlap_names], bool)
        out["truth"] = {
            "sigma0": truth,
            "aligned_estimate": aligned,
            "error": dict(zip(result.overlap_names, (float(e) for e in err))),
            "max_error_identifiable": float(np.max(np.abs(err[ident]))) if ident.any() else None,
            "max_error_locally_identifiable": (float(np.max(np.abs(err[local])))
                                               if local.any() else None),
        }
        out["definitions"]["truth"] = (
            "aligned_estimate: the image of the estimate under the exact symmetries closest to "
            "the truth on the locally identifiable overlaps; error = aligned − truth, its "
            "largest |·| over the identifiable and over the locally identifiable overlaps")
    return out


def interrupted_summary(spec: NetworkSpec, interrupted: RevealInterrupted,
                        observations: Observations) -> dict | None:
    """The reveal.json record of an interrupted `reveal`: the best fit so far, marked as such.

    Nothing is assessed (no Fisher information, no symmetries, no identifiability): the
    record says what was fitted, not what the observations determine. None when no restart
    had evaluated the objective on all observations (nothing fitted).
    """
    runs = [r for r in interrupted.runs if np.isfinite(r.fit_loss)]
    if not runs:
        return None
    best = min(runs, key=lambda r: r.fit_loss)
    names = overlap_names(spec)
    settings = interrupted.settings
    done = sum(1 for r in interrupted.runs if not r.interrupted)
    return {
        "interrupted": True,
        "names": list(spec.vector_names),
        "overlap_names": list(names),
        "sigma0": best.sigma0,
        "overlaps": dict(zip(names, (float(v) for v in coords_from_sym(best.sigma0)))),
        "fit_loss": best.fit_loss,
        "best_restart": best.restart,
        "restarts_completed": done,
        "iterations": int(sum(r.iterations for r in interrupted.runs)),
        "restarts": [{"restart": r.restart, "fit_loss": r.fit_loss, "polished": r.polished,
                      "converged": r.converged, "iterations": r.iterations,
                      "interrupted": r.interrupted} for r in interrupted.runs],
        "observation": observations.kind,
        "n_observations": int(observations.values.size),
        "epochs": observations.epochs,
        "seed": settings.seed,
        "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
        "assessed": False,
        "note": (f"interrupted after {done} finished restart(s) of at most "
                 f"{settings.restarts}: sigma0 is the least objective reached so far "
                 f"(restarts[{best.restart}]{', unfinished' if best.interrupted else ''}); it may "
                 "not be the global minimum, and what the observations determine (Fisher "
                 "information, exact symmetries, identifiability) was not assessed"),
    }
