"""The exact N → ∞ limit of learning: a mean-field particle system on quadrature nodes (docs/theory.md §8).

At large N neuron i is its loading row X_i = (m_i, u_i, v_i, z_i), drawn at the start from
N(0, Σ₀), and its gradient depends only on X_i and population averages, so X_i(t) = F_t(X_i(0)).
Replacing the average (1/N) Σ_i over random neurons by a quadrature Σ_k w_k over X(0) gives the
infinite network with quadrature error instead of 1/√N noise:

    h_{t+1} = h_t + dt ( −h_t + U (Σ_k w_k v_k φ(h_{k,t})) + M x_t ),  y_t = Σ_k w_k z_k φ(h_{k,t+1})
    X_k ← X_k − η (∂L/∂X_k) / w_k                                       (node-wise GD)
    Σ   = Σ_k w_k X_kᵀ X_k

The same engine with N random rows and w_k = 1/N *is* θ-space GD with step N·η
(`sample_nodes`, `theta_nodes`); the scaling study uses it because its gradient is a latent
adjoint (`particle_value_and_grad`): memory O(T·B·(n_in+R)) plus one block instead of the
O(T·B·K) residuals of autodiff through the time loop, and about half the CPU time.

Cost: φ is evaluated twice per (node, step, sample) and epoch (forward scan, then the reverse
block pass) and φ' once, so one epoch costs ~2·K·B·T evaluations; for odd φ (erf, tanh,
linear) only half of a mirror-symmetric rule is simulated (`_mirror_half`), and the final
record of a run needs the forward scan only. Measured on this project's 2-core CPU (docs/theory.md §8
set-up, K = 9⁴, B = 8, T = 4000, 60 epochs): 24 s for tanh, 27 s for erf; an erf epoch is
~0.19 s of forward scan and ~0.24 s of reverse block pass.

Choice of the quadrature (`limit_nodes`). Write X(0) = [ξ_d F_d | ξ_d F_d B + ξ_r F_r] with
ξ ~ N(0, I): the first d = n_in + R standard coordinates ξ_d generate the *drive* loadings
(M, U) — the only ones φ ever sees, h_i = m_i κ^in + u_i κ^rec — and the other r = R + n_out
coordinates ξ_r the remaining part of (V, Z) given (M, U). V and Z enter every gradient
linearly, the nonlinearity acts through ξ_d only. So the rule is a tensor Gauss–Hermite rule
with `nodes` points along each drive direction and `nodes_rest` along each other direction:
for P ≤ 4 both default to 9 (a plain tensor rule, 9⁴ = 6561 nodes for rank 1); for larger P
the rest directions default to 3 points (exact for polynomials of degree 5 in ξ_r), so rank 2
with one input and output costs 9³·3³ = 19683 nodes instead of 9⁶ = 531441. Sparse (Smolyak)
grids were not chosen: their negative weights turn node-wise descent into ascent for some
nodes. Each run reports its own quadrature error against a coarser rule (`learn_limit`).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._errors import ConfigError
from ._gaussianity import GaussianityStats, gaussianity_stats, qq_correlation
from ._loop import EpochRecords, LoopResult, default_chunk, make_chunk_runner, run_epochs
from ._losses import loss_from_outputs
from ._network import NetworkSpec, split_vectors
from ._overlaps import check_sigma
from ._tasks import batch_for_epoch, check_task_for

__all__ = [
    "QuadratureNodes",
    "LimitState",
    "GaussianityTrack",
    "limit_nodes",
    "sample_nodes",
    "particle_outputs",
    "particle_loss",
    "particle_value_and_grad",
    "interpolate_nodes",
    "qq_bases",
    "learn_particles",
    "train_theta_adjoint",
    "learn_limit",
    "theta_nodes",
    "limit_summary",
    "gaussianity_arrays",
    "closure_warning",
    "CLOSURE_WARN_THRESHOLD",
]

MAX_NODES = 2_000_000


class QuadratureNodes(NamedTuple):
    """Weighted initial loadings: X0 (K, P) rows and weights (K,), Σ_k w_k = 1.

    `grid` (tensor rules only): the 1-D standard-normal nodes of each of the P coordinates, in
    the row-major order of the rows; it lets the Q-Q statistic interpolate the node map.
    """

    X0: jax.Array
    weights: jax.Array
    grid: tuple | None = None


QQ_SAMPLES = 4096
QQ_SEED = 0
"""Q-Q correlations of tensor-rule nodes use this many N(0, I) points (drawn from this seed) at
which the node map X(t) = F_t(ξ) is evaluated by tensor Lagrange interpolation through the
Gauss–Hermite nodes: the node values themselves are a discrete law (a few atoms per
coordinate) whose Q-Q correlation is < 1 even for a Gaussian. Moments need no such step."""


def _barycentric_basis(nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Lagrange basis L_i(x) (S, n) through `nodes` (n,), barycentric form."""
    diff = nodes[:, None] - nodes[None, :]
    np.fill_diagonal(diff, 1.0)
    bw = 1.0 / np.prod(diff, axis=1)
    d = x[:, None] - nodes[None, :]
    d = np.where(d == 0, 1e-300, d)
    t = bw[None, :] / d
    return t / np.sum(t, axis=1, keepdims=True)


def qq_bases(grid: tuple, *, samples: int = QQ_SAMPLES, seed: int = QQ_SEED) -> tuple:
    """Per-coordinate Lagrange bases (S, n_j) at `samples` standard-normal points (seeded)."""
    xi = np.random.default_rng(seed).standard_normal((samples, len(grid)))
    return tuple(jnp.asarray(_barycentric_basis(np.asarray(g), xi[:, j]))
                 for j, g in enumerate(grid))


def interpolate_nodes(X, bases):
    """Evaluate the node map at the sample points: X (K, P) on the tensor grid → (S, P)."""
    shape = tuple(b.shape[1] for b in bases) + (X.shape[1],)
    T = jnp.tensordot(bases[0].astype(X.dtype), X.reshape(shape), axes=(1, 0))
    for b in bases[1:]:
        T = jnp.einsum("si,si...->s...", b.astype(X.dtype), T)
    return T


class GaussianityTrack(NamedTuple):
    """Gaussianity statistics recorded during learning.

    Attributes:
        epochs: (n,) epochs of the snapshots (state before that epoch's update; the last one
            is the final state).
        stats: `GaussianityStats` with a leading axis of length n.
    """

    epochs: np.ndarray
    stats: GaussianityStats


class LimitState(NamedTuple):
    """Final state of a particle run (the `state` field of its `LoopResult`).

    Attributes:
        X: (K, P) final loadings; X0: (K, P) initial ones; weights: (K,).
        quadrature_error: max relative loss-curve difference to the coarser rule (None when
            not checked, or for Monte-Carlo nodes).
        sigma_error: max |ΔΣ| against the coarser rule (or None).
        coarse_nodes: K of the coarser rule (or None).
        gaussianity: a `GaussianityTrack`, or None.
    """

    X: np.ndarray
    X0: np.ndarray
    weights: np.ndarray
    quadrature_error: float | None = None
    sigma_error: float | None = None
    coarse_nodes: int | None = None
    gaussianity: GaussianityTrack | None = None


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _drive_rest(spec: NetworkSpec) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(spec.P)
    drive = np.r_[idx[spec.m], idx[spec.u]]
    rest = np.r_[idx[spec.v], idx[spec.z]]
    return drive, rest


def _psd_factor(S: np.ndarray) -> np.ndarray:
    """F with FᵀF = S for a PSD S (eigendecomposition; Cholesky fails on singular S)."""
    lam, W = np.linalg.eigh(0.5 * (S + S.T))
    return np.sqrt(np.clip(lam, 0.0, None))[:, None] * W.T


def _hermite_1d(n: int) -> tuple[np.ndarray, np.ndarray]:
    xi, w = np.polynomial.hermite_e.hermegauss(n)
    return xi, w / w.sum()


def limit_nodes(
    sigma0, spec: NetworkSpec, *, nodes: int = 9, nodes_rest: int | None = None
) -> QuadratureNodes:
    """Gaussian quadrature over X(0) ~ N(0, Σ₀) (module docstring for the rule).

    Args:
        sigma0: (P, P) initial overlaps Σ₀ (symmetric PSD).
        spec: architecture (gives the drive directions M, U and the rest V, Z).
        nodes: Gauss–Hermite points along each of the n_in + R drive directions (≥ 2).
        nodes_rest: points along each of the R + n_out other directions; default `nodes`
            when P ≤ 4, else 3.

    Returns:
        `QuadratureNodes` with K = nodes^(n_in+R) · nodes_rest^(R+n_out) rows; the rule is
        exact for Σ_k w_k X_kᵀ X_k = Σ₀ and every polynomial moment of degree < 2·min(n).
    """
    sigma0 = check_sigma(sigma0, spec, what="Σ₀")
    if nodes_rest is None:
        nodes_rest = nodes if spec.P <= 4 else 3
    for name, value in (("nodes", nodes), ("nodes_rest", nodes_rest)):
        if not _is_int(value) or not 2 <= value <= 60:
            raise ConfigError(f"limit {name} must be an integer in [2, 60], got {value!r}")
    drive, rest = _drive_rest(spec)
    d, r = len(drive), len(rest)
    K = nodes**d * nodes_rest**r
    if K > MAX_NODES:
        raise ConfigError(
            f"limit rule has {K} nodes ({nodes}^{d} · {nodes_rest}^{r}); at most {MAX_NODES}: "
            "lower nodes or nodes_rest"
        )
    S_dd = sigma0[np.ix_(drive, drive)]
    S_dr = sigma0[np.ix_(drive, rest)]
    S_rr = sigma0[np.ix_(rest, rest)]
    S_dd_pinv = np.linalg.pinv(S_dd, rcond=1e-12, hermitian=True)
    B = S_dd_pinv @ S_dr  # regression of the rest on the drive loadings
    F_d = _psd_factor(S_dd)
    F_r = _psd_factor(S_rr - S_dr.T @ S_dd_pinv @ S_dr)

    grids, weights = [], []
    for n in (nodes,) * d + (nodes_rest,) * r:
        xi, w = _hermite_1d(n)
        grids.append(xi)
        weights.append(w)
    mesh = np.meshgrid(*grids, indexing="ij")
    xi = np.stack([g.reshape(-1) for g in mesh], axis=1)  # (K, P)
    wmesh = np.meshgrid(*weights, indexing="ij")
    w = np.prod(np.stack([g.reshape(-1) for g in wmesh], axis=1), axis=1)
    X_d = xi[:, :d] @ F_d
    X_r = X_d @ B + xi[:, d:] @ F_r
    X0 = np.empty((K, spec.P))
    X0[:, drive] = X_d
    X0[:, rest] = X_r
    grid = tuple(np.asarray(g) for g in grids)
    return QuadratureNodes(jnp.asarray(X0), jnp.asarray(w / w.sum()), grid)


def sample_nodes(sigma0, spec: NetworkSpec, N: int, *, seed: int) -> QuadratureNodes:
    """N i.i.d. rows X_i ~ N(0, Σ₀) with weights 1/N: a finite network drawn from the limit's law.

    Learning these nodes with `learn_particles` is θ-space GD (step N·η) of that network.
    """
    sigma0 = check_sigma(sigma0, spec, what="Σ₀")
    if not _is_int(N) or N < 1:
        raise ConfigError(f"N must be an integer ≥ 1, got {N!r}")
    G = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (N, spec.P), jnp.float64))
    return QuadratureNodes(jnp.asarray(G @ _psd_factor(sigma0)), jnp.full((N,), 1.0 / N))


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
            (default 2¹⁹, 4 MiB of float64, measured fastest on this project's CPU).

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


def _optimizer(name: str, eta, adam_eps: float = 1e-8) -> optax.GradientTransformation:
    # Applied to the node-wise gradient (∂L/∂X_k)/w_k: GD is X_k ← X_k − η (∂L/∂X_k)/w_k.
    if name == "gd":
        return optax.sgd(eta)
    if name == "adam":
        return optax.adam(eta, eps=adam_eps)
    raise ConfigError(f"unknown optimizer {name!r}; valid: gd, adam")


def _mirror_half(X0, weights, spec: NetworkSpec) -> int | None:
    """Number of simulated nodes when the run can use the mirror symmetry, else None.

    For odd φ the node map is odd, F_t(−X) = −F_t(X): with h_k → −h_k every population sum
    Σ_k w_k (v_k, z_k) φ(h_k) is unchanged and every node gradient flips sign, under GD and
    Adam alike (docs/theory.md §8). A symmetric tensor Gauss–Hermite rule lists node k and its mirror
    −X_k at rows k and K−1−k (and, for odd K, the origin in the middle, which never moves), so
    the first ⌊K/2⌋ rows with doubled weights carry the whole run at half the cost.
    """
    if not spec.nonlinearity.odd:
        return None
    X0n, wn = np.asarray(X0), np.asarray(weights)
    K = wn.shape[0]
    if K < 2:
        return None
    scale = max(1.0, float(np.max(np.abs(X0n))))
    mirrored = np.all(np.abs(X0n[::-1] + X0n) <= 1e-13 * scale)
    same_w = np.all(np.abs(wn[::-1] - wn) <= 1e-13 * np.max(np.abs(wn)))
    return K // 2 if (mirrored and same_w) else None


def _unfold(Xh, K: int):
    """The full node set from its first ⌊K/2⌋ rows (`_mirror_half`): [X_h | 0 | −X_h reversed]."""
    middle = jnp.zeros((K - 2 * Xh.shape[0], Xh.shape[1]), Xh.dtype)
    return jnp.concatenate([Xh, middle, -Xh[::-1]])


def _snapshot(X, X0, weights, bases) -> GaussianityStats:
    if X.shape[0] != X0.shape[0]:  # a folded run (`_mirror_half`)
        X = _unfold(X, X0.shape[0])
    snap = gaussianity_stats(X, X0, weights)
    if bases is not None:  # tensor rule: Q-Q of the interpolated node map (see QQ_SAMPLES)
        snap = snap._replace(qq_corr=qq_correlation(interpolate_nodes(X, bases)))
    return snap


class _Carry(NamedTuple):
    X: jax.Array
    opt_state: object
    track: GaussianityStats  # (n_track, ...) buffers


#: XLA:CPU compiles for 256-bit vectors by default even where the CPU has 512-bit ones. The node
#: engine is elementwise φ, φ' over (B, K) blocks, so it asks for full-width vectors: on this
#: project's AVX-512 CPU that made erf's epoch (exp, division, polynomial) 1.1–1.2× faster and
#: left tanh's unchanged. Only a preference: CPUs without 512-bit vectors compile as before.
WIDE_VECTORS = {"xla_cpu_prefer_vector_width": 512}


@functools.partial(
    jax.jit,
    static_argnames=("spec", "task", "loss_kind", "optimizer", "chunk", "every", "adam_eps"),
    compiler_options=WIDE_VECTORS,
)
def _particle_chunk(carry, epoch0, total, X0, weights, run_weights, bases, eta, seed, *, spec,
                    task, loss_kind, optimizer, chunk, every, adam_eps=1e-8):
    # X0, weights: the full rule (for the statistics); the carry's X and run_weights: the nodes
    # actually simulated (the first half of a mirror-symmetric rule, weights doubled).
    opt = _optimizer(optimizer, eta, adam_eps)

    def step(st, epoch):
        X = st.X
        batch = jax.tree_util.tree_map(
            lambda a: a.astype(X.dtype), batch_for_epoch(task, seed, epoch)
        )
        # Only epochs < total are updated: the final record (epoch == total) needs the loss
        # alone, and the padding of the last chunk nothing (`run_epochs` drops its records).
        def loss_only():
            A, WR = _drive_and_readout(X, run_weights, spec)
            return _latent_forward(A, WR, batch, spec, loss_kind)[0], jnp.zeros_like(X)

        loss, node_grad = jax.lax.switch(
            jnp.clip(epoch - total + 1, 0, 2),
            [lambda: particle_value_and_grad(X, run_weights, batch, spec, loss_kind),
             loss_only,
             lambda: (jnp.zeros((), X.dtype), jnp.zeros_like(X))],
        )
        updates, opt_state = opt.update(node_grad, st.opt_state, X)
        sigma = (run_weights[:, None] * X).T @ X
        track = st.track
        if every:
            def record(tr):
                snap = _snapshot(X, X0, weights, bases)
                return jax.tree_util.tree_map(
                    lambda buf, s: buf.at[epoch // every].set(s), tr, snap
                )

            track = jax.lax.cond(epoch % every == 0, record, lambda tr: tr, track)
        new = _Carry(optax.apply_updates(X, updates), opt_state, track)
        return new, EpochRecords(loss, sigma)

    return make_chunk_runner(step, chunk)(carry, epoch0, total)


def learn_particles(
    nodes: QuadratureNodes,
    task,
    spec: NetworkSpec,
    *,
    loss: str = "sum_dt",
    optimizer: str = "gd",
    eta: float,
    epochs: int,
    seed: int = 0,
    track_every: int | None = None,
    chunk: int | None = None,
    progress: bool = False,
    desc: str = "limit",
    dtype=jnp.float64,
    fold: bool = True,
    adam_eps: float = 1e-8,
) -> LoopResult:
    """Learn weighted nodes (quadrature or Monte-Carlo) by node-wise GD (or Adam).

    Args:
        nodes: `QuadratureNodes` (X0 (K, P), weights (K,)).
        task: epoch e uses `batch_for_epoch(task, seed, e)` (the batches of every mode).
        loss: loss kind; eta: learning rate η (GD: X_k ← X_k − η (∂L/∂X_k)/w_k).
        epochs: number of updates E; E + 1 entries are recorded.
        track_every: record `GaussianityStats` every this many epochs (and at the end);
            with a tensor rule (`nodes.grid`), qq_corr is that of the interpolated node map
            at `QQ_SAMPLES` seeded Gaussian points.
        fold: for odd φ and a mirror-symmetric rule (every tensor Gauss–Hermite rule),
            simulate half of the nodes (`_mirror_half`): the same numbers at half the cost.
        adam_eps: Adam's ε, compared with the node-wise gradient (∂L/∂X_k)/w_k. For the N rows
            of a network (`theta_nodes`, w = 1/N) ε = N·1e-8 makes it exactly θ-space Adam
            (`train_theta`, ε = 1e-8 on ∂L/∂X): Adam is invariant to the gradient's scale but ε.

    Returns:
        `LoopResult` with loss (E+1,), sigma = Σ_k w_k X_kᵀX_k (E+1, P, P), and state a
        `LimitState` (quadrature_error None: see `learn_limit`).
    """
    check_task_for(task, spec)
    if not _is_int(epochs) or epochs < 1:
        raise ConfigError(f"epochs must be an integer ≥ 1, got {epochs!r}")
    every = 0 if track_every is None else track_every
    if not _is_int(every) or every < 0:
        raise ConfigError(f"track_every must be a positive integer or None, got {track_every!r}")
    X0 = jnp.asarray(nodes.X0, dtype)
    weights = jnp.asarray(nodes.weights, dtype)
    if X0.ndim != 2 or X0.shape[1] != spec.P or weights.shape != (X0.shape[0],):
        raise ConfigError(
            f"nodes must be X0 (K, {spec.P}) and weights (K,), got {X0.shape} and {weights.shape}"
        )
    chunk = chunk or default_chunk(epochs)
    eta_arr = jnp.asarray(eta, dtype)
    grid = nodes.grid if len(nodes) > 2 else None
    bases = qq_bases(grid) if (every and grid is not None) else None
    n_track = (epochs - 1) // every + 1 if every else 0
    P = spec.P
    track = GaussianityStats(
        jnp.full((n_track, P), jnp.nan, dtype), jnp.full((n_track, P), jnp.nan, dtype),
        jnp.full((n_track, P), jnp.nan, dtype), jnp.full((n_track, P), jnp.nan, dtype),
        jnp.full((n_track,), jnp.nan, dtype),
    )
    half = _mirror_half(X0, weights, spec) if fold else None
    X_run, run_weights = (X0, weights) if half is None else (X0[:half], 2.0 * weights[:half])
    carry = _Carry(X_run, _optimizer(optimizer, eta_arr, adam_eps).init(X_run), track)
    runner = functools.partial(
        _particle_chunk, X0=X0, weights=weights, run_weights=run_weights, bases=bases,
        eta=eta_arr, seed=seed, spec=spec, task=task, loss_kind=loss, optimizer=optimizer,
        chunk=chunk, every=every, adam_eps=float(adam_eps),
    )
    result = run_epochs(runner, carry, epochs, chunk, progress=progress, desc=desc,
                         P=spec.P)
    final = result.state
    if half is not None:
        final = final._replace(X=_unfold(final.X, X0.shape[0]))
    gauss = None
    if every:
        last = jax.tree_util.tree_map(np.asarray, _snapshot(final.X, X0, weights, bases))
        steps = np.arange(0, epochs, every)
        stats = jax.tree_util.tree_map(
            lambda buf, s: np.concatenate([np.asarray(buf), np.asarray(s)[None]]),
            final.track, last,
        )
        gauss = GaussianityTrack(np.r_[steps, epochs], stats)
    state = LimitState(np.asarray(final.X), np.asarray(X0), np.asarray(weights), gaussianity=gauss)
    return result._replace(state=state)


def _coarser(n: int, step: int) -> int:
    return max(2, n - step)


def learn_limit(
    sigma0,
    task,
    spec: NetworkSpec,
    *,
    loss: str = "sum_dt",
    eta: float,
    epochs: int,
    seed: int = 0,
    nodes: int = 9,
    nodes_rest: int | None = None,
    check: bool = True,
    optimizer: str = "gd",
    track_every: int | None = None,
    chunk: int | None = None,
    progress: bool = False,
    dtype=jnp.float64,
) -> LoopResult:
    """Learning of the N → ∞ network from Σ₀ (docs/theory.md §8): mode `limit`.

    Args:
        sigma0: (P, P) initial overlaps; the initial loadings are X(0) ~ N(0, Σ₀).
        task, loss, eta, epochs, seed: as `learn_overlaps` (same batches, same η).
        nodes, nodes_rest: the quadrature (`limit_nodes`).
        check: also run the coarser rule (nodes − 3, and nodes_rest − 3 for P ≤ 4 or
            nodes_rest − 1 otherwise, at least 2) and report the difference as the run's
            quadrature error.
        optimizer: "gd" (the limit of θ-space GD with step N·η) or "adam" (node-wise Adam).
        track_every: record Gaussianity statistics every this many epochs.

    Returns:
        `LoopResult`: loss (E+1,), sigma (E+1, P, P), diverged_at, interrupted_at, and state a
        `LimitState` with the final nodes and `quadrature_error` (max relative loss-curve
        difference to the coarser rule), `sigma_error` (max |ΔΣ|) and `coarse_nodes`.
    """
    check_task_for(task, spec)
    rule = limit_nodes(sigma0, spec, nodes=nodes, nodes_rest=nodes_rest)
    common = dict(loss=loss, optimizer=optimizer, eta=eta, epochs=epochs, seed=seed,
                  chunk=chunk, dtype=dtype)
    result = learn_particles(rule, task, spec, track_every=track_every, progress=progress,
                             desc=f"limit K={rule.weights.shape[0]}", **common)
    if not check or result.interrupted_at is not None:
        return result
    rest = nodes_rest if nodes_rest is not None else (nodes if spec.P <= 4 else 3)
    coarse_rest = _coarser(rest, 3 if spec.P <= 4 else 1)
    coarse = limit_nodes(sigma0, spec, nodes=_coarser(nodes, 3), nodes_rest=coarse_rest)
    ref = learn_particles(coarse, task, spec, progress=progress,
                          desc=f"limit check K={coarse.weights.shape[0]}", **common)
    ok = np.isfinite(result.loss) & np.isfinite(ref.loss) & (result.loss != 0)
    q_err = float(np.max(np.abs(ref.loss[ok] / result.loss[ok] - 1.0))) if ok.any() else None
    okS = np.all(np.isfinite(result.sigma), axis=(1, 2)) & np.all(np.isfinite(ref.sigma), axis=(1, 2))
    s_err = float(np.max(np.abs(ref.sigma[okS] - result.sigma[okS]))) if okS.any() else None
    state = result.state._replace(
        quadrature_error=q_err, sigma_error=s_err, coarse_nodes=int(coarse.weights.shape[0])
    )
    return result._replace(state=state)


def theta_nodes(X) -> QuadratureNodes:
    """The N rows of a network's vectors X (N, P) as nodes of weight 1/N (θ-space GD)."""
    X = jnp.asarray(X)
    return QuadratureNodes(X, jnp.full((X.shape[0],), 1.0 / X.shape[0], X.dtype))


def train_theta_adjoint(X0, task, spec: NetworkSpec, *, optimizer: str = "gd", desc: str = "theta",
                        **kwargs) -> LoopResult:
    """θ-space training of a network's rows X0 (N, P) by the node engine's hand-written adjoint.

    The same run as `train_theta` (GD: X ← X − N·η ∂L/∂X; Adam with ε = 1e-8 on ∂L/∂X, here
    ε = N·1e-8 on the node-wise gradient N·∂L/∂X), equal to it to ~1e-10 in loss and Σ, and
    about 5× faster for erf and tanh on CPU (flip-flop, N = 1000). `train_theta` (autodiff
    through the time loop) stays the independent reference that the exactness tests use.

    Args:
        X0: (N, P) initial vectors; other arguments as `learn_particles` (loss, eta, epochs,
            seed, track_every, chunk, progress, dtype).

    Returns:
        `LoopResult` whose state is a `LimitState` (final rows in `.X`).
    """
    check_task_for(task, spec)
    X0 = jnp.asarray(X0)
    return learn_particles(theta_nodes(X0), task, spec, optimizer=optimizer, desc=desc,
                           adam_eps=1e-8 * X0.shape[0], fold=False, **kwargs)


# -- hooks used by `compare` (summary numbers, arrays, the closure-error warning) ------------

CLOSURE_WARN_THRESHOLD = 0.01
"""`compare` warns when the limit and the overlap closure differ by more than this (max
relative loss-curve difference): the Gaussian closure then misdescribes even N → ∞ (§8)."""

_CLOSURE_MODES = ("exact", "flow", "euler")
_STATS = ("kurtosis", "skewness", "qq_corr", "out_of_span", "out_of_span_total")


def _max_rel(a: np.ndarray, ref: np.ndarray) -> float | None:
    ok = np.isfinite(a) & np.isfinite(ref) & (ref != 0)
    return float(np.max(np.abs(a[ok] / ref[ok] - 1.0))) if ok.any() else None


def _track(run) -> GaussianityTrack | None:
    return getattr(run.state, "gaussianity", None) if isinstance(run.state, LimitState) else None


def limit_summary(comp) -> dict:
    """Summary entries of a `Comparison` for docs/theory.md §8 (empty when no mode needs them).

    - closure_error: {closure mode: max relative loss-curve difference to `limit`};
    - quadrature_error / quadrature_sigma_error: the limit run's difference to a coarser rule;
    - gaussianity_final: {mode: {statistic: per-vector values at the last tracked epoch}}.
    """
    out: dict = {}
    runs = comp.runs
    if "limit" in runs:
        lim = runs["limit"]
        out["closure_error"] = {
            m: _max_rel(runs[m].loss, lim.loss) for m in _CLOSURE_MODES if m in runs
        }
        out["closure_warn_threshold"] = CLOSURE_WARN_THRESHOLD
        if isinstance(lim.state, LimitState):
            out["quadrature_error"] = lim.state.quadrature_error
            out["quadrature_sigma_error"] = lim.state.sigma_error
            out["limit_nodes"] = int(lim.state.weights.shape[0])
            out["limit_check_nodes"] = lim.state.coarse_nodes
    finals = {}
    for mode, run in runs.items():
        track = _track(run)
        if track is not None:
            finals[mode] = {
                "epoch": int(track.epochs[-1]),
                **{k: np.asarray(getattr(track.stats, k))[-1] for k in _STATS},
            }
    if finals:
        out["gaussianity_final"] = finals
    return out


def gaussianity_arrays(comp) -> dict[str, np.ndarray]:
    """results.npz arrays gauss_epochs_<mode> (n,) and gauss_<statistic>_<mode> (n, P) or (n,)."""
    arrays = {}
    for mode, run in comp.runs.items():
        track = _track(run)
        if track is None:
            continue
        arrays[f"gauss_epochs_{mode}"] = np.asarray(track.epochs)
        for k in _STATS:
            arrays[f"gauss_{k}_{mode}"] = np.asarray(getattr(track.stats, k))
    return arrays


def closure_warning(summary: dict, threshold: float = CLOSURE_WARN_THRESHOLD) -> str | None:
    """A one-line warning when the limit differs from the overlap closure by > threshold."""
    errors = {m: e for m, e in summary.get("closure_error", {}).items() if e is not None}
    if not errors:
        return None
    mode, err = max(errors.items(), key=lambda kv: kv[1])
    if err <= threshold:
        return None
    return (
        f"the N → ∞ limit and the overlap closure ({mode}) differ by {err:.3g} (max relative "
        f"loss-curve difference) > {threshold:g}: the Gaussian closure misdescribes this "
        "network even at large N (docs/theory.md §8)"
    )
