"""Figure 1 / 5 of the paper: rank-1 linear filter in θ-space and in overlap space (docs/theory.md §4, §7).

N = 500, rank 1, linear, dt = 0.05; impulse → exp(−0.2 t), T = 20 (400 steps), loss sum·dt;
GD η = 5e-3 (θ step N·η), 2000 epochs. θ-space vs the exact map Σ ← (I−2ηS)Σ(I−2ηS), the
gradient flow dΣ/dt = −2η(SΣ+ΣS), and the "direct" identity-metric baseline.

Reproduces: the paper's Figure 1 (loss and overlaps, θ-space vs overlap space) and its
Figure 5 (the same comparison with the direct baseline). Differences from the paper's code:

- The target is sampled at the readout times (t+1)·dt (the readout follows the update of
  step t, docs/theory.md §1); the paper samples exp(−c t) on linspace(0, T, T)·dt. The two targets
  differ by less than one step of the kernel; the learned overlaps differ accordingly.
- Initial vectors are drawn from our seed (i.i.d. N(0, 1) loadings), not the paper's.
"""

from __future__ import annotations

import numpy as np

from .. import OVERLAP_MODES, ConfigError, NetworkSpec, conserved_forms
from ._common import (
    Check,
    Experiment,
    Outcome,
    check_choices,
    curve_diff,
    impulse_task,
    pair_arrays,
    register,
    theta_and_mode_runs,
    theta_vs_mode_checks,
)
from ._fig1_draw import draw_fig1

# pair_arrays lives in _common; the other experiments import it from here.
__all__ = ["compute", "conserved_quantity", "pair_arrays"]

DEFAULTS = dict(N=500, dt=0.05, t_max=20.0, decay=0.2, eta=5e-3, epochs=2000,
                modes=["exact", "flow", "direct"])
QUICK = dict(N=100, epochs=600, modes=["exact", "flow", "direct"])


def conserved_quantity(sigma, spec: NetworkSpec):
    """tr(ΣJ) of the conserved form J of a linear network, computed by `conserved_forms` (for
    these architectures the single form J = −1 on M and U, +1 on V and Z; docs/theory.md §6):
    (..., P, P) → (...)."""
    forms = conserved_forms(spec)
    if forms.shape[0] != 1:
        raise ConfigError(f"conserved_quantity needs exactly one conserved form, {spec} has "
                          f"{forms.shape[0]}")
    return np.einsum("...ab,ba->...", np.asarray(sigma), forms[0])


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """θ-space GD and the overlap modes from the same start on the same (deterministic) task.

    Returns arrays: epochs (E+1,), loss_<mode> (E+1,), sigma_<mode> (E+1, P, P), names,
    visible (D,) for the D = 10 distinct overlaps, conserved_theta (E+1,).
    """
    spec = NetworkSpec(N=int(params["N"]), rank=1, phi="linear", dt=float(params["dt"]))
    task = impulse_task("impulse_exp", dt=spec.dt, t_max=params["t_max"], decay=params["decay"])
    runs, arrays = theta_and_mode_runs(spec, task, params, seed=seed, progress=progress)
    rows, cols, vis = arrays["rows"], arrays["cols"], arrays["visible"]
    th = runs["theta"]
    arrays["conserved_theta"] = conserved_quantity(th.sigma, spec)
    checks = theta_vs_mode_checks(runs, sigma_tol=1e-8)
    if "direct" in runs:
        checks.append(Check.above("direct (identity metric) vs θ: max |Δloss| / initial loss",
                                  curve_diff(runs["direct"].loss, th.loss), 0.1))
    inv_move = np.max(np.abs(th.sigma[-1][rows, cols] - th.sigma[0][rows, cols])[~vis])
    checks.append(Check.above("invisible overlaps move during learning: max |Δσ_inv|",
                              inv_move, 1e-2))
    drift = np.max(np.abs(arrays["conserved_theta"] - arrays["conserved_theta"][0]))
    checks.append(Check.below("θ-space drift of σ_zz+σ_vv−σ_mm−σ_uu (conserved by the flow)",
                              drift, 1e-3))
    info = {"final_loss": {m: float(r.loss[-1]) for m, r in runs.items()},
            "initial_loss": float(th.loss[0]),
            "final_visible_theta": dict(zip(arrays["names"][vis].tolist(),
                                            th.sigma[-1][rows, cols][vis].tolist()))}
    return Outcome(arrays, checks, seeds={"init": seed, "task": seed}, info=info)


def validate(params: dict, given: set) -> None:
    """Known overlap modes, none twice (before anything runs)."""
    check_choices("fig1", params, "modes", OVERLAP_MODES)


register(Experiment("fig1", "Rank-1 linear filter: θ-space vs overlap space (exact, flow, direct)",
                    DEFAULTS, QUICK, compute, draw_fig1, validate))
