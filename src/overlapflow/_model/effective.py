"""Effective (latent) dynamics computed from the overlaps alone (docs/theory.md §3).

h_t = M κ^in_t + U κ^rec_t. With Δ_t = κ_tᵀ Σ_[MU][MU] κ_t and gain g (g ≡ 1 for linear φ):

    κ^in_{t+1}  = κ^in_t  + dt(−κ^in_t  + x_t)
    κ^rec_{t+1} = κ^rec_t + dt(−κ^rec_t + g(Δ_t) (Σ_VM κ^in_t + Σ_VU κ^rec_t))
    y_t         = g(Δ_{t+1}) (Σ_ZM κ^in_{t+1} + Σ_ZU κ^rec_{t+1})

Exact at every N for linear φ; the Gaussian (mean-field) closure for nonlinear φ.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._support.errors import SigmaError
from .losses import loss_from_outputs, squared_error_weight
from .network import NetworkSpec

__all__ = [
    "effective_outputs",
    "effective_outputs_many",
    "effective_latents",
    "overlap_loss",
    "overlap_value_and_grad",
    "overlap_values_and_grads",
]


def _blocks(sigma, spec: NetworkSpec):
    mu = jnp.r_[jnp.arange(spec.n_in), spec.n_in + jnp.arange(spec.rank)]
    # Reading Σ by explicit blocks keeps the dependence structure honest: only what is read
    # here can be loss-visible (docs/theory.md §5).
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


def _lanes(block):
    """Overlap block (n, r, d) of n networks → coefficients (r, d, n, 1) on the lane axes."""
    return jnp.transpose(block, (1, 2, 0))[..., None]


def _matvec(S, kappa):
    """S (r, d, n, 1) times latents κ (..., d, n, B) → (..., r, n, B), unrolled over d.

    Latents are stored (d, n, B): n networks × B trials on the two minor (contiguous) "lane"
    axes, so every step vectorises over all trials of all networks at once; each network's
    coefficients broadcast along its B trials. d is a handful, so the products fuse into one
    elementwise loop instead of a (batched) matrix-multiply call per time step.
    """
    out = S[:, 0] * kappa[..., 0:1, :, :]
    for j in range(1, S.shape[1]):
        out = out + S[:, j] * kappa[..., j : j + 1, :, :]
    return out


def _lane_gains(kappa, s_kk, spec: NetworkSpec):
    """g(Δ) and g'(Δ) (..., 1, n, B) of latents κ (..., d, n, B), Δ = κᵀ Σ_KK κ (g ≡ 1 linear)."""
    if spec.is_linear:
        one = jnp.ones(kappa.shape[:-3] + (1,) + kappa.shape[-2:], kappa.dtype)
        return one, jnp.zeros_like(one)
    delta = jnp.sum(_matvec(s_kk, kappa) * kappa, axis=-3, keepdims=True)
    clipped = jnp.maximum(delta, 0.0)
    g, dg = jax.jvp(spec.nonlinearity.gain, (clipped,), (jnp.ones_like(clipped),))
    return g, jnp.where(delta > 0.0, dg, 0.0)


def _lane_step(kappa, g, x_t, s_vk, spec: NetworkSpec):
    """One step of the latent dynamics (module docstring) for latents κ (d, n, B) with gain
    g = g(Δ(κ)) and inputs x_t (n_in, 1, B): κ_{t+1} (d, n, B)."""
    dt, n_in = spec.dt, spec.n_in
    k_in, k_rec = kappa[:n_in], kappa[n_in:]
    return jnp.concatenate([k_in + dt * (x_t - k_in),
                            k_rec + dt * (g * _matvec(s_vk, kappa) - k_rec)], axis=0)


def _input_lanes(a, dtype):
    """(B, T, k) → (T, k, 1, B): per step, k rows broadcast over the networks' lane axis."""
    return jnp.transpose(a, (1, 2, 0))[:, :, None, :].astype(dtype)


def effective_outputs_many(sigmas, x, spec: NetworkSpec):
    """Outputs (n, B, T, n_out) of n effective networks Σᵢ (n, P, P) on one input x (B, T, n_in).

    The dynamics of `effective_outputs` (the module docstring; docs/theory.md §3), run with
    the n networks × B trials on the lane axes as in `overlap_values_and_grads`, whose forward
    step it shares; equal to `effective_outputs` per network to rounding.
    """
    s_vk, s_zk, s_kk = (_lanes(b) for b in jax.vmap(lambda s: _blocks(s, spec))(sigmas))

    def step(carry, x_t):
        kappa, g = carry
        nxt = _lane_step(kappa, g, x_t, s_vk, spec)
        g1, _ = _lane_gains(nxt, s_kk, spec)
        return (nxt, g1), g1 * _matvec(s_zk, nxt)

    kappa0 = jnp.zeros((spec.latent_dim, sigmas.shape[0], x.shape[0]), sigmas.dtype)
    init = (kappa0, _lane_gains(kappa0, s_kk, spec)[0])
    _, y = jax.lax.scan(step, init, _input_lanes(x, sigmas.dtype))  # (T, n_out, n, B)
    return jnp.transpose(y, (2, 3, 0, 1))


def overlap_value_and_grad(sigma, batch, spec: NetworkSpec, loss_kind: str):
    """L(Σ) and ∂L/∂Σ (P, P) of `overlap_loss` by a latent adjoint (equals autodiff to 1e-12).

    Args:
        sigma: (P, P) overlaps; batch: `TaskBatch` with x (B, T, n_in).

    Returns:
        (loss (), G (P, P)): G is the plain gradient (not symmetrised), like `jax.grad`.
        See `overlap_values_and_grads` for the method and for many networks at once.
    """
    loss, G = overlap_values_and_grads(sigma[None], batch, spec, loss_kind)
    return loss[0], G[0]


def overlap_values_and_grads(sigmas, batch, spec: NetworkSpec, loss_kind: str):
    """L(Σᵢ) and ∂L/∂Σᵢ for n networks on one shared batch, by a latent adjoint.

    The n networks run side by side in the lanes (each step is one elementwise loop over
    n × B trajectories), which on CPU is several times faster than `vmap` of the one-network
    version. Equals `jax.grad(overlap_loss)` per network to 1e-12.

    Autodiff through the time loop costs a handful of small matrix products per step; here
    every step is elementwise over the batch, and the gradient is three contractions over
    (steps × batch) at the end. With states κ_s (s = 0 … T), Δ_s = κ_sᵀ Σ_KK κ_s, g_s = g(Δ_s),
    r_s = Σ_VK κ_s, o_s = Σ_ZK κ_s, y_{s−1} = g_s o_s, e_s = ∂L/∂y_{s−1} (docs/theory.md §3), the
    adjoint λ_s = ∂L/∂κ_s obeys

        λ_s = (1 − dt) λ_{s+1} + dt g_s Σ_VKᵀ λ^rec_{s+1} + g_s Σ_ZKᵀ e_s + c_s Σ_KK κ_s,
        c_s = 2 g'(Δ_s) (dt λ^rec_{s+1}·r_s + e_s·o_s),

    and ∂L/∂Σ_ZK = Σ g_s e_s κ_sᵀ, ∂L/∂Σ_VK = Σ dt g_s λ^rec_{s+1} κ_sᵀ, ∂L/∂Σ_KK = Σ ½c_s κ_s κ_sᵀ
    (sums over s and the batch), placed where `effective_latents` reads Σ.

    Args:
        sigmas: (n, P, P) overlaps of n networks; batch: `TaskBatch` with x (B, T, n_in),
            the same for every network.

    Returns:
        (loss (n,), G (n, P, P)): G is the plain gradient (not symmetrised), like `jax.grad`.
    """
    if jnp.ndim(sigmas) != 3 or tuple(jnp.shape(sigmas)[1:]) != (spec.P, spec.P):
        raise SigmaError(f"sigmas must have shape (n, {spec.P}, {spec.P}) for this network, "
                         f"got {tuple(jnp.shape(sigmas))}")
    s_vk, s_zk, s_kk = (_lanes(b) for b in jax.vmap(lambda s: _blocks(s, spec))(sigmas))
    dt, n_in, d = spec.dt, spec.n_in, spec.latent_dim
    n = sigmas.shape[0]

    def gains(kappa):  # kappa (..., d, n, B) → g, g' (..., 1, n, B)
        return _lane_gains(kappa, s_kk, spec)

    # L = c Σ mask·(y − y*)² for every loss kind, so e = ∂L/∂y = 2c·mask·(y − y*) is formed
    # in the forward scan, next to y, and the loss is summed there too.
    weight = squared_error_weight(batch, loss_kind, dt, batch.x.shape[1])

    def forward(carry, inputs):
        kappa, g, sq = carry
        x_t, target_t, mask_t = inputs
        nxt = _lane_step(kappa, g, x_t, s_vk, spec)
        g1, _ = gains(nxt)
        err = g1 * _matvec(s_zk, nxt) - target_t
        sq = sq + jnp.sum(mask_t * err * err, axis=(0, 2))
        return (nxt, g1, sq), (nxt, 2.0 * weight * mask_t * err)

    def lanes(a):  # (B, T, k) → (T, k, 1, B)
        return _input_lanes(a, sigmas.dtype)

    kappa0 = jnp.zeros((d, n, batch.x.shape[0]), sigmas.dtype)
    init = (kappa0, gains(kappa0)[0], jnp.zeros(n, sigmas.dtype))
    (_, _, sq), (kappas, errors) = jax.lax.scan(
        forward, init, (lanes(batch.x), lanes(batch.y), lanes(batch.mask)))
    loss = weight * sq
    s_kv, s_kz = jnp.swapaxes(s_vk, 0, 1), jnp.swapaxes(s_zk, 0, 1)

    def outer_sum(a, b):  # Σ_β a[i, m, β] b[j, m, β] → (i, j, m)
        return jnp.sum(a[:, None] * b[None], axis=-1)

    # One reverse scan does everything per step, so the working set stays in cache (computing
    # the per-step terms for all steps at once streams several (T, d, n, B) arrays through
    # memory, which dominated the cost for many networks). κ_0 = 0 adds nothing to the
    # gradient, so the scan covers s = T … 1 and starts from λ_{T+1} = 0.
    def backward(carry, inputs):
        lam_next, acc_zk, acc_vk, acc_kk = carry
        k_s, e_s = inputs
        g_s, dg_s = gains(k_s)
        r_s, q_s = _matvec(s_vk, k_s), _matvec(s_kk, k_s)
        lam_rec = lam_next[n_in:]
        half_c = dg_s * (dt * jnp.sum(lam_rec * r_s, 0, keepdims=True)
                         + jnp.sum(e_s * _matvec(s_zk, k_s), 0, keepdims=True))
        lam = ((1.0 - dt) * lam_next + dt * g_s * _matvec(s_kv, lam_rec)
               + g_s * _matvec(s_kz, e_s) + 2.0 * half_c * q_s)
        acc = (acc_zk + outer_sum(g_s * e_s, k_s), acc_vk + outer_sum(dt * g_s * lam_rec, k_s),
               acc_kk + outer_sum(half_c * k_s, k_s))
        return (lam,) + acc, None

    zeros = lambda rows: jnp.zeros((rows, d, n), sigmas.dtype)  # noqa: E731
    init = (jnp.zeros_like(kappa0), zeros(spec.n_out), zeros(spec.rank), zeros(d))
    (_, g_zk, g_vk, g_kk), _ = jax.lax.scan(backward, init, (kappas, errors), reverse=True)
    g_zk, g_vk, g_kk = (jnp.moveaxis(x, -1, 0) for x in (g_zk, g_vk, g_kk))
    G = jnp.zeros_like(sigmas)
    G = G.at[:, spec.v, :d].add(g_vk).at[:, spec.z, :d].add(g_zk).at[:, :d, :d].add(g_kk)
    return loss, G
