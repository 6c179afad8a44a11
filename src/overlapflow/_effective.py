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

__all__ = ["effective_outputs", "effective_latents", "overlap_loss", "overlap_value_and_grad"]


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


def _matvec(S, kappa):
    """S (r, d) times latents κ (..., d, B) → (..., r, B), unrolled over the d columns of S.

    Latents are stored (d, B), batch as the minor (contiguous) axis, so that every step
    vectorises over the batch; and d is a handful, so the products fuse into one elementwise
    loop instead of a matrix-multiply call per time step (a batched one under `vmap`).
    """
    out = S[:, 0:1] * kappa[..., 0:1, :]
    for j in range(1, S.shape[1]):
        out = out + S[:, j : j + 1] * kappa[..., j : j + 1, :]
    return out


def _contract(a, b):
    """Σ_{s,β} a[s, i, β] b[s, j, β] → (i, j) for a (S, i, B), b (S, j, B), as one fused
    multiply-and-reduce (a matrix product over the long (S·B) axis with 1–4 rows is slow on
    CPU)."""
    return jnp.sum(a[:, :, None, :] * b[:, None, :, :], axis=(0, 3))


def overlap_value_and_grad(sigma, batch, spec: NetworkSpec, loss_kind: str):
    """L(Σ) and ∂L/∂Σ (P, P) of `overlap_loss` by a latent adjoint (equals autodiff to 1e-12).

    Autodiff through the time loop costs a handful of small matrix products per step; here
    every step is elementwise over the batch, and the gradient is three contractions over
    (steps × batch) at the end. With states κ_s (s = 0 … T), Δ_s = κ_sᵀ Σ_KK κ_s, g_s = g(Δ_s),
    r_s = Σ_VK κ_s, o_s = Σ_ZK κ_s, y_{s−1} = g_s o_s, e_s = ∂L/∂y_{s−1} (THEORY §3), the
    adjoint λ_s = ∂L/∂κ_s obeys

        λ_s = (1 − dt) λ_{s+1} + dt g_s Σ_VKᵀ λ^rec_{s+1} + g_s Σ_ZKᵀ e_s + c_s Σ_KK κ_s,
        c_s = 2 g'(Δ_s) (dt λ^rec_{s+1}·r_s + e_s·o_s),

    and ∂L/∂Σ_ZK = Σ g_s e_s κ_sᵀ, ∂L/∂Σ_VK = Σ dt g_s λ^rec_{s+1} κ_sᵀ, ∂L/∂Σ_KK = Σ ½c_s κ_s κ_sᵀ
    (sums over s and the batch), placed where `effective_latents` reads Σ.

    Args:
        sigma: (P, P) overlaps; batch: `TaskBatch` with x (B, T, n_in).

    Returns:
        (loss (), G (P, P)): G is the plain gradient (not symmetrised), like `jax.grad`.
    """
    s_vk, s_zk, s_kk = _blocks(sigma, spec)
    dt, n_in, d = spec.dt, spec.n_in, spec.latent_dim
    linear = spec.is_linear
    gain = spec.nonlinearity.gain

    def gains(kappa):  # kappa (..., d, B) → g, g' (..., 1, B)
        if linear:
            one = jnp.ones(kappa.shape[:-2] + (1,) + kappa.shape[-1:], kappa.dtype)
            return one, jnp.zeros_like(one)
        delta = jnp.sum(_matvec(s_kk, kappa) * kappa, axis=-2, keepdims=True)
        clipped = jnp.maximum(delta, 0.0)
        g, dg = jax.jvp(gain, (clipped,), (jnp.ones_like(clipped),))
        return g, jnp.where(delta > 0.0, dg, 0.0)

    def forward(carry, x_t):
        kappa, g = carry
        k_in, k_rec = kappa[:n_in], kappa[n_in:]
        nxt = jnp.concatenate([k_in + dt * (x_t - k_in),
                               k_rec + dt * (g * _matvec(s_vk, kappa) - k_rec)], axis=0)
        g1, _ = gains(nxt)
        return (nxt, g1), (nxt, g1 * _matvec(s_zk, nxt))

    x = jnp.transpose(batch.x, (1, 2, 0)).astype(sigma.dtype)  # (T, n_in, B)
    kappa0 = jnp.zeros((d, x.shape[2]), sigma.dtype)
    _, (kappas, ys) = jax.lax.scan(forward, (kappa0, gains(kappa0)[0]), x)
    y = jnp.transpose(ys, (2, 0, 1))  # (B, T, n_out)
    loss, e = jax.value_and_grad(lambda yy: loss_from_outputs(yy, batch, loss_kind, dt))(y)
    states = jnp.concatenate([kappa0[None], kappas])  # κ_s (T + 1, d, B)
    errors = jnp.transpose(e, (1, 2, 0))  # e_s for s = 1 … T: (T, n_out, B)
    errors = jnp.concatenate([jnp.zeros_like(errors[:1]), errors])

    # Everything that does not depend on the adjoint is computed for all steps at once,
    # vectorised over (steps × batch); the reverse scan then carries only λ.
    g, dg = gains(states)  # (T + 1, 1, B)
    r, o, q = _matvec(s_vk, states), _matvec(s_zk, states), _matvec(s_kk, states)
    eo = jnp.sum(errors * o, axis=1, keepdims=True)
    pre = g * _matvec(s_zk.T, errors) + 2.0 * dg * eo * q

    def backward(lam_next, inputs):
        g_s, k_s, r_s, q_s, pre_s = inputs
        lam_rec = lam_next[n_in:]
        lam = ((1.0 - dt) * lam_next + dt * g_s * _matvec(s_vk.T, lam_rec)
               + k_s * jnp.sum(lam_rec * r_s, 0, keepdims=True) * q_s + pre_s)
        return lam, lam_next

    # λ_{T+1} = 0: there is no state after T. The scan returns λ_{s+1} for every state s.
    _, lam_after = jax.lax.scan(backward, jnp.zeros_like(kappa0),
                                (g, 2.0 * dt * dg, r, q, pre), reverse=True)
    lam_rec = lam_after[:, n_in:]
    half_c = dg * (dt * jnp.sum(lam_rec * r, axis=1, keepdims=True) + eo)
    g_zk = _contract(g * errors, states)
    g_vk = _contract(dt * g * lam_rec, states)
    g_kk = _contract(half_c * states, states)
    G = jnp.zeros_like(sigma)
    G = G.at[spec.v, :d].add(g_vk).at[spec.z, :d].add(g_zk).at[:d, :d].add(g_kk)
    return loss, G
