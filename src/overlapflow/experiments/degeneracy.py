"""Degeneracy: functionally identical twins learn the same task differently (THEORY §5, §7).

From the Figure-1 start Σ₀ build a twin Σ₁ by changing loss-invisible overlaps only — the
paper's σ_uu = 32²/500 ≈ 2.05 and σ_mu = 0.8 — keeping the four visible overlaps
(σ_zm, σ_zu, σ_vm, σ_vu) and every other entry; check Σ₁ is PSD; realise N-dim vectors for
both (THEORY §2). The twins give the same output on any input (float64 precision), yet GD
on the same task moves them along different loss curves.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._network import NetworkSpec, network_outputs, random_vectors
from .._overlap_learning import learn_overlaps
from .._overlaps import overlaps, realise_vectors
from .._theta import train_theta
from .._twins import equivalent_twin
from ._common import (
    Check,
    Experiment,
    Outcome,
    exact_rel_diff,
    impulse_task,
    max_rel_diff,
    register,
)
from ._figures import draw_degeneracy
from .fig1 import pair_arrays

__all__ = ["compute"]

DEFAULTS = dict(N=500, dt=0.05, t_max=20.0, decay=0.2, eta=5e-3, epochs=2000,
                twin_uu=32.0**2 / 500, twin_mu=0.8, probe_batch=4)
QUICK = dict(N=100, epochs=600)


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """Twins (original, twin): realised vectors, output check, θ-space and exact-map learning.

    Returns arrays: epochs, loss_{theta,exact}_{0,1} (E+1,), sigma_theta_{0,1} (E+1, P, P),
    probe outputs y_probe_{0,1} (B, T, 1) on white-noise inputs, and overlap bookkeeping.
    """
    N = int(params["N"])
    spec = NetworkSpec(N=N, rank=1, phi="linear", dt=float(params["dt"]))
    task = impulse_task("impulse_exp", dt=spec.dt, t_max=params["t_max"], decay=params["decay"])
    sigma_a = np.asarray(overlaps(random_vectors(spec, seed=seed)))
    sigma_b = equivalent_twin(sigma_a, spec, {"uu": params["twin_uu"], "mu": params["twin_mu"]})
    # Realise both from Σ (the original as well, so both sets of vectors are fresh draws).
    Xs = [realise_vectors(sigma_a, N, seed=seed + 1), realise_vectors(sigma_b, N, seed=seed + 2)]
    probe_seed = seed + 3
    x = jax.random.normal(jax.random.PRNGKey(probe_seed),
                          (int(params["probe_batch"]), task.n_steps, 1), jnp.float64)
    x = x / np.sqrt(spec.dt)
    ys = [np.asarray(network_outputs(X, x, spec)) for X in Xs]
    common = dict(loss="sum_dt", eta=params["eta"], epochs=int(params["epochs"]), seed=seed,
                  progress=progress)
    theta = [train_theta(X, task, spec, **common) for X in Xs]
    exact = [learn_overlaps(overlaps(X), task, spec, mode="exact", **common) for X in Xs]
    names, rows, cols, vis = pair_arrays(spec)
    arrays = {"epochs": np.arange(int(params["epochs"]) + 1), "names": names.astype(str),
              "visible": vis, "rows": rows, "cols": cols, "x_probe": np.asarray(x)}
    for k in (0, 1):
        arrays[f"loss_theta_{k}"] = theta[k].loss
        arrays[f"loss_exact_{k}"] = exact[k].loss
        arrays[f"sigma_theta_{k}"] = theta[k].sigma
        arrays[f"sigma_exact_{k}"] = exact[k].sigma
        arrays[f"y_probe_{k}"] = ys[k]
    s0, s1 = (np.asarray(overlaps(X)) for X in Xs)
    d = np.abs(s0 - s1)[rows, cols]
    out_diff = float(np.max(np.abs(ys[0] - ys[1])) / np.max(np.abs(ys[0])))
    l0, l1 = theta[0].loss, theta[1].loss
    checks = [
        Check.above("twin Σ is PSD: smallest eigenvalue", np.linalg.eigvalsh(s1)[0], 0.0),
        Check.below("realised twins: max |Δσ| over the visible overlaps", d[vis].max(), 1e-12),
        Check.above("realised twins: max |Δσ| over the invisible overlaps", d[~vis].max(), 0.5),
        Check.below("before learning: max |y_twin − y| / max |y| on white-noise inputs (N-dim "
                    "networks)", out_diff, 1e-12),
        Check.above("during learning: max relative loss difference between the twins (θ)",
                    max_rel_diff(l1, l0), 0.05),
        Check.below("twin, exact map vs θ: max relative loss difference (loss > 1e-10·L₀)",
                    max(exact_rel_diff(exact[k].loss, theta[k].loss) for k in (0, 1)), 1e-6),
    ]
    info = {"sigma_original": s0, "sigma_twin": s1,
            "loss_ratio_at_epoch": {str(e): float(l1[e] / l0[e])
                                    for e in (0, len(l0) // 20, len(l0) // 4, len(l0) - 1)}}
    return Outcome(arrays, checks, seeds={"init": seed, "realise_original": seed + 1,
                                          "realise_twin": seed + 2, "probe_inputs": probe_seed,
                                          "task": seed}, info=info)


register(Experiment("degeneracy", "Functionally identical twins learn the same task differently",
                    DEFAULTS, QUICK, compute, draw_degeneracy))
