"""The overlap-space metric G(Σ): dσ/dt = −η G(Σ) ∇_σ L on the distinct overlaps (docs/theory.md §4).

G is the linear map taking the gradient g = ∇_σ L (g_ab = ∂L/∂σ_ab over the D = P(P+1)/2
distinct overlaps) to −dσ/dt/η under gradient flow dΣ/dt = −2η (SΣ + ΣS), with S_aa = g_aa
and S_ab = g_ab / 2 (`overlapflow.metric`). We check it against an independent construction: the push-forward of θ-space GD, G = N·J Jᵀ with J = ∂σ/∂X at
realised vectors X (N, P). Its structurally zero entries (rank 1: 42 of 100) are the pairs of
overlaps sharing no vector; only the columns of loss-visible overlaps act on the dynamics.

Reproduces: no figure of the paper — the metric is the paper's central equation (docs/theory.md §4)
made explicit; this experiment checks it and shows its structure.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import (
    NetworkSpec,
    batch_for_epoch,
    flow_velocity,
    learn_overlaps,
    metric,
    metric_structural_zeros,
    overlap_gradient,
    overlaps,
    random_vectors,
    realise_vectors,
)
from ._common import Check, Experiment, Outcome, impulse_task, register
from ._metric_draw import draw_metric
from .fig1 import pair_arrays
from .nonlinear import flip_flop

__all__ = ["compute", "pushforward_metric"]

DEFAULTS = dict(N=500, dt_linear=0.05, t_max_linear=20.0, decay=0.2, eta_linear=5e-3,
                epochs_linear=2000, dt=0.025, t_max=20.0, batch_size=10, eta=5e-2,
                epochs=2000, loss="masked_mean", N_reference=60)
QUICK = dict(epochs_linear=300, dt=0.05, t_max=8.0, epochs=40)


def pushforward_metric(X) -> jax.Array:
    """N·J Jᵀ, J = ∂σ/∂X (D, N·P): the metric θ-space GD induces on the distinct overlaps."""
    N, P = X.shape
    rows, cols = np.triu_indices(P)
    J = jax.jacobian(lambda Y: overlaps(Y)[rows, cols])(X).reshape(rows.size, N * P)
    return N * J @ J.T


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """G at the start and the end of learning, for rank-1 linear (Fig. 1 task) and erf (flip-flop).

    Returns arrays: G_{linear,erf}_{start,end} (D, D), zeros (D, D) structural-zero mask,
    visible_{linear,erf} (D,), names (D,).
    """
    lin = NetworkSpec(N=int(params["N"]), rank=1, phi="linear", dt=float(params["dt_linear"]))
    erf = NetworkSpec(N=int(params["N"]), rank=1, phi="erf", dt=float(params["dt"]))
    lin_task = impulse_task("impulse_exp", dt=lin.dt, t_max=params["t_max_linear"],
                            decay=params["decay"])
    erf_task = flip_flop(params)
    arrays, checks, info = {}, [], {}
    for label, spec, task, loss, eta, epochs in (
        ("linear", lin, lin_task, "sum_dt", params["eta_linear"], params["epochs_linear"]),
        ("erf", erf, erf_task, params["loss"], params["eta"], params["epochs"]),
    ):
        sigma0 = overlaps(random_vectors(spec, seed=seed))
        run = learn_overlaps(sigma0, task, spec, loss=loss, mode="exact", eta=eta,
                             epochs=int(epochs), seed=seed + 1, progress=progress)
        sig_end = jnp.asarray(run.state)
        names, rows, cols, vis = pair_arrays(spec)
        arrays["names"] = names.astype(str)
        arrays[f"visible_{label}"] = vis
        arrays[f"G_{label}_start"] = metric(sigma0, spec)
        G_end = metric(sig_end, spec)
        arrays[f"G_{label}_end"] = G_end
        # Independent reference: the push-forward N·JJᵀ at vectors realising Σ_end.
        X = realise_vectors(np.asarray(sig_end), int(params["N_reference"]), seed=seed + 2)
        G_ref = np.asarray(pushforward_metric(X))
        checks.append(Check.below(f"{label}: G(Σ_end) vs push-forward N·JJᵀ, max rel. difference",
                                  np.max(np.abs(G_end - G_ref)) / np.max(np.abs(G_ref)), 1e-10))
        # The flow velocity on a real batch equals −η G ∇_σ L.
        batch = batch_for_epoch(task, seed + 1, 0)
        _, S = overlap_gradient(sig_end, batch, spec, loss)
        g = np.asarray((2.0 * S - jnp.diag(jnp.diag(S)))[rows, cols])
        v = np.asarray(flow_velocity(sig_end, S, eta))[rows, cols]
        checks.append(Check.below(f"{label}: |dσ/dt − (−η G ∇_σL)| / |dσ/dt|",
                                  np.max(np.abs(v + eta * G_end @ g)) / np.max(np.abs(v)), 1e-12))
        lam = np.linalg.eigvalsh(0.5 * (G_end + G_end.T))
        checks.append(Check.below(f"{label}: G asymmetry max |G − Gᵀ| / max |G|",
                                  np.max(np.abs(G_end - G_end.T)) / np.max(np.abs(G_end)), 1e-12))
        checks.append(Check.above(f"{label}: smallest eigenvalue of G(Σ_end) / largest (PSD)",
                                  lam[0] / lam[-1], -1e-12, bounds=(None, 1.0)))
        zeros = metric_structural_zeros(spec, seed=seed + 3)
        arrays["zeros"] = zeros
        info[f"{label}_structural_zeros"] = int(zeros.sum())
        info[f"{label}_zeros_in_visible_columns"] = int(zeros[:, vis].sum())
        info[f"{label}_n_visible"] = int(vis.sum())
        checks.append(Check.equals(f"{label}: structurally zero entries of the {zeros.shape[0]}×"
                                   f"{zeros.shape[0]} G", zeros.sum(), 42))
        # Structural zeros are exactly the pairs of overlaps that share no vector.
        share = np.array([[len({rows[i], cols[i]} & {rows[j], cols[j]}) == 0
                           for j in range(len(rows))] for i in range(len(rows))])
        checks.append(Check.equals(f"{label}: zero pattern ≠ 'pairs share no vector' (entries)",
                                   np.sum(share != zeros), 0))
    return Outcome(arrays, checks, seeds={"init": seed, "batches": seed + 1,
                                          "realise_reference": seed + 2, "probes": seed + 3},
                   info=info)


register(Experiment("metric", "The overlap-space metric G(Σ) and its structural zeros",
                    DEFAULTS, QUICK, compute, draw_metric))
