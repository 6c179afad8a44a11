"""Figure 12 of the paper: rank-2 linear network, 21-dimensional overlap dynamics (docs/theory.md §7).

N = 500, rank 2, linear, dt = 0.05; impulse → exp(−0.3 t)·cos(2 t), T = 20; GD η = 5e-3,
10000 epochs; θ-space vs the exact map and the gradient flow on Σ (6×6, 21 overlaps).

Reproduces: the paper's Figure 12. Differences from the paper's code: the target is sampled
at the readout times (t+1)·dt (docs/theory.md §1) and the vectors are drawn from our seed.
"""

from __future__ import annotations

import numpy as np

from .. import OVERLAP_MODES, NetworkSpec
from ._common import (
    Check,
    Experiment,
    Outcome,
    check_choices,
    impulse_task,
    register,
    theta_and_mode_runs,
    theta_vs_mode_checks,
)
from ._rank2_draw import draw_rank2
from .fig1 import conserved_quantity

__all__ = ["compute"]

DEFAULTS = dict(N=500, dt=0.05, t_max=20.0, decay=0.3, omega=2.0, eta=5e-3, epochs=10000,
                modes=["exact", "flow"])
QUICK = dict(N=100, epochs=1500, eta=2e-2)  # η·E = 30 instead of 50


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """θ-space GD and overlap modes for rank 2. Arrays as in fig1 (P = 6, 21 overlaps)."""
    spec = NetworkSpec(N=int(params["N"]), rank=2, phi="linear", dt=float(params["dt"]))
    task = impulse_task("impulse_damped_cos", dt=spec.dt, t_max=params["t_max"],
                        decay=params["decay"], omega=params["omega"])
    runs, arrays = theta_and_mode_runs(spec, task, params, seed=seed, progress=progress)
    th = runs["theta"]
    checks = theta_vs_mode_checks(runs)
    q = conserved_quantity(th.sigma, spec)
    checks.append(Check.below("θ-space drift of tr(ΣJ), J = ±1 on (V, Z) / (M, U)",
                              np.max(np.abs(q - q[0])), 1e-2))
    info = {"n_overlaps": int(len(arrays["names"])), "n_visible": int(arrays["visible"].sum()),
            "final_loss": {m: float(r.loss[-1]) for m, r in runs.items()},
            "initial_loss": float(th.loss[0])}
    return Outcome(arrays, checks, seeds={"init": seed, "task": seed}, info=info)


def validate(params: dict, given: set) -> None:
    """Known overlap modes, none twice (before anything runs)."""
    check_choices("rank2", params, "modes", OVERLAP_MODES)


register(Experiment("rank2", "Rank-2 linear network: the 21-dimensional overlap ODE",
                    DEFAULTS, QUICK, compute, draw_rank2, validate))
