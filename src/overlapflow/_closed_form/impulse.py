"""Closed-form, T-independent loss of impulse-response tasks on linear networks (docs/theory.md §3, §7).

For a linear network the effective dynamics (docs/theory.md §3) are κ_{t+1} = A κ_t + dt·[x_t; 0] with
the latent step matrix

    A = (1 − dt) I + dt [[0, 0], [Σ_VM, Σ_VU]]            (K × K, K = n_in + R)

and y_t = C κ_{t+1}, C = [Σ_ZM | Σ_ZU]. Trial i of an impulse task has x_0 = e_i/dt, so
κ_1 = E e_i (E = [I; 0]) and y_t = C Aᵗ E e_i. The targets are themselves the output of a
small linear system, k_t = h Fᵗ g, with F = r (impulse_exp, r = e^{−c dt}) or F = r·Rot(ω dt)
(impulse_damped_cos). Stacking network and target into one augmented system

    Ã = diag(A, F),   C̃ = [C | −1 h],   Ξ = [[E], [g 1ᵀ]]     (K̃ = K + dim F)

the error of every trial and output is C̃ Ãᵗ Ξ, so the "sum_dt" loss is

    L = dt Σ_{t<T} ‖C̃ Ãᵗ Ξ‖²_F = dt tr(Ξᵀ W_T Ξ),    W_T = Σ_{t<T} Ãᵗᵀ C̃ᵀC̃ Ãᵗ.

The three parts of the loss (outputs, cross term, target) are in this one formula: Σ y² is the A-block of W_T, the cross
term with the target is the (A, F) block (the geometric series Σ k_t C Aᵗ E), and Σ k² the F-block.
W_T is the solution of the finite-horizon discrete Stein (Lyapunov) equation

    W − Ãᵀ W Ã = C̃ᵀC̃ − (Ã^T)ᵀ C̃ᵀC̃ Ã^T,

computed by the squared Smith iteration (W_{2n} = W_n + (Ãⁿ)ᵀ W_n Ãⁿ, Ã^{2n} = Ãⁿ Ãⁿ), which is
exact for finite T after ⌈log₂ T⌉ doublings. Unlike solving (I − Ãᵀ⊗Ãᵀ) vec W = vec(…) it never
inverts anything, so it stays accurate at spectral radius ρ(A) near or above 1 (where the
infinite-horizon form is singular). The cost is O(K̃³ log T): a 10⁴-step task costs 14 doublings.

Accuracy. tr(Ξᵀ W Ξ) loses *relative* accuracy when the loss is small compared with Σy² + Σk²
(cancellation: near convergence the error is ~1e-14 absolute). The loss *value* is therefore
taken from the square-root form of the same iteration, L = dt ‖R_T Ξ‖² with R_Tᵀ R_T = W_T
(R_{2n} = qr_R([R_n; R_n Ãⁿ]), Householder), which is as accurate as stepping; the gradient
comes from JAX autodiff of the Gramian form (same function, smooth everywhere).

T-free forms. For rank-1 networks on impulse_exp, `_closed_form.rank1` evaluates the same
loss in a Newton basis of the three modes (α, d, r) at a cost that does not depend on T at
all; `_closed_form.newton` does the same for both impulse tasks up to rank 3 (exp) or 2
(damped cosine), with complex nodes: the network's eigenvalues and the target's modes. It is
used at every T for rank 1 and from `NEWTON_MIN_STEPS[rank]` steps on for ranks 2 and 3
(below that the doubling is faster). `closed_form_value_and_grad` uses them wherever their
error bounds allow and the doubling otherwise (a `lax.cond`, decided once per batch of runs).

Fall-back. `value_and_grad_for` / `loss_fn_for` choose the stepped `overlap_loss` inside jit
(`lax.cond`) whenever the doubling closed form is not trustworthy: a non-finite value
(overflow at ρ(A)^T beyond float range), or the Gramian and square-root values disagreeing by
more than `CANCEL_TOL`·(dt(Σy² + Σk²)) (a direct measurement of the cancellation error the
gradient can carry).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._model.effective import overlap_loss, overlap_value_and_grad
from .._model.network import NetworkSpec
from .._support.linalg import lane_lift, lane_matmul, lane_transpose
from .newton import newton_form_applies, newton_loss_parts
from .rank1 import rank1_form_applies, rank1_loss_parts

__all__ = [
    "IMPULSE_KINDS",
    "closed_form_applies",
    "impulse_loss_parts",
    "impulse_closed_form_loss",
    "closed_form_value_and_grad",
    "loss_fn_for",
    "value_and_grad_for",
]

IMPULSE_KINDS = ("impulse_exp", "impulse_damped_cos")

#: Shortest task (steps) from which `_closed_form.newton` replaces the doubling, by rank:
#: (one run, runs batched in SIMD lanes). Both are exact; this is speed only. The Newton form
#: costs the same at every T, the doubling a little more per doubling of T; the per-epoch
#: costs on docs/performance.md#closed-form place the thresholds: rank 1 (damped cos) the
#: Newton form is as fast or faster at every T, alone and in lanes; rank 2 the doubling is
#: faster alone below 2¹⁸ steps and in lanes far beyond; rank 3 (general eigensolver) the
#: doubling is faster to at least 2²⁰. From 2²⁴ steps on (the last two) the Newton form
#: bounds the cost of an epoch independently of T, at a small multiple of the doubling's
#: there. Rank-1 impulse_exp always uses `_closed_form.rank1`.
NEWTON_MIN_STEPS = {1: (0, 0), 2: (1 << 18, 1 << 24), 3: (1 << 24, 1 << 24)}

#: Trust threshold, in units of eps(dtype): the closed form is used when
#: |L_gramian − L_sqrt| ≤ CANCEL_TOL · eps · dt(Σy² + Σk²) (f64: ≈ 2e-10 of the output scale).
CANCEL_TOL = 1e6


def closed_form_applies(task, spec: NetworkSpec, loss_kind: str) -> bool:
    """True when the closed form is exactly the loss: impulse task without target noise,
    linear φ, loss "sum_dt"."""
    return (
        task is not None
        and getattr(task, "kind", None) in IMPULSE_KINDS
        and getattr(task, "target_noise", 0.0) == 0.0
        and spec.is_linear
        and loss_kind == "sum_dt"
    )


def _decay(task) -> float:
    # The task module names the decay `decay` (older versions: `c`).
    return float(task.decay if hasattr(task, "decay") else task.c)


def _target_generator(task):
    """(F, g, h) with k_t = h Fᵗ g = target at readout t (time (t+1)·dt), as numpy arrays."""
    dt = float(task.dt)
    r = math.exp(-_decay(task) * dt)
    a = float(getattr(task, "amplitude", 1.0))
    if task.kind == "impulse_exp":
        return np.array([[r]]), np.array([a * r]), np.array([1.0])
    th = float(task.omega) * dt
    c, s = math.cos(th), math.sin(th)
    F = r * np.array([[c, -s], [s, c]])
    return F, a * r * np.array([c, s]), np.array([1.0, 0.0])


def _augmented(sigma, spec: NetworkSpec, task):
    """Return (Ã (K̃,K̃,*b), C̃ (n_out,K̃,*b), Ξ (K̃,n_in,1…), K) of the augmented error system.

    `sigma` is (P, P, *b): batch axes trail.
    """
    dtype = sigma.dtype
    batch = sigma.shape[2:]
    nb = len(batch)
    n_in, R, K = spec.n_in, spec.rank, spec.latent_dim
    dt = spec.dt
    mu = np.r_[np.arange(n_in), n_in + np.arange(R)]
    s_vk = sigma[spec.v][:, mu]  # (R, K, *b)
    s_zk = sigma[spec.z][:, mu]  # (n_out, K, *b)
    F, g, h = (jnp.asarray(x, dtype) for x in _target_generator(task))
    m = F.shape[0]
    A = jnp.broadcast_to(lane_lift((1.0 - dt) * jnp.eye(K, dtype=dtype), nb), (K, K) + batch)
    A = A.at[n_in:, :].add(dt * s_vk)
    At = jnp.zeros((K + m, K + m) + batch, dtype).at[:K, :K].set(A)
    At = At.at[K:, K:].set(jnp.broadcast_to(lane_lift(F, nb), (m, m) + batch))
    Ch = jnp.broadcast_to(lane_lift(-jnp.ones((spec.n_out, 1), dtype) * h[None, :], nb),
                          (spec.n_out, m) + batch)
    Ct = jnp.concatenate([s_zk, Ch], axis=1)
    E = jnp.zeros((K, n_in), dtype).at[:n_in, :].set(jnp.eye(n_in, dtype=dtype))
    Xi = lane_lift(jnp.concatenate([E, g[:, None] * jnp.ones((1, n_in), dtype)], axis=0), nb)
    return At, Ct, Xi, K


def _doubling(block, At, T: int, join):
    """Σ_{t<T} of a series whose terms are block·Ãᵗ-like, by doubling over the bits of T.

    `join(first, second, P)` combines the part for t < n (first) with the part for
    n ≤ t < 2n written through P = Ãⁿ (second is the block of t < n, shifted by P). The
    block for 2n terms is `join(block, block, Ãⁿ)`; bits of T set add a block to the sum.
    T is static: ⌈log₂ T⌉ doublings, unrolled.
    """
    acc = P_acc = None
    A_blk, n = At, T
    while True:
        if n & 1:
            if acc is None:
                acc, P_acc = block, A_blk
            else:
                acc = join(acc, block, P_acc)
                P_acc = lane_matmul(P_acc, A_blk)
        n >>= 1
        if n == 0:
            return acc
        block = join(block, block, A_blk)
        A_blk = lane_matmul(A_blk, A_blk)


def _gramian(At, Q, T: int):
    """W = Σ_{t<T} Ãᵗᵀ Q Ãᵗ by squared Smith doubling over the bits of T (static)."""
    return _doubling(Q, At, T, lambda W, V, P: W + lane_matmul(lane_transpose(P),
                                                                 lane_matmul(V, P)))


def _r_factor(S):
    """R (k, k, *b) with RᵀR = SᵀS for S (m, k, *b), m ≥ k: unrolled Householder (value only).

    Full-height reflections with masked vectors: one array shape throughout (fast to compile).
    """
    m, k = S.shape[:2]
    rows = jnp.arange(m).reshape((m,) + (1,) * (S.ndim - 2))  # (m, 1…)
    for j in range(k):
        x = jnp.where(rows >= j, S[:, j], 0.0)  # (m, *b)
        norm = jnp.sqrt(jnp.sum(x * x, axis=0))
        alpha = -jnp.where(S[j, j] >= 0, 1.0, -1.0) * norm
        v = x - jnp.where(rows == j, alpha, 0.0)
        vv = jnp.sum(v * v, axis=0)
        beta = jnp.where(vv > 0, 2.0 / jnp.where(vv > 0, vv, 1.0), 0.0)
        S = S - (beta * v)[:, None] * jnp.sum(v[:, None] * S, axis=0)[None]
    return S[:k]


def _sqrt_gramian(At, Ct, T: int):
    """R_T (K̃, K̃, *b) with R_Tᵀ R_T = Σ_{t<T} Ãᵗᵀ C̃ᵀC̃ Ãᵗ (square-root Smith doubling)."""
    k = At.shape[0]
    if Ct.shape[0] >= k:
        R_blk = _r_factor(Ct)
    else:
        R_blk = jnp.zeros((k,) + Ct.shape[1:], Ct.dtype).at[: Ct.shape[0]].set(Ct)
    return _doubling(R_blk, At, T,
                     lambda R, V, P: _r_factor(jnp.concatenate([R, lane_matmul(V, P)], axis=0)))


def impulse_loss_parts(sigma, spec: NetworkSpec, task):
    """Closed-form "sum_dt" loss of an impulse task on a linear network, with a trust flag.

    Args:
        sigma: (P, P) overlaps, or (P, P, *b) for a batch (batch axes trail); any float dtype.
        spec: linear network architecture.
        task: an impulse_exp / impulse_damped_cos task (static; T = task.n_steps).

    Returns:
        (loss, ok, scale), each of shape b: the loss, whose value is the square-root form and
        whose gradient is that of the Gramian form; `ok` False where the closed form must not
        be trusted (non-finite, or cancellation above CANCEL_TOL); scale = dt(Σy² + Σk²).
    """
    dt = spec.dt
    At, Ct, Xi, K = _augmented(sigma, spec, task)
    T = int(task.n_steps)
    W = _gramian(At, lane_matmul(lane_transpose(Ct), Ct), T)
    WXi = lane_matmul(W, Xi)
    L_gram = dt * jnp.sum(Xi * WXi, axis=(0, 1))
    scale = dt * (jnp.sum(Xi[:K] * lane_matmul(W[:K, :K], Xi[:K]), axis=(0, 1))
                  + jnp.sum(Xi[K:] * lane_matmul(W[K:, K:], Xi[K:]), axis=(0, 1)))
    R = _sqrt_gramian(jax.lax.stop_gradient(At), jax.lax.stop_gradient(Ct), T)
    L_val = dt * jnp.sum(lane_matmul(R, Xi) ** 2, axis=(0, 1))
    loss = L_gram + jax.lax.stop_gradient(L_val - L_gram)
    eps = jnp.finfo(sigma.dtype).eps
    diff = jax.lax.stop_gradient(jnp.abs(L_val - L_gram))
    ok = jnp.isfinite(L_val) & jnp.isfinite(L_gram) & (diff <= CANCEL_TOL * eps * scale)
    return loss, jax.lax.stop_gradient(ok), jax.lax.stop_gradient(scale)


def impulse_batch(task, dtype):
    """The impulse task's batch (deterministic: the same every epoch), built where it is used.

    The closed form is a function of the task, not of the `batch` its callers pass; the stepped
    fall-back branch builds the batch itself, so that an untaken branch moves no (B, T, ·)
    arrays through every epoch's `lax.cond`.
    """
    batch = task.sample(None)
    return type(batch)(*(a.astype(dtype) for a in batch))


def _doubling_loss(sigma, spec: NetworkSpec, task):
    """(loss, ok) of the doubling form (`impulse_loss_parts` without its scale)."""
    loss, ok, _ = impulse_loss_parts(sigma, spec, task)
    return loss, ok


def _t_free_parts(task, spec: NetworkSpec, batched: bool):
    """The T-free form for this task and architecture, `parts(sigma) -> (loss, ok)`, or None.

    Rank-1 impulse_exp: `_closed_form.rank1` (real arithmetic); other impulse tasks of small
    rank (`newton_form_applies`) with T ≥ `NEWTON_MIN_STEPS[rank][batched]`:
    `_closed_form.newton`.
    """
    if rank1_form_applies(task, spec):
        return lambda x: rank1_loss_parts(x, spec, task)
    if newton_form_applies(task, spec) \
            and int(task.n_steps) >= NEWTON_MIN_STEPS[spec.rank][int(batched)]:
        return lambda x: newton_loss_parts(x, spec, task)
    return None


def _closed_form_loss(sigma, spec: NetworkSpec, task):
    """(loss, ok): the T-free form where it applies and is trusted, else the doubling.

    With trailing batch axes the choice is made for the whole batch (one `lax.cond`).
    """
    fast = _t_free_parts(task, spec, sigma.ndim > 2)
    if fast is None:
        return _doubling_loss(sigma, spec, task)
    loss, ok = fast(sigma)
    return jax.lax.cond(jnp.all(ok), lambda x: (loss, ok),
                        lambda x: _doubling_loss(x, spec, task), sigma)


def closed_form_value_and_grad(sigma, spec: NetworkSpec, task):
    """(loss, ∂loss/∂Σ, ok) of the closed form: T-free form, else the doubling form.

    `sigma` is (P, P) or (P, P, *b) (batch axes trail; the loss is summed over the batch
    for the gradient, so each run gets its own gradient). The T-free form
    (`_closed_form.rank1`, `_closed_form.newton`) is evaluated first; where any run's is
    untrusted, a `lax.cond` evaluates the doubling form instead (nothing is differentiated
    through the cond). `ok` flags runs whose closed form must not be trusted at all (caller
    falls back to stepping).
    """
    def value_and_grad(parts):
        def total(x):
            loss, ok = parts(x)
            return jnp.sum(loss), (loss, ok)

        (_, (loss, ok)), grad = jax.value_and_grad(total, has_aux=True)(sigma)
        return loss, grad, ok

    def doubling(x):
        return _doubling_loss(x, spec, task)

    fast_parts = _t_free_parts(task, spec, sigma.ndim > 2)
    if fast_parts is None:
        return value_and_grad(doubling)
    fast = value_and_grad(fast_parts)
    return jax.lax.cond(jnp.all(fast[2]), lambda: fast, lambda: value_and_grad(doubling))


def impulse_closed_form_loss(sigma, spec: NetworkSpec, task):
    """Closed-form L(Σ) (no stepping fall-back): dt Σ_{t<T} ‖C̃ Ãᵗ Ξ‖². See module doc.

    T-free where that form applies and is trusted (`_closed_form.rank1`,
    `_closed_form.newton`), O(log T) doubling otherwise.
    """
    return _closed_form_loss(sigma, spec, task)[0]


def loss_fn_for(task, spec: NetworkSpec, loss_kind: str):
    """Return `loss(sigma, batch)`: the closed form where it applies, else `overlap_loss`.

    Where `closed_form_applies(task, spec, loss_kind)`, the returned function evaluates the
    closed form and, inside jit, switches (`lax.cond`) to the stepped `overlap_loss` when the
    closed form is flagged untrustworthy (see module doc). For gradients use
    `value_and_grad_for` (reverse mode through a cond would fill the stepped branch's O(T)
    residuals with zeros every call). Under `vmap` the cond becomes a select that evaluates
    both branches; batched callers decide per batch (as `_workflows.sweep` does).
    """
    if not closed_form_applies(task, spec, loss_kind):
        return lambda sigma, batch: overlap_loss(sigma, batch, spec, loss_kind)

    def loss(sigma, batch):
        value, ok = _closed_form_loss(sigma, spec, task)
        return jax.lax.cond(
            ok,
            lambda s, v: v,
            lambda s, v: overlap_loss(s, impulse_batch(task, s.dtype), spec,
                                      loss_kind).astype(v.dtype),
            sigma,
            value,
        )

    return loss


def value_and_grad_for(task, spec: NetworkSpec, loss_kind: str):
    """Return `f(sigma, batch) -> (L, ∂L/∂Σ)`: closed form where it applies, else stepping.

    The closed form's value and gradient are computed first (`closed_form_value_and_grad`);
    a `lax.cond` on its trust flag then either keeps them or computes the stepped
    `overlap_loss` and its gradient instead (nothing is differentiated through the cond, so
    the untaken branch costs nothing).
    """
    def stepped(sigma, batch):
        return overlap_value_and_grad(sigma, batch, spec, loss_kind)

    if not closed_form_applies(task, spec, loss_kind):
        return stepped

    def f(sigma, batch):
        loss, grad, ok = closed_form_value_and_grad(sigma, spec, task)
        return jax.lax.cond(ok, lambda: (loss, grad),
                            lambda: stepped(sigma, impulse_batch(task, sigma.dtype)))

    return f
