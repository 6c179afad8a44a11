"""Figure 12 of the paper: rank-2 linear network, 21-dimensional overlap dynamics (docs/theory.md §7).

N = 500, rank 2, linear, dt = 0.05; impulse → exp(−0.3 t)·cos(2 t), T = 20; GD η = 5e-3,
10000 epochs; θ-space vs the exact map and the gradient flow on Σ (6×6, 21 overlaps).

Reproduces: the paper's Figure 12. Differences from the paper's code: the target is sampled
at the readout times (t+1)·dt (docs/theory.md §1) and the vectors are drawn from our seed.
"""

from __future__ import annotations

import numpy as np

from .. import OVERLAP_MODES, NetworkSpec, learn_overlaps, overlaps, random_vectors, train_theta
from ._common import (
    Check,
    Experiment,
    Outcome,
    check_choices,
    curve_diff,
    exact_rel_diff,
    impulse_task,
    keep,
    register,
)
from ._rank2_draw import draw_rank2
from .fig1 import conserved_quantity, pair_arrays

__all__ = ["compute"]

DEFAULTS = dict(N=500, dt=0.05, t_max=20.0, decay=0.3, omega=2.0, eta=5e-3, epochs=10000,
                modes=["exact", "flow"])
QUICK = dict(N=100, epochs=1500, eta=2e-2)  # η·E = 30 instead of 50


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """θ-space GD and overlap modes for rank 2. Arrays as in fig1 (P = 6, 21 overlaps)."""
    spec = NetworkSpec(N=int(params["N"]), rank=2, phi="linear", dt=float(params["dt"]))
    task = impulse_task("impulse_damped_cos", dt=spec.dt, t_max=params["t_max"],
                        decay=params["decay"], omega=params["omega"])
    X0 = random_vectors(spec, seed=seed)
    sigma0 = overlaps(X0)
    common = dict(loss="sum_dt", eta=params["eta"], epochs=int(params["epochs"]), seed=seed,
                  progress=progress)
    runs = {"theta": train_theta(X0, task, spec, **common)}
    keep(loss_theta=runs["theta"].loss, sigma_theta=runs["theta"].sigma)
    for mode in params["modes"]:
        runs[mode] = learn_overlaps(sigma0, task, spec, mode=mode, **common)
        keep(**{f"loss_{mode}": runs[mode].loss, f"sigma_{mode}": runs[mode].sigma})
    names, rows, cols, vis = pair_arrays(spec)
    arrays = {"epochs": np.arange(int(params["epochs"]) + 1), "names": names.astype(str),
              "visible": vis, "rows": rows, "cols": cols}
    for mode, run in runs.items():
        arrays[f"loss_{mode}"] = run.loss
        arrays[f"sigma_{mode}"] = run.sigma
    th = runs["theta"]
    checks = [
        Check.below("loss falls: final / initial θ loss", th.loss[-1] / th.loss[0], 1e-3,
                    null=1.0, bounds=(0.0, None)),
    ]
    if "exact" in runs:
        checks.append(Check.below("exact map vs θ: max relative loss difference (loss > 1e-10·L₀)",
                                  exact_rel_diff(runs["exact"].loss, th.loss), 1e-6))
    if "flow" in runs:
        checks.append(Check.below("gradient flow vs θ: max |Δloss| / initial loss",
                                  curve_diff(runs["flow"].loss, th.loss), 0.05))
    q = conserved_quantity(th.sigma, spec)
    checks.append(Check.below("θ-space drift of tr(ΣJ), J = ±1 on (V, Z) / (M, U)",
                              np.max(np.abs(q - q[0])), 1e-2))
    info = {"n_overlaps": int(len(names)), "n_visible": int(vis.sum()),
            "final_loss": {m: float(r.loss[-1]) for m, r in runs.items()},
            "initial_loss": float(th.loss[0])}
    return Outcome(arrays, checks, seeds={"init": seed, "task": seed}, info=info)


def validate(params: dict, given: set) -> None:
    """Known overlap modes, none twice (before anything runs)."""
    check_choices("rank2", params, "modes", OVERLAP_MODES)


register(Experiment("rank2", "Rank-2 linear network: the 21-dimensional overlap ODE",
                    DEFAULTS, QUICK, compute, draw_rank2, validate))
