"""Figure 8 of Ger & Barak (2026): which optimizers keep the overlap reduction and Gaussianity?
(docs/theory.md §4, §8, §7 "GF / GD / Adam" row)

erf rank 1, N = 600, flip-flop (as in `nonlinear`), 2000 epochs, from the paper's balanced
start (`balanced_vectors`, σ_zu ≈ σ_vm and σ_mu ≈ σ_zv), θ-space with: GD η = 5e-2 ("GF":
small steps, flow-like), GD η = 5e-1 (large steps), Adam lr 5e-3. Per optimizer:

- closure error along the θ trajectory: |L_θ(X_e) − L_MF(Σ_e)| / L_θ(X_e) on the epoch's
  batch, L_MF the mean-field loss of the network's own overlaps (finite-N fluctuation at
  epoch 0, plus the Gaussian-closure error that learning adds);
- for GD, the trajectory error against the mean-field exact map with the same η
  (max |Δloss| / initial loss);
- Gaussianity of the learned vectors: skewness, excess kurtosis, and the fraction of ‖X‖²
  outside span(X₀); histograms of the final loadings m, u, v, z (arrays X0, X_<run>);
- outputs after learning on one 60-s trial (3 × t_max, seed + 2) of the network (final X),
  and for GD of the mean-field network of the exact map's final Σ; a check bounds the
  small-step GD difference between the two by 1/√N (finite-N output fluctuations, docs/theory.md §3).

Differences from the paper's code, with the reason:
- readout timing: the paper's θ-space network reads out z·φ(h_t)/N before the update of step
  t, this project after it everywhere (docs/theory.md §1, §7);
- the overlap-space comparison uses the exact map Σ ← (I − 2ηS)Σ(I − 2ηS), the exact image of
  GD on the overlaps (docs/theory.md §4), rather than the paper's first-order update (`nonlinear`
  shows both);
- the balanced start is a draw from numpy's generator with `seed`, not the paper's stream.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import (
    NetworkSpec,
    batch_for_epoch,
    effective_outputs,
    learn_overlaps,
    network_outputs,
    overlap_loss,
    overlaps,
    train_theta_adjoint,
)
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
from ._optimizers_draw import draw_optimizers
from .fig1 import pair_arrays
from .nonlinear import flip_flop, gaussianity, initial_vectors, output_trial, rel_rms

__all__ = ["compute", "closure_losses"]

OPTIMIZER_RUNS = ("gd_small", "gd_large", "adam")

DEFAULTS = dict(N=600, dt=0.025, t_max=20.0, batch_size=10, epochs=2000, loss="masked_mean",
                eta_small=5e-2, eta_large=5e-1, adam_lr=5e-3, balanced=True, trial_factor=3,
                output_tol=1.0)
# The quick run learns (η·E = 80 for small-step GD) so that its figures show learned networks.
QUICK = dict(N=150, dt=0.05, t_max=10.0, epochs=200, eta_small=0.4, eta_large=2.0, adam_lr=0.02)


@functools.partial(jax.jit, static_argnames=("spec", "task", "loss_kind"))
def closure_losses(sigmas, seed, *, spec, task, loss_kind):
    """Mean-field loss L_MF(Σ_e) on the batch of epoch e, for sigmas (E+1, P, P) → (E+1,)."""

    def one(args):
        e, sig = args
        return overlap_loss(sig, batch_for_epoch(task, seed, e), spec, loss_kind)

    return jax.lax.map(one, (jnp.arange(sigmas.shape[0]), sigmas))


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """Three θ-space optimizers from one start on the same batches, with their diagnostics.

    Returns arrays: epochs; X0 (N, P); per run r: loss_r, closure_r (E+1,) relative closure
    error, sigma_r; X_r (N, P) final vectors; loss_exact_r for GD runs; skew_r, kurtosis_r (P,);
    qq_r (N, P); qq_theory (N,); the output trial (T = trial_factor·t_max/dt steps, all (T,)):
    trial_time, trial_input, trial_target, trial_mask, trial_r (network, final X) and, for GD
    runs, trial_exact_r (mean-field network, final Σ of the exact map).
    """
    N = int(params["N"])
    spec = NetworkSpec(N=N, rank=1, phi="erf", dt=float(params["dt"]))
    task = flip_flop(params)
    X0, draws = initial_vectors(spec, params, seed)
    sigma0 = overlaps(X0)
    trial = output_trial(params, float(params["trial_factor"]), seed + 2)
    T_trial = trial.x.shape[1]
    task_seed = seed + 1
    E = int(params["epochs"])
    names, rows, cols, vis = pair_arrays(spec)
    arrays = {"epochs": np.arange(E + 1), "names": names.astype(str), "visible": vis,
              "rows": rows, "cols": cols, "vector_names": np.array(spec.vector_names),
              "X0": np.asarray(X0), "trial_time": (np.arange(T_trial) + 1) * spec.dt,
              "trial_input": np.asarray(trial.x[0, :, 0]),
              "trial_target": np.asarray(trial.y[0, :, 0]),
              "trial_mask": np.asarray(trial.mask[0, :, 0])}
    settings = {"gd_small": ("gd", params["eta_small"]), "gd_large": ("gd", params["eta_large"]),
                "adam": ("adam", params["adam_lr"])}
    info = {"closure_error_final": {}, "closure_error_initial": {}, "trajectory_error": {},
            "out_of_span_fraction": {}, "max_abs_skew": {}, "max_abs_excess_kurtosis": {},
            "final_loss": {}, "output_trial_rel_rms_exact_vs_theta": {}}
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
        arrays[f"X_{r}"] = Xf
        arrays[f"trial_{r}"] = np.asarray(network_outputs(Xf, trial.x, spec))[0, :, 0]
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
            arrays[f"trial_exact_{r}"] = np.asarray(
                effective_outputs(ex.sigma[-1], trial.x, spec))[0, :, 0]
            info["output_trial_rel_rms_exact_vs_theta"][r] = rel_rms(arrays[f"trial_exact_{r}"],
                                                                     arrays[f"trial_{r}"])
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
        Check.below(f"small-step GD, outputs after learning on a {T_trial * spec.dt:g}-s trial: "
                    "network (final X) vs overlap space (final Σ of the exact map), "
                    "‖Δy‖ / ‖y_θ‖, in units of the finite-N scale 1/√N",
                    info["output_trial_rel_rms_exact_vs_theta"]["gd_small"] * np.sqrt(N),
                    params["output_tol"]),
    ]
    sig0 = np.asarray(sigma0)
    info["balanced_start"] = {"draws": int(draws), "zu_minus_vm": float(sig0[3, 1] - sig0[2, 0]),
                              "mu_minus_zv": float(sig0[0, 1] - sig0[3, 2])}
    info["definitions"] = {
        "closure_error": "|L_θ(X_e) − L_MF(Σ_e)| / L_θ(X_e), same batch, Σ_e the network's overlaps",
        "trajectory_error": "max_e |L_MF-exact-map(e) − L_θ(e)| / L_θ(0), same η and batches "
                            "(across flip-flop's sharp loss drop this measures the drop's timing)",
        "out_of_span_fraction": "‖(I − Π_X₀) X‖² / ‖X‖² at the end",
    }
    return Outcome(arrays, checks, seeds={"init": seed, "batches": task_seed, "trial": seed + 2},
                   info=info)


register(Experiment("optimizers", "Fig. 8: erf flip-flop under small-step GD, large-step GD and "
                    "Adam: reduction error, Gaussianity, loadings and outputs on a 60-s trial",
                    DEFAULTS, QUICK, compute, draw_optimizers))
