"""Reveal: two networks with identical outputs told apart by how they learn (docs/theory.md §10).

The degeneracy twins of the paper's Figure 2 (`degeneracy.twin_pair`): the Figure-1 start Σ₀
(random unit-norm vectors, N = 500, rank-1 linear) and its twin Σ₁ with the invisible
σ_uu = 32²/500 ≈ 2.05 and σ_mu = 0.8, everything else equal. Their outputs on any input are the
same, so no experiment on the untrained networks can tell them apart. Here an observer watches
each N-dimensional network learn the Figure-1 task by plain GD (θ-space, step N·η), records its
outputs on the impulse input every `observe_every` epochs up to `observe_epochs`, with Gaussian
observation noise of sd `noise_sd`, and hands these to `reveal` (the exact overlap map fitted
by least squares, docs/theory.md §10), which returns Σ₀ with Cramér–Rao standard errors.

Checks (numbers in summary.json): the twins' outputs before learning agree to 1e-12 and differ
during learning by far more than the noise; each fit is as good as the noise allows
(2·objective / #observations near 1); every locally identifiable overlap of the estimate's
image under the exact symmetries closest to the truth lies within 4.5 standard errors of it;
the twins are told apart; the locally identifiable overlaps of the linear network are the six
cross overlaps (the self-overlaps sit on the conserved-form shift, which gradient flow cannot
see: docs/theory.md §10).

Local is not global (docs/theory.md §10.3–§10.4): the outputs of a single-input single-output
linear network are those of its dual (m ↔ z, u ↔ v) and of its sign image (u, v → −u, −v), so of
the cross overlaps only σ_zm and σ_vu are fixed globally; σ_mu, σ_vm, σ_zu, σ_zv only up to
these exact symmetries (summary.json: `identifiable`, `determined_up_to`). The comparisons with
the truth, and between the twins, are made between symmetric images.

Differences from the paper: the paper shows that the twins learn differently; inverting that
difference is this project's addition.
"""

from __future__ import annotations

import numpy as np

from .. import (
    NetworkSpec,
    RevealSettings,
    batch_for_epoch,
    check_observations,
    network_outputs,
    overlap_names,
    overlaps,
    reveal,
    train_theta,
    visible_mask,
)
from ..internal import align, coords_from_sym
from ._common import Check, Experiment, Outcome, impulse_task, register
from ._reveal_draw import draw_reveal
from .degeneracy import twin_pair

__all__ = ["compute", "observe_learning"]

DEFAULTS = dict(N=500, dt=0.05, t_max=20.0, decay=0.2, eta=5e-3, twin_uu=32.0**2 / 500,
                twin_mu=0.8, observe_every=25, observe_epochs=300, noise_sd=1e-4, restarts=8)
QUICK = dict(N=100, t_max=10.0, observe_epochs=150, restarts=4)


def observe_learning(X0, task, spec: NetworkSpec, *, eta: float, epochs, x):
    """Outputs (E, B, T, n_out) of the N-dim network on input x at the given epochs of plain GD.

    The network is trained in θ-space from X0 (`train_theta`, step N·η) between observed epochs
    (the task is deterministic, so the segments are one run); epoch e: after e updates.
    """
    out, X, done = [], X0, 0
    for e in epochs:
        if e > done:
            X = train_theta(X, task, spec, eta=eta, epochs=int(e - done)).state[0]
            done = int(e)
        out.append(np.asarray(network_outputs(X, x, spec)))
    return np.stack(out)


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """Both twins: θ-space learning observed with noise, then `reveal` on each.

    Returns arrays: epochs (E,), y_{0,1} (E, B, T, 1) noisy observations, clean_{0,1} the
    noise-free outputs, fitted_{0,1}, sigma_true_{0,1} and sigma_hat_{0,1} (P, P, the estimate
    aligned by the exact symmetries to the truth), stderr_{0,1} (D,) (nan: not locally
    identifiable), locally_identifiable_{0,1} (D,), identifiable_{0,1} (D,) (locally, and
    changed by no exact symmetry), names (D,), visible (D,).
    """
    spec = NetworkSpec(N=int(params["N"]), rank=1, phi="linear", dt=float(params["dt"]))
    task = impulse_task("impulse_exp", dt=spec.dt, t_max=params["t_max"], decay=params["decay"])
    sigmas = twin_pair(spec, seed=seed, twin_uu=params["twin_uu"], twin_mu=params["twin_mu"])
    Xs = sigmas[2:]
    epochs = np.arange(0, int(params["observe_epochs"]), int(params["observe_every"]))
    x = np.asarray(batch_for_epoch(task, seed, 0).x)
    sd = float(params["noise_sd"])
    rng = np.random.default_rng(seed + 7)
    names = overlap_names(spec)
    arrays = {"epochs": epochs, "names": np.array(names, dtype=str)}
    results, clean = [], []
    for k, X in enumerate(Xs):
        y = observe_learning(X, task, spec, eta=params["eta"], epochs=epochs, x=x)
        noisy = y + sd * rng.standard_normal(y.shape)
        obs = check_observations({"epochs": epochs, "outputs": noisy, "sd": np.array(sd)},
                                 spec, task, seed)
        res = reveal(spec, task, obs, loss_kind="sum_dt", eta=params["eta"], seed=seed,
                     settings=RevealSettings(restarts=int(params["restarts"]), seed=seed))
        truth = np.asarray(overlaps(X))
        results.append(res)
        clean.append(y)
        arrays[f"y_{k}"] = noisy
        arrays[f"clean_{k}"] = y
        arrays[f"fitted_{k}"] = res.fitted.reshape(y.shape)
        arrays[f"sigma_true_{k}"] = truth
        arrays[f"sigma_hat_{k}"] = res.aligned(truth)
        arrays[f"stderr_{k}"] = res.info["stderr"]
        arrays[f"locally_identifiable_{k}"] = res.info["identifiable"]
        arrays[f"identifiable_{k}"] = np.array([res.identifiable[n] for n in names])
    vis = visible_mask(spec)
    iu = np.triu_indices(spec.P)
    arrays["visible"] = vis[iu]
    n_obs = clean[0].size
    mu = names.index("mu")
    z_scores, fits = [], []
    for k, res in enumerate(results):
        err = coords_from_sym(arrays[f"sigma_hat_{k}"] - arrays[f"sigma_true_{k}"])
        ident = res.info["identifiable"]
        z_scores.append(float(np.max(np.abs(err[ident]) / res.info["stderr"][ident]))
                        if ident.any() else float("nan"))
        fits.append(2.0 * res.fit_loss / n_obs)
    se_mu = [float(np.sqrt(r.info["covariance"][mu, mu])) for r in results]
    # Told apart without the truth: the twin's estimate aligned to the original's by the exact
    # symmetries (over the overlaps both identify), then the largest difference in units of
    # the combined standard error.
    both = results[0].info["identifiable"] & results[1].info["identifiable"]
    mask = np.zeros((spec.P, spec.P), bool)
    mask[iu] = both
    mask = mask | mask.T
    other = align(results[1].sigma0, results[0].sigma0, spec,
                  [s for s in results[1].symmetries if "A" in s], mask=mask)
    se_both = np.hypot(results[0].info["stderr"], results[1].info["stderr"])
    z_diff = np.abs(coords_from_sym(other - results[0].sigma0)) / se_both
    z_apart = float(np.max(z_diff[both])) if both.any() else float("nan")
    apart_by = names[int(np.nanargmax(np.where(both, z_diff, np.nan)))] if both.any() else ""
    before = float(np.max(np.abs(clean[1][0] - clean[0][0])) / np.max(np.abs(clean[0][0])))
    during = float(np.max(np.abs(clean[1] - clean[0])) / sd)
    cross = {"mu", "vm", "zm", "vu", "zu", "zv"}
    checks = [
        Check.below("before learning: max |y_twin − y| / max |y| (N-dim networks)", before,
                    1e-12),
        Check.above("during learning: max |y_twin − y| in units of the noise sd", during, 100.0),
    ]
    for k, label in enumerate(("original", "twin")):
        # 2C/n of the truth itself is 1 ± √(2/n): five of those
        checks.append(Check.below(f"{label}: fit as good as the noise, |2·objective/#obs − 1|",
                                  abs(fits[k] - 1.0), 5.0 * np.sqrt(2.0 / n_obs)))
        checks.append(Check.below(f"{label}: locally identifiable overlaps within 4.5 standard "
                                  "errors of the truth (max |z|; the estimate's symmetric "
                                  "image closest to it)", z_scores[k], 4.5))
        ident = {n for n, ok in zip(names, results[k].info["identifiable"]) if ok}
        checks.append(Check.equals(f"{label}: the six cross overlaps are locally identifiable "
                                   "(count of them)", len(ident & cross), 6))
    checks.append(Check.above("told apart (no truth used): twin's estimate aligned to the "
                              "original's, max |Δσ| / combined standard error", z_apart, 20.0))
    info = {
        "fit_objective_per_observation": fits,
        "max_abs_z_identifiable": z_scores,
        "sigma_mu": {"original": float(arrays["sigma_hat_0"][0, 1]),
                     "twin": float(arrays["sigma_hat_1"][0, 1]), "stderr": se_mu},
        "told_apart": {"z": z_apart, "by": apart_by,
                       "z_by_overlap": dict(zip(names, (float(z) for z in z_diff)))},
        "locally_identifiable": [[n for n, ok in zip(names, r.info["identifiable"]) if ok]
                                 for r in results],
        "identifiable": [[n for n, ok in r.identifiable.items() if ok] for r in results],
        "determined_up_to": [{n: sorted({e["symmetry"] for e in entries})
                              for n, entries in r.determined_up_to.items() if entries}
                             for r in results],
        "stderr": [r.stderr for r in results],
        "restarts": [len(r.runs) for r in results],
        "fit_seconds": [r.wall_s for r in results],
        "weak_directions": [[d["text"] for d in r.weak_directions] for r in results],
        "null_directions": [[d["text"] for d in r.null_directions] for r in results],
        "symmetries": [[s["name"] for s in r.symmetries] for r in results],
        "definitions": {
            "z": "(estimate − truth) / Cramér–Rao standard error, over the locally "
                 "identifiable overlaps; the estimate aligned to the truth by the exact "
                 "symmetries",
            "identifiable": "locally identifiable and changed by no exact symmetry of the "
                            "observations (determined_up_to: the symmetries that change an "
                            "overlap, whose images fit exactly as well)",
            "told_apart": "the twin's estimate aligned to the original's by the exact "
                          "symmetries (over the overlaps both identify); z = |Δσ| / "
                          "√(se_original² + se_twin²) per overlap, the largest reported",
        },
    }
    seeds = {"init": seed, "realise_original": seed + 1, "realise_twin": seed + 2,
             "observation_noise": seed + 7, "restarts": seed, "task": seed}
    return Outcome(arrays, checks, seeds=seeds, info=info)


register(Experiment("reveal", "Identical twins told apart, and their invisible overlaps "
                    "revealed, by how they learn", DEFAULTS, QUICK, compute, draw_reveal))
