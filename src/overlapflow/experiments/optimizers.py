"""Which optimizers keep the overlap reduction and Gaussianity? (THEORY §4, §8, §7 "GF / GD / Adam")

erf rank 1, N = 600, flip-flop (as in `nonlinear`), 2000 epochs, θ-space with: GD η = 5e-2
(small steps, flow-like), GD η = 5e-1 (large steps), Adam lr 5e-3. Per optimizer:

- closure error along the θ trajectory: |L_θ(X_e) − L_MF(Σ_e)| / L_θ(X_e) on the epoch's
  batch, L_MF the mean-field loss of the network's own overlaps (finite-N fluctuation at
  epoch 0, plus the Gaussian-closure error that learning adds);
- for GD, the trajectory error against the mean-field exact map with the same η
  (max |Δloss| / initial loss);
- Gaussianity of the learned vectors: skewness, excess kurtosis, and the fraction of ‖X‖²
  outside span(X₀).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._effective import overlap_loss
from .._limit import train_theta_adjoint
from .._network import NetworkSpec, random_vectors
from .._overlap_learning import learn_overlaps
from .._overlaps import overlaps
from .._tasks import batch_for_epoch
from ._common import (
    Check,
    Experiment,
    Outcome,
    curve_diff,
    plateau_diff,
    qq_points,
    register,
    transition_shift,
)
from ._figures import draw_optimizers
from .fig1 import pair_arrays
from .nonlinear import flip_flop, gaussianity

__all__ = ["compute", "closure_losses"]

OPTIMIZER_RUNS = ("gd_small", "gd_large", "adam")

DEFAULTS = dict(N=600, dt=0.025, t_max=20.0, batch_size=10, epochs=2000, loss="masked_mean",
                eta_small=5e-2, eta_large=5e-1, adam_lr=5e-3)
QUICK = dict(N=150, dt=0.05, t_max=10.0, epochs=80)


@functools.partial(jax.jit, static_argnames=("spec", "task", "loss_kind"))
def closure_losses(sigmas, seed, *, spec, task, loss_kind):
    """Mean-field loss L_MF(Σ_e) on the batch of epoch e, for sigmas (E+1, P, P) → (E+1,)."""

    def one(args):
        e, sig = args
        return overlap_loss(sig, batch_for_epoch(task, seed, e), spec, loss_kind)

    return jax.lax.map(one, (jnp.arange(sigmas.shape[0]), sigmas))


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """Three θ-space optimizers from one start on the same batches, with their diagnostics.

    Returns arrays: epochs; per run r: loss_r, closure_r (E+1,) relative closure error,
    sigma_r; loss_exact_r for GD runs; skew_r, kurtosis_r (P,); qq_r (N, P); qq_theory (N,).
    """
    N = int(params["N"])
    spec = NetworkSpec(N=N, rank=1, phi="erf", dt=float(params["dt"]))
    task = flip_flop(params)
    X0 = random_vectors(spec, seed=seed)
    sigma0 = overlaps(X0)
    task_seed = seed + 1
    E = int(params["epochs"])
    names, rows, cols, vis = pair_arrays(spec)
    arrays = {"epochs": np.arange(E + 1), "names": names.astype(str), "visible": vis,
              "rows": rows, "cols": cols, "vector_names": np.array(spec.vector_names)}
    settings = {"gd_small": ("gd", params["eta_small"]), "gd_large": ("gd", params["eta_large"]),
                "adam": ("adam", params["adam_lr"])}
    info = {"closure_error_final": {}, "closure_error_initial": {}, "trajectory_error": {},
            "out_of_span_fraction": {}, "max_abs_skew": {}, "max_abs_excess_kurtosis": {},
            "final_loss": {}}
    for r, (opt, eta) in settings.items():
        res = train_theta_adjoint(X0, task, spec, loss=params["loss"], optimizer=opt, eta=eta,
                                  epochs=E, seed=task_seed, progress=progress, desc=r)
        mf = np.asarray(closure_losses(jnp.asarray(res.sigma), task_seed, spec=spec, task=task,
                                       loss_kind=params["loss"]))
        closure = np.abs(res.loss - mf) / res.loss
        Xf = np.asarray(res.state.X)
        g = gaussianity(Xf, np.asarray(X0))
        arrays[f"loss_{r}"], arrays[f"sigma_{r}"], arrays[f"closure_{r}"] = res.loss, res.sigma, closure
        arrays[f"skew_{r}"], arrays[f"kurtosis_{r}"] = g["skew"], g["kurtosis"]
        arrays["qq_theory"], arrays[f"qq_{r}"] = qq_points(Xf)
        info["closure_error_final"][r] = float(closure[-1])
        info["closure_error_initial"][r] = float(closure[0])
        info["out_of_span_fraction"][r] = g["out_of_span"]
        info["max_abs_skew"][r] = float(np.max(np.abs(g["skew"])))
        info["max_abs_excess_kurtosis"][r] = float(np.max(np.abs(g["kurtosis"])))
        info["final_loss"][r] = float(res.loss[-1])
        if opt == "gd":
            ex = learn_overlaps(sigma0, task, spec, loss=params["loss"], mode="exact", eta=eta,
                                epochs=E, seed=task_seed, progress=progress)
            arrays[f"loss_exact_{r}"] = ex.loss
            info["trajectory_error"][r] = curve_diff(ex.loss, res.loss)
    span = info["out_of_span_fraction"]
    checks = [
        Check.below("small-step GD vs mean-field exact map on the plateau (before 90% of θ's "
                    "loss-halving epoch): max |Δloss| / initial loss",
                    plateau_diff(arrays["loss_exact_gd_small"], arrays["loss_gd_small"]), 0.02),
        Check.below("small-step GD vs mean-field exact map: relative shift of the loss-halving "
                    "epoch", transition_shift(arrays["loss_exact_gd_small"],
                                              arrays["loss_gd_small"]), 0.05),
        Check.above("Adam leaves span(X₀) more than small-step GD (ratio of out-of-span "
                    "fractions)", span["adam"] / span["gd_small"], 1.0),
        Check.above("large-step GD leaves span(X₀) more than small-step GD (ratio)",
                    span["gd_large"] / span["gd_small"], 1.0),
    ]
    info["definitions"] = {
        "closure_error": "|L_θ(X_e) − L_MF(Σ_e)| / L_θ(X_e), same batch, Σ_e the network's overlaps",
        "trajectory_error": "max_e |L_MF-exact-map(e) − L_θ(e)| / L_θ(0), same η and batches "
                            "(across flip-flop's sharp loss drop this measures the drop's timing)",
        "out_of_span_fraction": "‖(I − Π_X₀) X‖² / ‖X‖² at the end",
    }
    return Outcome(arrays, checks, seeds={"init": seed, "batches": task_seed}, info=info)


register(Experiment("optimizers", "erf flip-flop under small-step GD, large-step GD and Adam: "
                    "reduction error and Gaussianity", DEFAULTS, QUICK, compute, draw_optimizers))
