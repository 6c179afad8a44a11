"""Degeneracy (the paper's Figure 2): identical twins learn the same task differently (docs/theory.md §5, §7).

From the Figure-1 start Σ₀ build a twin Σ₁ by changing loss-invisible overlaps only — the
paper's σ_uu = 32²/500 ≈ 2.05 and σ_mu = 0.8 — keeping the four visible overlaps
(σ_zm, σ_zu, σ_vm, σ_vu) and every other entry; check Σ₁ is PSD; realise N-dim vectors for
both (docs/theory.md §2). The twins give the same output on any input (float64 precision), yet:

- **hidden activity** differs: on one white-noise input the activity along u, h·u/N =
  σ_mu κ^in + σ_uu κ^rec, reads the invisible overlaps (the output does not);
- **noise perturbation**: the same state noise (sd 0.5 per step added to h, the same draws for
  both twins, `network_outputs_noisy`) makes the outputs differ;
- **learning perturbation**: after 300 epochs of the same GD on the same task the outputs on
  the same white-noise input differ;
- the whole loss curves (θ-space GD, and the exact overlap map, which must equal it) differ.

Differences from the paper's code, and what the noise panel does and does not show:

- The twins are realised as fresh N-dim vectors from Σ₀ and Σ₁ (`realise_vectors`, seeds
  `seed + 1`, `seed + 2`), so they live in unrelated random frames of R^N; the paper's exact
  realisation is not reproduced, only its overlaps.
- In a *linear* network the response to state noise is closed in (z·n/N, v·n/N) (n: the noise
  part of h): it depends on z·ξ, v·ξ and the visible σ_zu, σ_vu only, not on σ_uu or σ_mu.
  So the noise difference of the twins comes from their different vectors z and v, not from
  the overlaps the twin changed; two realisations of the *same* Σ₀ differ as much (reported as
  the "same-Σ control"), and a twin built in the original's own frame (only u changed, m, v,
  z shared; `same_frame_twin`) gives outputs equal to the original's under the same noise
  (a check). The loss-invisible structure the noise exposes is how z and v meet the noise,
  whose statistics set by σ_zz, σ_zv, σ_vv are the same for the twins.
- The white-noise probe is x_t ~ N(0, 1/dt) (unit spectral density); the paper's amplitude
  is not known to us. Outputs "after learning" are those of the N-dim networks after
  `perturb_epochs` GD epochs (300, as in the paper), computed by a second θ-space run of that
  length from the same start (GD on the impulse task is deterministic).
- The target is exp(−c (t+1) dt) at the readout times (docs/theory.md §1); the paper samples exp(−c t)
  on linspace(0, T, T)·dt (docs/theory.md §7), which shifts the loss values slightly, not the claims.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import (
    NetworkSpec,
    equivalent_twin,
    learn_overlaps,
    network_outputs,
    network_outputs_noisy,
    overlaps,
    random_vectors,
    realise_vectors,
    train_theta,
)
from ..internal import rel_max_diff
from ._common import (
    Check,
    Experiment,
    Outcome,
    exact_rel_diff,
    impulse_task,
    max_rel_diff,
    register,
)
from ._degeneracy_draw import draw_degeneracy
from .fig1 import pair_arrays

__all__ = ["compute", "twin_pair", "same_frame_twin", "rel_max_diff"]

DEFAULTS = dict(N=500, dt=0.05, t_max=20.0, decay=0.2, eta=5e-3, epochs=2000,
                twin_uu=32.0**2 / 500, twin_mu=0.8, probe_batch=4, state_noise_sd=0.5,
                perturb_epochs=300)
QUICK = dict(N=100, epochs=600)


def twin_pair(spec: NetworkSpec, *, seed: int, twin_uu: float, twin_mu: float):
    """The Figure-1 start Σ₀ and its degenerate twin Σ₁, with N-dim realisations of both.

    Σ₀ = overlaps(random_vectors(spec, seed)); Σ₁ = Σ₀ with σ_uu = twin_uu, σ_mu = twin_mu
    (`equivalent_twin`, every other entry kept). Both are realised afresh (`realise_vectors`,
    seeds seed + 1 and seed + 2).

    Returns:
        (Σ₀ (P, P), Σ₁ (P, P), X₀ (N, P), X₁ (N, P)) as numpy / JAX float64 arrays.
    """
    sigma_a = np.asarray(overlaps(random_vectors(spec, seed=seed)))
    sigma_b = equivalent_twin(sigma_a, spec, {"uu": twin_uu, "mu": twin_mu})
    X_a = realise_vectors(sigma_a, spec.N, seed=seed + 1)
    X_b = realise_vectors(sigma_b, spec.N, seed=seed + 2)
    return sigma_a, sigma_b, X_a, X_b


def same_frame_twin(X, sigma_twin, spec: NetworkSpec):
    """Vectors of the twin Σ' in the frame of X: m, v, z kept, only u changed (rank 1).

    u' = B G⁻¹ c + ρ r̂ with B = [m, v, z], G = BᵀB/N, c = (σ'_mu, σ'_vu, σ'_zu), r̂ the part of
    the original u orthogonal to B (normalised to |r̂|² = N) and ρ² = σ'_uu − cᵀG⁻¹c (the Schur
    complement, > 0 when Σ' is positive definite). Requires Σ' to share every overlap among
    m, v, z with XᵀX/N (true for a twin that changes σ_uu and σ_mu only).

    Returns:
        X' (N, P) with X'ᵀX'/N = Σ' to rounding.
    """
    X = np.asarray(X, dtype=np.float64)
    sig = np.asarray(sigma_twin, dtype=np.float64)
    N = X.shape[0]
    m, u, v, z = spec.m.start, spec.u.start, spec.v.start, spec.z.start
    keep = [m, v, z]
    B = X[:, keep]
    G = B.T @ B / N
    c = sig[u, keep]
    coef = np.linalg.solve(G, c)
    r = X[:, u] - B @ np.linalg.solve(G, B.T @ X[:, u] / N)
    r *= np.sqrt(N / (r @ r))
    rho2 = sig[u, u] - c @ coef
    if not rho2 > 0:
        raise ValueError(f"twin not realisable with m, v, z kept (Schur complement {rho2:.3g})")
    Xt = X.copy()
    Xt[:, u] = B @ coef + np.sqrt(rho2) * r
    return jnp.asarray(Xt)


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """Twins (original, twin): outputs, hidden activity, noise and learning perturbations, GD.

    Returns arrays: epochs, loss_{theta,exact}_{0,1} (E+1,), sigma_{theta,exact}_{0,1}
    (E+1, P, P); probe inputs x_probe (B, T, 1) and outputs y_probe_{0,1} (B, T, 1); on the
    first probe input: hidden activity along u, hu_{0,1} (T,), and norm hnorm_{0,1} (T,)
    (‖h‖/√N); outputs under state noise y_noise_{0,1} (T,), of the same-Σ control
    y_noise_control (T,) and of the same-frame twin y_noise_frame (T,); outputs after
    `perturb_epochs` epochs y_learned_{0,1} (T,); target response y_target_probe (T,).
    """
    N = int(params["N"])
    spec = NetworkSpec(N=N, rank=1, phi="linear", dt=float(params["dt"]))
    task = impulse_task("impulse_exp", dt=spec.dt, t_max=params["t_max"], decay=params["decay"])
    epochs = int(params["epochs"])
    n_perturb = min(int(params["perturb_epochs"]), epochs)
    sigma_a, sigma_b, X_a, X_b = twin_pair(spec, seed=seed, twin_uu=params["twin_uu"],
                                           twin_mu=params["twin_mu"])
    Xs = [X_a, X_b]
    probe_seed, noise_seed, control_seed = seed + 3, seed + 4, seed + 5
    x = jax.random.normal(jax.random.PRNGKey(probe_seed),
                          (int(params["probe_batch"]), task.n_steps, 1), jnp.float64)
    x = x / np.sqrt(spec.dt)
    x1 = x[:1]  # the one white-noise input of the activity / perturbation panels
    ys = [np.asarray(network_outputs(X, x, spec)) for X in Xs]

    # Hidden activity (no noise) and the noise perturbation: same key = same ξ for every net.
    key = jax.random.PRNGKey(noise_seed)
    sd = float(params["state_noise_sd"])
    hu, hnorm, y_noise = [], [], []
    for X in Xs:
        _, h = network_outputs_noisy(X, x1, spec, key=key, state_noise_sd=0.0,
                                     return_states=True)
        h = np.asarray(h[0])
        hu.append(h @ np.asarray(X)[:, spec.u.start] / N)
        hnorm.append(np.sqrt(np.sum(h**2, axis=1) / N))
        y_noise.append(np.asarray(network_outputs_noisy(X, x1, spec, key=key,
                                                        state_noise_sd=sd))[0, :, 0])
    X_ctrl = realise_vectors(sigma_a, N, seed=control_seed)
    y_noise_ctrl = np.asarray(network_outputs_noisy(X_ctrl, x1, spec, key=key,
                                                    state_noise_sd=sd))[0, :, 0]
    X_frame = same_frame_twin(X_a, sigma_b, spec)
    y_noise_frame = np.asarray(network_outputs_noisy(X_frame, x1, spec, key=key,
                                                     state_noise_sd=sd))[0, :, 0]

    # The learners' fixed chunk lengths: both θ runs (and any epoch count) share one program.
    common = dict(loss="sum_dt", eta=params["eta"], seed=seed, progress=progress)
    theta = [train_theta(X, task, spec, epochs=epochs, **common) for X in Xs]
    exact = [learn_overlaps(overlaps(X), task, spec, mode="exact", epochs=epochs, **common)
             for X in Xs]
    # Learning perturbation: the N-dim networks after n_perturb epochs of the same GD.
    X_learned = [train_theta(X, task, spec, epochs=n_perturb, **common).state[0] for X in Xs]
    # sd = 0 is `network_outputs` exactly, and reuses the compiled noisy pass (no recompile).
    y_learned = [np.asarray(network_outputs_noisy(X, x1, spec, key=key, state_noise_sd=0.0))
                 [0, :, 0] for X in X_learned]
    # What the task asks for on this input: x convolved with the target impulse response.
    kernel = np.asarray(task.sample(None).y)[0, :, 0]  # y*_t for x_0 = 1/dt
    y_target = np.convolve(np.asarray(x1)[0, :, 0] * spec.dt, kernel)[: task.n_steps]

    names, rows, cols, vis = pair_arrays(spec)
    arrays = {"epochs": np.arange(epochs + 1), "names": names.astype(str),
              "visible": vis, "rows": rows, "cols": cols, "x_probe": np.asarray(x),
              "y_noise_control": y_noise_ctrl, "y_noise_frame": y_noise_frame,
              "y_target_probe": y_target}
    for k in (0, 1):
        arrays[f"loss_theta_{k}"] = theta[k].loss
        arrays[f"loss_exact_{k}"] = exact[k].loss
        arrays[f"sigma_theta_{k}"] = theta[k].sigma
        arrays[f"sigma_exact_{k}"] = exact[k].sigma
        arrays[f"y_probe_{k}"] = ys[k]
        arrays[f"hu_{k}"] = hu[k]
        arrays[f"hnorm_{k}"] = hnorm[k]
        arrays[f"y_noise_{k}"] = y_noise[k]
        arrays[f"y_learned_{k}"] = y_learned[k]
    s0, s1 = (np.asarray(overlaps(X)) for X in Xs)
    d = np.abs(s0 - s1)[rows, cols]
    diffs = {
        "before_learning": rel_max_diff(ys[1], ys[0]),
        "hidden_activity_along_u": rel_max_diff(hu[1], hu[0]),
        "hidden_norm": rel_max_diff(hnorm[1], hnorm[0]),
        "noise": rel_max_diff(y_noise[1], y_noise[0]),
        "noise_same_sigma_control": rel_max_diff(y_noise_ctrl, y_noise[0]),
        "noise_same_frame_twin": rel_max_diff(y_noise_frame, y_noise[0]),
        "noise_vs_clean_original": rel_max_diff(y_noise[0], ys[0][0, :, 0]),
        "after_learning": rel_max_diff(y_learned[1], y_learned[0]),
    }
    l0, l1 = theta[0].loss, theta[1].loss
    checks = [
        Check.above("twin Σ is PSD: smallest eigenvalue", np.linalg.eigvalsh(s1)[0], 0.0,
                    bounds=(None, None)),
        Check.below("realised twins: max |Δσ| over the visible overlaps", d[vis].max(), 1e-12),
        Check.above("realised twins: max |Δσ| over the invisible overlaps", d[~vis].max(), 0.5),
        Check.below("before learning: max |y_twin − y| / max |y| on white-noise inputs (N-dim "
                    "networks)", diffs["before_learning"], 1e-12),
        Check.above("before learning: hidden activity along u, max |Δ(h·u/N)| / max |h·u/N|",
                    diffs["hidden_activity_along_u"], 0.05),
        Check.above(f"noise perturbation (sd {sd:g} per step on h, same draws): relative output "
                    "difference of the twins", diffs["noise"], 0.05),
        Check.below("noise perturbation, twin realised in the original's frame (m, v, z shared):"
                    " relative output difference", diffs["noise_same_frame_twin"], 1e-10),
        # Measured (seed 0–3 at N = 500: 0.35–0.81; seeds 0–5 at --quick N = 100: 0.016–0.59):
        # 1% of the output range, 10¹² × the difference before learning.
        Check.above(f"learning perturbation: relative output difference after {n_perturb} "
                    "epochs", diffs["after_learning"], 0.01),
        Check.above("during learning: max relative loss difference between the twins (θ)",
                    max_rel_diff(l1, l0), 0.05),
        Check.below("twin, exact map vs θ: max relative loss difference (loss > 1e-10·L₀)",
                    max(exact_rel_diff(exact[k].loss, theta[k].loss) for k in (0, 1)), 1e-6),
    ]
    info = {"sigma_original": s0, "sigma_twin": s1,
            "relative_output_difference": diffs,
            "relative_output_difference_definition": "max |y_twin − y_original| / "
            "max |y_original| over the probe input(s); control: a second realisation of Σ₀ "
            "under the same noise; frame twin: Σ₁ realised with m, v, z of the original",
            "perturb_epochs": n_perturb,
            "loss_ratio_at_epoch": {str(e): float(l1[e] / l0[e])
                                    for e in sorted({0, n_perturb, len(l0) // 20, len(l0) // 4,
                                                     len(l0) - 1})}}
    return Outcome(arrays, checks, seeds={"init": seed, "realise_original": seed + 1,
                                          "realise_twin": seed + 2, "probe_inputs": probe_seed,
                                          "state_noise": noise_seed,
                                          "realise_control": control_seed, "task": seed},
                   info=info)


register(Experiment("degeneracy", "Functionally identical twins learn the same task differently",
                    DEFAULTS, QUICK, compute, draw_degeneracy))
