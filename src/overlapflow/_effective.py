"""Effective (latent) dynamics computed from the overlaps alone (THEORY §3).

h_t = M κ^in_t + U κ^rec_t. With Δ_t = κ_tᵀ Σ_[MU][MU] κ_t and gain g (g ≡ 1 for linear φ):

    κ^in_{t+1}  = κ^in_t  + dt(−κ^in_t  + x_t)
    κ^rec_{t+1} = κ^rec_t + dt(−κ^rec_t + g(Δ_t) (Σ_VM κ^in_t + Σ_VU κ^rec_t))
    y_t         = g(Δ_{t+1}) (Σ_ZM κ^in_{t+1} + Σ_ZU κ^rec_{t+1})

Exact at every N for linear φ; the Gaussian (mean-field) closure for nonlinear φ.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._losses import loss_from_outputs
from ._network import NetworkSpec

__all__ = ["effective_outputs", "effective_latents", "overlap_loss"]


def _blocks(sigma, spec: NetworkSpec):
    mu = jnp.r_[jnp.arange(spec.n_in), spec.n_in + jnp.arange(spec.rank)]
    # Reading Σ by explicit blocks keeps the dependence structure honest: only what is read
    # here can be loss-visible (THEORY §5).
    s_vk = sigma[spec.v][:, mu]  # (R, n_in + R)  [Σ_VM | Σ_VU]
    s_zk = sigma[spec.z][:, mu]  # (n_out, n_in + R)  [Σ_ZM | Σ_ZU]
    s_kk = sigma[mu][:, mu]  # (n_in + R, n_in + R)
    return s_vk, s_zk, s_kk


def effective_latents(sigma, x, spec: NetworkSpec):
    """Latent trajectories and outputs.

    Args:
        sigma: (P, P) overlaps.
        x: (B, T, n_in) inputs.

    Returns:
        (kappa, y): κ_{t+1} of shape (B, T, n_in + R) and y of shape (B, T, n_out).
    """
    s_vk, s_zk, s_kk = _blocks(sigma, spec)
    dt = spec.dt
    n_in = spec.n_in
    linear = spec.is_linear
    gain = spec.nonlinearity.gain

    def g_of(kappa):
        if linear:
            return 1.0
        delta = jnp.einsum("bi,ij,bj->b", kappa, s_kk, kappa)
        return gain(jnp.maximum(delta, 0.0))[:, None]

    def step(kappa, x_t):
        k_in, k_rec = kappa[:, :n_in], kappa[:, n_in:]
        rec_drive = g_of(kappa) * (kappa @ s_vk.T)
        k_in = k_in + dt * (x_t - k_in)
        k_rec = k_rec + dt * (rec_drive - k_rec)
        kappa = jnp.concatenate([k_in, k_rec], axis=1)
        y = g_of(kappa) * (kappa @ s_zk.T)
        return kappa, (kappa, y)

    kappa0 = jnp.zeros((x.shape[0], spec.latent_dim), dtype=sigma.dtype)
    _, (kappa, y) = jax.lax.scan(step, kappa0, jnp.swapaxes(x, 0, 1).astype(sigma.dtype))
    return jnp.swapaxes(kappa, 0, 1), jnp.swapaxes(y, 0, 1)


def effective_outputs(sigma, x, spec: NetworkSpec):
    """Outputs y (B, T, n_out) of the effective network with overlaps Σ (P, P) for inputs x."""
    return effective_latents(sigma, x, spec)[1]


def overlap_loss(sigma, batch, spec: NetworkSpec, loss_kind: str):
    """Loss L(Σ) of the effective network on a `TaskBatch` (exact for linear φ)."""
    return loss_from_outputs(effective_outputs(sigma, batch.x, spec), batch, loss_kind, spec.dt)
