"""Adam leaves the overlap description (docs/theory.md §4, §6, §7).

Rank-1 linear, N = 500, Figure-1 start; targets exp(−c t), c = 0.2, 0.4, 0.2, 0.4, 0.2 with
4000 epochs each, Adam lr 1e-3 in θ-space. Adam acts entry by entry, so it is not a map
X ↦ X A: (i) two networks with the *same* Σ (related by a rotation of R^N) follow different
overlap trajectories under Adam, while GD keeps them identical (and equal to the exact map);
(ii) Adam moves the vectors out of the span of the initial ones; (iii) Adam breaks the
invariant tr(ΣJ) = σ_zz + σ_vv − σ_mm − σ_uu that GD conserves to O(η²).

Reproduces: the paper's Adam experiment (docs/theory.md §7, "Adam" row: the same five-phase
schedule and learning rate). Beyond the paper: the same-Σ pair and the out-of-span fraction
make "leaves overlap space" a measured number. Differences from the paper's code: targets
sampled at (t+1)·dt (docs/theory.md §1); vectors drawn from our seed.
"""

from __future__ import annotations

import numpy as np

from .. import NetworkSpec, overlaps, random_vectors, realise_vectors
from ._adam_draw import draw_adam
from ._common import (
    Check,
    Experiment,
    Outcome,
    check_lengths,
    exact_rel_diff,
    impulse_task,
    keep,
    out_of_span_fraction,
    register,
)
from .fig1 import conserved_quantity, pair_arrays
from .memory import run_sequence

__all__ = ["compute"]

DEFAULTS = dict(N=500, dt=0.05, t_max=20.0, adam_lr=1e-3, eta=5e-3,
                decays=[0.2, 0.4, 0.2, 0.4, 0.2], phase_epochs=[4000] * 5)
QUICK = dict(N=64, phase_epochs=[250] * 5)


def _theta_gd_sequence(X, spec, tasks, epochs, eta, seed, progress):
    from .. import train_theta

    losses, sigmas = [], []
    for k, (task, E) in enumerate(zip(tasks, epochs)):
        res = train_theta(X, task, spec, eta=eta, epochs=int(E), seed=seed, progress=progress,
                          chunk=200)
        X = res.state[0]
        last = k == len(tasks) - 1
        losses.append(res.loss if last else res.loss[:-1])
        sigmas.append(res.sigma if last else res.sigma[:-1])
    return np.concatenate(losses), np.concatenate(sigmas), X


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """Adam on X₀ and on a rotated X₀' (same Σ); θ GD on X₀'; the exact map from Σ₀.

    Returns arrays: epochs, bounds, loss_/sigma_ for adam, adam_rot, gd_theta, exact;
    conserved_<run> (E+1,).
    """
    N = int(params["N"])
    spec = NetworkSpec(N=N, rank=1, phi="linear", dt=float(params["dt"]))
    tasks = [impulse_task("impulse_exp", dt=spec.dt, t_max=params["t_max"], decay=c)
             for c in params["decays"]]
    epochs = [int(e) for e in params["phase_epochs"]]
    X0 = random_vectors(spec, seed=seed)
    sigma0 = np.asarray(overlaps(X0))
    X0r = realise_vectors(sigma0, N, seed=seed + 1)  # same Σ, other vectors (a rotation)
    adam_phases = [(t, e, params["adam_lr"], 0.0) for t, e in zip(tasks, epochs)]
    gd_phases = [(t, e, params["eta"], 0.0) for t, e in zip(tasks, epochs)]
    runs, finals = {}, {}
    for name, X in (("adam", X0), ("adam_rot", X0r)):
        loss, sig, Xf = run_sequence("theta-adam", X, spec, adam_phases, seed=seed,
                                     progress=progress)
        runs[name], finals[name] = (loss, sig), (X, Xf)
        keep(**{f"loss_{name}": loss, f"sigma_{name}": sig})
    loss, sig, Xf = _theta_gd_sequence(X0r, spec, tasks, epochs, params["eta"], seed, progress)
    runs["gd_theta"], finals["gd_theta"] = (loss, sig), (X0r, Xf)
    loss, sig, _ = run_sequence("exact", sigma0, spec, gd_phases, seed=seed, progress=progress)
    runs["exact"] = (loss, sig)
    names, rows, cols, vis = pair_arrays(spec)
    bounds = np.concatenate([[0], np.cumsum(epochs)])
    arrays = {"epochs": np.arange(bounds[-1] + 1), "bounds": bounds, "names": names.astype(str),
              "visible": vis, "rows": rows, "cols": cols,
              "decays": np.asarray(params["decays"], float)}
    drift = {}
    for name, (loss, sig) in runs.items():
        arrays[f"loss_{name}"], arrays[f"sigma_{name}"] = loss, sig
        q = conserved_quantity(sig, spec)
        arrays[f"conserved_{name}"] = q
        drift[name] = float(np.nanmax(np.abs(q - q[0])))
    span = {k: out_of_span_fraction(Xf, Xs) for k, (Xs, Xf) in finals.items()}
    same_sigma = float(np.nanmax(np.abs(runs["adam"][1] - runs["adam_rot"][1])))
    checks = [
        Check.below("GD: θ-space (rotated start) vs exact map, max relative loss difference (loss > 1e-10·L₀)",
                    exact_rel_diff(runs["gd_theta"][0], runs["exact"][0]), 1e-6),
        Check.above("Adam: max |ΔΣ| between two starts with the same Σ", same_sigma, 1e-3),
        Check.above("Adam: fraction of ‖X‖² outside the span of X₀ at the end",
                    span["adam"], 1e-4),
        Check.below("GD (θ): fraction of ‖X‖² outside the span of X₀ at the end",
                    span["gd_theta"], 1e-12),
        Check.above("drift of tr(ΣJ): Adam / GD", drift["adam"] / drift["gd_theta"], 10.0),
    ]
    info = {"invariant_drift": drift, "out_of_span_fraction": span,
            "adam_same_sigma_max_diff": same_sigma,
            "note": "Adam is re-initialised at every phase (train_theta takes no optimizer state)"}
    return Outcome(arrays, checks, seeds={"init": seed, "rotated_start": seed + 1, "task": seed},
                   info=info)


def validate(params: dict, given: set) -> None:
    """One decay per phase."""
    check_lengths("adam", params, "decays", "phase_epochs")


register(Experiment("adam", "Adam in θ-space leaves the overlap description", DEFAULTS, QUICK,
                    compute, draw_adam, validate))
