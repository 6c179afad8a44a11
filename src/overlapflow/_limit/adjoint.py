"""The particle network on weighted nodes: forward pass, loss, and its latent-adjoint gradient
(docs/theory.md §8)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .._model.losses import loss_from_outputs
from .._model.network import NetworkSpec, split_vectors


def particle_outputs(X, weights, x, spec: NetworkSpec, *, block: int | None = None):
    """Outputs of the weighted-node network (θ-space with (1/N)Σ_i replaced by Σ_k w_k).

    Args:
        X: (K, P) loadings [M | U | V | Z] of the nodes; weights: (K,).
        x: (B, T, n_in) inputs.
        block: steps per checkpointed block (default ⌈√T⌉); memory O((T/block + block)·B·K).

    Returns:
        y: (B, T, n_out), y[:, t] = Σ_k w_k z_k φ(h_{k,t+1}) (readout after update t, §1).
    """
    M, U, V, Z = split_vectors(X, spec)
    weights = weights.astype(X.dtype)
    wV = weights[:, None] * V
    wZ = weights[:, None] * Z
    phi = spec.nonlinearity.phi
    dt = spec.dt
    B, T, n_in = x.shape

    def step(carry, x_t):
        h, ph = carry
        # U (Σ_k w_k v_k φ(h_k)) costs O(K R) per sample; the K×K matrix is never formed.
        drive = (ph @ wV) @ U.T + x_t @ M.T
        h = h + dt * (drive - h)
        ph = phi(h)
        return (h, ph), ph @ wZ

    c = block or max(1, math.ceil(math.sqrt(T)))
    n_blocks = math.ceil(T / c)
    xs = jnp.swapaxes(x, 0, 1).astype(X.dtype)
    xs = jnp.concatenate([xs, jnp.zeros((n_blocks * c - T, B, n_in), X.dtype)])
    xs = xs.reshape(n_blocks, c, B, n_in)

    @jax.checkpoint
    def run_block(carry, xb):
        return jax.lax.scan(step, carry, xb)

    h0 = jnp.zeros((B, X.shape[0]), X.dtype)
    _, y = jax.lax.scan(run_block, (h0, phi(h0)), xs)
    y = y.reshape(n_blocks * c, B, -1)[:T]
    return jnp.swapaxes(y, 0, 1)


def particle_loss(X, weights, batch, spec: NetworkSpec, loss_kind: str):
    """Loss of the weighted-node network with loadings X (K, P) on a `TaskBatch`."""
    y = particle_outputs(X, weights, batch.x, spec)
    return loss_from_outputs(y, batch, loss_kind, spec.dt)


def _value_and_slope(phi, h):
    # φ(h) and φ'(h) in one pass (φ acts elementwise).
    return jax.jvp(phi, (h,), (jnp.ones_like(h),))


def _thin_product(a, b):
    """a bᵀ for a (n, d), b (K, d) with tiny d (here d ≤ n_in + R + n_out), as d broadcast
    multiply-adds: XLA fuses them into the elementwise kernel that consumes the (n, K) result
    instead of writing it out from a matrix product with inner dimension d."""
    out = a[:, :1] * b[None, :, 0]
    for j in range(1, b.shape[1]):
        out = out + a[:, j : j + 1] * b[None, :, j]
    return out


def _drive_and_readout(X, weights, spec: NetworkSpec):
    """A = [M | U] (K, d), the loadings φ sees, and WR = w·[V | Z] (K, R + n_out), its readers."""
    M, U, V, Z = split_vectors(X, spec)
    A = jnp.concatenate([M, U], axis=1)
    WR = weights.astype(X.dtype)[:, None] * jnp.concatenate([V, Z], axis=1)
    return A, WR


def _latent_forward(A, WR, batch, spec: NetworkSpec, loss_kind: str):
    """Forward scan in latent space: (loss, g = ∂L/∂y (B, T, n_out), κ_s (T+1, B, d)).

    h_{k,s} = A_k · κ_s with A = [M | U], κ_s = (κ^in_s, κ^rec_s) (docs/theory.md §3); each step
    evaluates φ only and reduces it at once to r_s = Σ_k w_k v_k φ(h_{k,s}) and the readout.
    A, WR: from `_drive_and_readout`.
    """
    n_in, R, d = spec.n_in, spec.rank, spec.latent_dim
    phi = spec.nonlinearity.phi
    dt = spec.dt
    x = batch.x.astype(A.dtype)
    B = x.shape[0]

    def forward(kappa, x_t):
        ry = phi(_thin_product(kappa, A)) @ WR  # r_s and the output y_{s−1} read at state s
        a, b = kappa[:, :n_in], kappa[:, n_in:]
        nxt = jnp.concatenate([a + dt * (x_t - a), b + dt * (ry[:, :R] - b)], axis=1)
        return nxt, (kappa, ry[:, R:])

    xs = jnp.concatenate([jnp.swapaxes(x, 0, 1), jnp.zeros((1, B, n_in), A.dtype)])
    _, (kappas, y_read) = jax.lax.scan(forward, jnp.zeros((B, d), A.dtype), xs)  # s = 0 … T
    y = jnp.swapaxes(y_read[1:], 0, 1)  # (B, T, n_out)
    loss, g = jax.value_and_grad(lambda yy: loss_from_outputs(yy, batch, loss_kind, dt))(y)
    return loss, g, kappas


def particle_value_and_grad(X, weights, batch, spec: NetworkSpec, loss_kind: str, *,
                            block_elements: int = 1 << 19):
    """Loss and node-wise gradient (∂L/∂X_k)/w_k of the weighted-node network, by a latent adjoint.

    h_{k,t} = A_k · κ_t with A = [M | U] and κ_t = (κ^in_t, κ^rec_t) (docs/theory.md §3, exact for
    every node set), so the backward pass runs in latent space. Two passes:

    1. forward scan over time (`_latent_forward`): φ(h_{k,t}) per step, reduced at once to
       the recurrent input r_t = Σ_k w_k v_k φ(h_{k,t}) and the output; it stores κ_t only;
    2. a reverse pass over blocks of time steps, last block first. Each block evaluates
       (φ, φ') at all its (step, sample, node) entries once, then, while they are in cache:
       the Jacobians ∂(r_t, y_{t−1})/∂κ_t = Σ_k w_k φ'(h_{k,t}) (v_k, z_k) ⊗ A_k (one matrix
       product), the latent adjoint λ_t through the block (μ_t = ∂L/∂r_t), and the node
       gradients as matrix products over the block:

        ∂L/∂v_k = w_k Σ_{t,b} φ(h_{k,t}) μ_t,   ∂L/∂z_k = w_k Σ_{t,b} φ(h_{k,t}) g_{t−1},
        ∂L/∂A_k = w_k Σ_{t,b} φ'(h_{k,t}) (v_k·μ_t + z_k·g_{t−1}) κ_t,    g_t = ∂L/∂y_t.

    Equals `jax.grad(particle_loss)` divided by w (tested to 1e-10), with memory O(T·B·(n_in+R))
    plus one block; φ is evaluated twice per (node, step, sample), φ' once.

    Args:
        X: (K, P) loadings; weights: (K,); batch: a `TaskBatch` with x (B, T, n_in).
        block_elements: about how many (step × sample × node) entries one block holds
            (default 2¹⁹, 4 MiB of float64: the fastest size timed, docs/performance.md#limit).

    Returns:
        (loss (), G (K, P)) with G_k = (∂L/∂X_k) / w_k.
    """
    _, _, V, Z = split_vectors(X, spec)
    K = X.shape[0]
    n_in, R, n_out, d = spec.n_in, spec.rank, spec.n_out, spec.latent_dim
    A, WR = _drive_and_readout(X, weights, spec)  # (K, d), (K, R + n_out)
    WJ = (WR[:, :, None] * A[:, None, :]).reshape(K, -1)  # (K, (R + n_out)·d)
    phi = spec.nonlinearity.phi
    dt = spec.dt
    B, T = batch.x.shape[:2]
    loss, g, kappas = _latent_forward(A, WR, batch, spec, loss_kind)
    G = jnp.concatenate([jnp.zeros((1, B, n_out), X.dtype), jnp.swapaxes(g, 0, 1)])  # (T+1, …)

    c = max(1, min(T + 1, block_elements // max(1, B * K)))
    n_blocks = math.ceil((T + 1) / c)
    pad = n_blocks * c - (T + 1)

    def blocks(a):
        a = jnp.concatenate([a, jnp.zeros((pad,) + a.shape[1:], a.dtype)])
        return a.reshape(n_blocks, c * B, a.shape[-1])

    VZ = jnp.concatenate([V, Z], axis=1)

    def reverse_block(carry, blk):
        # One block of c states, last block first: (φ, φ') once, then the block's Jacobians,
        # its piece of the latent adjoint, and its node gradients, while (φ, φ') are in cache.
        lam, gA, gVZ = carry  # lam = λ_{s+1} of the block's last state s
        kap, G_blk = blk  # (c·B, d), (c·B, n_out)
        ph, dph = _value_and_slope(phi, _thin_product(kap, A))  # (c·B, K)
        J = (dph @ WJ).reshape(c, B, R + n_out, d)  # ∂(r_s, y_{s−1})/∂κ_s

        def adjoint(lam_next, inputs):
            J_s, G_s = inputs
            mu = dt * lam_next[:, n_in:]  # ∂L/∂r_s
            lam = (1.0 - dt) * lam_next + jnp.einsum("br,brd->bd", mu, J_s[:, :R]) \
                + jnp.einsum("bo,bod->bd", G_s, J_s[:, R:])
            return lam, mu

        lam, mus = jax.lax.scan(adjoint, lam, (J, G_blk.reshape(c, B, n_out)), reverse=True)
        mg = jnp.concatenate([mus.reshape(c * B, R), G_blk], axis=1)  # (μ_s, g_{s−1})
        # ∂L/∂A_k = Σ_j VZ_kj Σ_n φ'(h_kn) mg_nj κ_n: one product with φ' (no (c·B, K) temporary)
        mk = (mg[:, :, None] * kap[:, None, :]).reshape(c * B, -1)  # (c·B, (R + n_out)·d)
        dA = (dph.T @ mk).reshape(K, R + n_out, d)
        return (lam, gA + jnp.einsum("kj,kjd->kd", VZ, dA), gVZ + ph.T @ mg), None

    # λ_{T+1} = 0 makes μ_T = 0 (r_T is never used) and λ_T = g_{T−1}·∂y_{T−1}/∂κ_T; padded
    # states after T have G = 0, so λ stays 0 through them and they add nothing.
    zeros = (jnp.zeros((B, d), X.dtype), jnp.zeros((K, d), X.dtype),
             jnp.zeros((K, R + n_out), X.dtype))
    (_, gA, gVZ), _ = jax.lax.scan(reverse_block, zeros, (blocks(kappas), blocks(G)),
                                   reverse=True)
    return loss, jnp.concatenate([gA, gVZ], axis=1)
