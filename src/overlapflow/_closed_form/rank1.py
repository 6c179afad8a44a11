"""T-free closed-form loss of impulse_exp on rank-1 linear networks (docs/theory.md §3, §7).

For rank 1 the latent step matrix is lower triangular,

    A = [[α I, 0], [b, d]],   α = 1 − dt,  d = α + dt σ_vu,  b = dt Σ_VM  (1 × n_in),

so Aᵗ = [[αᵗ I, 0], [b [α,d]ᵗ, dᵗ]], where [x₀…x_k]ᵗ is the divided difference of x ↦ xᵗ over
the nodes x₀…x_k. The error of input i at readout o is then a combination of three modes,

    e_t = C_in αᵗ + (c_d ⊗ b) [α,d]ᵗ − ℓ rᵗ,         ℓ = amplitude·r,  r = e^{−c dt},

C_in = Σ_ZM, c_d = Σ_ZU. Written in the Newton basis δ_k(t) = [λ₀…λ_k]ᵗ of the nodes
λ = (α, d, r), with rᵗ = δ₀ + (r − α) δ₁ + (r − α)(r − d) δ₂,

    e_t = β₀ δ₀(t) + β₁ δ₁(t) + β₂ δ₂(t),
    β₀ = C_in − ℓ,  β₁ = c_d ⊗ b − ℓ (r − α),  β₂ = −ℓ (r − α)(r − d).

Every β vanishes as the network reproduces the target (C_in → ℓ, d → r, …), so the loss

    L = dt Σ_{t<T} ‖e_t‖² = dt Σ_{o,i} βᵀ G β,    G_kl = Σ_{t<T} δ_k(t) δ_l(t),

keeps its relative accuracy when it is tiny compared with the output scale (no difference of
O(1) terms, unlike the Gramian form). G is the finite-horizon Gramian of the bidiagonal
recursion δ(t+1) = J δ(t) (J = diag(λ) + subdiagonal ones, δ(0) = e₀; Leibniz's rule for
x·xᵗ), i.e. the solution of G − J G Jᵀ = e₀e₀ᵀ − u uᵀ with u = δ(T), solved entry by entry:

    G_kl (1 − λ_k λ_l) = [k=l=0] − u_k u_l + λ_k G_{k,l−1} + λ_l G_{k−1,l} + G_{k−1,l−1}.

No node differences are divided in this recursion; they enter only through u = δ(T), three
numbers computed from x^T by the cancellation-free two-node form
[x,y]^T = y^{T−1}·(q^T − 1)/(q − 1), q = x/y ≤ 1, written with expm1/log1p, and the best
conditioned of the three recursions for [α,d,r]^T. The cost does not depend on T.

Trust. Alongside G the recursion carries a first-order bound of its rounding error (with the
conditioning of u), which bounds the error of L. The form is used only where that bound is
below `TRUST_REL_TOL`·L, d > 0 and everything is finite; elsewhere the caller falls back to the
doubling form (`_closed_form.impulse`), e.g. at spectral radius near 1 with T short of the memory
(1 − λ² small and λ^{2T} ≈ 1), or when α, d and r all lie within ~1/T of each other.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from .._model.network import NetworkSpec

__all__ = ["rank1_form_applies", "rank1_loss_parts", "TRUST_REL_TOL"]

#: Relative bound on the rounding error of L below which the rank-1 form is trusted.
TRUST_REL_TOL = 1e-13

_SMALL = 1e-5  # below this |z|, φ₁ and ψ are evaluated from their Taylor series
TINY = 1e-100  # denominators below this are replaced (the candidate is then never chosen)


def rank1_form_applies(task, spec: NetworkSpec) -> bool:
    """Static check: rank-1 linear network, impulse_exp task, α = 1 − dt > 0."""
    return (
        getattr(task, "kind", None) == "impulse_exp"
        and spec.rank == 1
        and spec.is_linear
        and 1.0 - spec.dt > 0.0
    )


def phi1(z, xp=jnp):
    """(e^z − 1)/z, smooth through z = 0 (real or complex)."""
    small = xp.abs(z) < _SMALL
    zs = xp.where(small, 1.0, z)
    return xp.where(small, 1.0 + z * (0.5 + z * (1.0 / 6.0 + z / 24.0)), xp.expm1(zs) / zs)


def psi(s, xp=jnp):
    """log(1 + s)/s, smooth through s = 0 (real s > −1, or complex |1 + s| ≤ 1)."""
    small = xp.abs(s) < _SMALL
    ss = xp.where(small, 1.0, s)
    return xp.where(small, 1.0 + s * (-0.5 + s * (1.0 / 3.0 - s / 4.0)), xp.log1p(ss) / ss)


def _pair(x, y, T: int, xp=jnp):
    """([x, y]^T, κ): divided difference of x ↦ x^T over positive nodes, and its relative
    error in units of eps. Cancellation-free: with y the larger node and q = x/y ≤ 1,

        [x, y]^T = y^{T−1} Σ_{j<T} q^j = y^{T−1} · T · φ₁(T log q) · ψ(q − 1).
    """
    lo, hi = xp.minimum(x, y), xp.maximum(x, y)
    s = (lo - hi) / hi  # q − 1 ∈ (−1, 0]
    ell = xp.log1p(s)
    value = hi ** (T - 1) * T * phi1(T * ell, xp) * psi(s, xp)
    kappa = 8.0 + T * (xp.abs(xp.log(hi)) + xp.abs(ell))
    return value, kappa


def modulus(z):
    """|z| for real or complex z, for the error bounds and candidate choices.

    Complex `abs` is a hypot that XLA's CPU backend runs as a slow kernel of its own (a third
    of the Newton form's time); √(Re² + Im²) is plain fusible arithmetic. It differs from
    hypot only outside 1e−154 < |z| < 1e154: below, the bounds already treat values under
    `TINY` as negligible; above, it is inf and the form is untrusted.
    """
    if not jnp.iscomplexobj(z):
        return jnp.abs(z)
    re, im = jnp.real(z), jnp.imag(z)
    return jnp.sqrt(re * re + im * im)


def safe_denominator(den):
    return jnp.where(modulus(den) < TINY, 1.0, den)


def _triple(alpha, d, r, T: int, p_ad, p_ar, p_dr):
    """([α, d, r]^T, κ) from the best conditioned of its three two-node recursions.

    [S∪{x}] − [S∪{y}] = (x − y)[S∪{x,y}]; `p_..` are (value, κ) of the pairs.
    """
    cands = []
    for (a, ka), (b, kb), den in (
        (p_dr, p_ad, r - alpha),  # S = {d}
        (p_ar, p_ad, r - d),  # S = {α}
        (p_ar, p_dr, alpha - d),  # S = {r}
    ):
        diff = a - b
        value = diff / safe_denominator(den)
        # first-order relative error: inputs' errors over the difference, plus rounding
        kappa = (jnp.abs(a) * ka + jnp.abs(b) * kb) / jnp.maximum(jnp.abs(diff), TINY) \
            + (jnp.abs(r) + jnp.abs(alpha) + jnp.abs(d)) / jnp.maximum(jnp.abs(den), TINY) + 2.0
        cands.append((value, kappa))
    value, kappa = cands[0]
    for v, k in cands[1:]:
        better = k < kappa
        value, kappa = jnp.where(better, v, value), jnp.where(better, k, kappa)
    return value, kappa


def newton_gram(lam, u, kappa_u, eps: float):
    """G (n×n nested lists, symmetric; complex for complex nodes) of the Newton basis, and a
    first-order bound of its rounding error: G − J G Jᵀ = e₀e₀ᵀ − u uᵀ, J = diag(λ) +
    subdiagonal ones (bilinear, no conjugation). Shared with `_closed_form.newton`.

    lam, u, kappa_u: n-lists of nodes, δ(T) and u's relative errors (units of eps).
    """
    n = len(lam)
    G = [[None] * n for _ in range(n)]
    err = [[None] * n for _ in range(n)]
    G_mod = [[None] * n for _ in range(n)]
    # moduli of products as products of moduli: one modulus per node, per u and per G entry
    lam_mod = [modulus(x) for x in lam]
    u_mod = [modulus(x) for x in u]
    for k in range(n):
        for j in range(k, n):
            num = -u[k] * u[j]
            mag = u_mod[k] * u_mod[j]
            bound = mag * (1.0 + kappa_u[k] + kappa_u[j]) * eps
            if k == 0 and j == 0:
                num = num + 1.0
                mag = mag + 1.0
            terms = []
            if j >= 1:
                terms.append((lam[k], lam_mod[k], k, j - 1))
            if k >= 1:
                terms.append((lam[j], lam_mod[j], k - 1, j))
            if k >= 1 and j >= 1:
                terms.append((1.0, 1.0, k - 1, j - 1))
            for c, c_mod, a, b in terms:
                num = num + c * G[a][b]
                mag = mag + c_mod * G_mod[a][b]
                bound = bound + c_mod * err[a][b]
            den = 1.0 - lam[k] * lam[j]
            den_mod = modulus(den)
            G[k][j] = G[j][k] = num / den
            G_mod[k][j] = G_mod[j][k] = modulus(G[k][j])
            e = (bound + 4.0 * eps * mag) / den_mod \
                + G_mod[k][j] * eps * (2.0 + lam_mod[k] * lam_mod[j] / den_mod)
            err[k][j] = err[j][k] = e
    return G, err


def rank1_loss_parts(sigma, spec: NetworkSpec, task):
    """T-free "sum_dt" loss of impulse_exp on a rank-1 linear network, with a trust flag.

    Args:
        sigma: (P, P) overlaps, or (P, P, *b) with trailing batch axes; float64.
        spec: rank-1 linear architecture (`rank1_form_applies`).
        task: impulse_exp task (static; T = task.n_steps).

    Returns:
        (loss, ok), each of shape b. `ok` is False where the form must not be trusted (see
        module doc); the loss there is meaningless (possibly non-finite).
    """
    dt, T = spec.dt, int(task.n_steps)
    alpha = 1.0 - dt
    r = math.exp(-float(task.decay) * dt)
    ell = float(task.amplitude) * r
    m, u_, v, z = spec.m, spec.u, spec.v, spec.z
    C_in = sigma[z][:, m]  # (n_out, n_in, *b)
    c_d = sigma[z][:, u_][:, 0]  # (n_out, *b)
    b = dt * sigma[v][:, m][0]  # (n_in, *b)
    d = alpha + dt * sigma[v][:, u_][0, 0]  # (*b)

    beta0 = C_in - ell
    beta1 = c_d[:, None] * b[None] - ell * (r - alpha)
    beta2 = -ell * (r - alpha) * (r - d)

    # u = δ(T): α^T and [α, r]^T are constants of the task.
    u0 = alpha ** T
    p_ar = tuple(float(x) for x in _pair(np.float64(alpha), np.float64(r), T, np))
    p_ad = _pair(jnp.asarray(alpha, sigma.dtype), d, T)
    p_dr = _pair(d, jnp.asarray(r, sigma.dtype), T)
    u2, k2 = _triple(alpha, d, r, T, p_ad, p_ar, p_dr)
    lam = [alpha, d, r]
    eps = float(jnp.finfo(sigma.dtype).eps)
    G, err = newton_gram(lam, [u0, p_ad[0], u2], [4.0 + T * abs(math.log(alpha)), p_ad[1], k2],
                          eps)

    shape = beta0.shape  # (n_out, n_in, *b)
    betas = [beta0, jnp.broadcast_to(beta1, shape), jnp.broadcast_to(beta2, shape)]
    # magnitudes of the terms each β is the difference of (for the rounding floor below)
    sizes = [jnp.abs(C_in) + abs(ell),
             jnp.broadcast_to(jnp.abs(c_d[:, None] * b[None]) + abs(ell * (r - alpha)), shape),
             jnp.broadcast_to(abs(ell * (r - alpha)) * (abs(r) + jnp.abs(d)), shape)]
    loss = bound = scale = 0.0
    for k in range(3):
        for j in range(3):
            loss = loss + G[k][j] * jnp.sum(betas[k] * betas[j], axis=(0, 1))
            bound = bound + err[k][j] * jnp.sum(jnp.abs(betas[k] * betas[j]), axis=(0, 1))
            scale = scale + jnp.abs(G[k][j]) * jnp.sum(sizes[k] * sizes[j], axis=(0, 1))
    loss, bound, scale = dt * loss, dt * bound, dt * scale
    # Trusted where G's rounding error is below TRUST_REL_TOL·L or below the floor eps·√(L·scale)
    # that rounding the β's (and stepping the network) put on any evaluation of L.
    floor = TRUST_REL_TOL * loss + eps * jnp.sqrt(jnp.abs(loss) * scale)
    ok = jnp.isfinite(loss) & jnp.isfinite(bound) & (d > 0) & (bound <= floor)
    return loss, ok

