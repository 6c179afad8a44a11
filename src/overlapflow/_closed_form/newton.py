"""T-free closed-form loss of impulse tasks on linear networks of small rank (docs/theory.md §3, §7).

The general form of `_closed_form.rank1`, for both impulse tasks and small ranks (`MAX_NEWTON_NODES`).
The latent step matrix of input i is block lower triangular,

    A = [[α, 0], [b_i, D]],   α = 1 − dt,  D = α I + dt S,  S = Σ_VU (R × R),  b = dt Σ_VM,

so its spectrum is α and the eigenvalues λ_j = α + dt s_j of D (s_j those of S, complex in
conjugate pairs). The target is a sum of geometric modes, k_t = Σ_m γ_m ν_mᵗ: one real node
ν = r = e^{−c dt} for impulse_exp (γ = amplitude·r), the pair ν = w, w̄ with w = r e^{iω dt}
for impulse_damped_cos (γ = amplitude·w/2, and its conjugate). With the n = 1 + R + (1 or 2)
nodes μ = (α, λ₁…λ_R, ν…) and the Newton basis δ_k(t) = [μ₀…μ_k]ᵗ (divided differences of
x ↦ xᵗ), Newton's interpolation of xᵗ on the spectrum gives the error of every (o, i) as

    e_t = Σ_k β_k δ_k(t),   β_k = c_oᵀ P_k e_i − Σ_m γ_m Π_{j<k}(ν_m − μ_j),
    P_k = Π_{j<k}(A − μ_j),  P_k e_i = [0; q_k] for k ≥ 1,  q₁ = b_i,  q_{k+1} = dt (S − s_k) q_k,

with P_k = 0 for k > R (Cayley–Hamilton: q_{R+1} = 0 up to the eigenvalues' rounding, which is
part of the error bound below). Every β vanishes as the network learns the target, and

    L = dt Σ_{o,i} Σ_{t<T} e_t² = dt Σ_{o,i} βᵀ G β,    G_kl = Σ_{t<T} δ_k(t) δ_l(t)

(bilinear, not Hermitian: e_t is real). G solves the same bidiagonal Stein recursion as in the
rank-1 form, entry by entry, dividing by 1 − μ_k μ_l only; T enters through u = δ(T) alone.

Divided differences at T. [μ₀…μ_k]^T is needed for every prefix; each sub-multiset S of the
nodes is computed from two of its parts, [S∖{y}] − [S∖{x}] = (x − y)[S], using the pair
(x, y) whose first-order error estimate is smallest (so every sub-multiset is computed), and
two-node sets from the cancellation-free form [x, y]^T = y^{T−1} T φ₁(T log q) ψ(q − 1),
q = x/y, |q| ≤ 1, in complex arithmetic. Confluent nodes (a network eigenvalue that has
learnt a target node) cost nothing; only three or more nodes within ~1/T of each other do.

Gradient (R ≥ 2). Differentiating through the eigenvalues would be singular where two of
them coincide. Instead they are held fixed and listed twice around α, μ = (λ…, α, λ…, ν…):
the Newton form with fixed nodes then differs from Aᵗ by a multiple of
Π(A − λ_j)·(A − α)·Π(A − λ_j), which vanishes together with its first derivative in Σ
(polynomials in A commute, M(A)(A − α) = 0 for M = Π(A − λ_j), and M(A) dA M(A) = 0 because
dA has no first block row). So value and gradient of that form are exact, and no
derivative goes through an eigenvalue. The value is taken from the single-node form
(fewer nodes, less cancellation); the two must agree within the rounding floor below.

Trust. The recursions carry a first-order bound of their rounding error (with u's), plus the
Cayley–Hamilton residual of the computed eigenvalues. The form is used where that bound is
below `TRUST_REL_TOL`·L or the rounding floor eps·√(L·scale), where the doubled-node form agrees
with the single-node form within the same and its own bound is below `GRAD_TOL`·L, where no
two eigenvalues of S coincide (within 1e-8), and where everything is finite. Elsewhere the
caller falls back to the doubling form (`_closed_form.impulse`).
"""

from __future__ import annotations

import cmath
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._model.network import NetworkSpec
from .rank1 import TINY, modulus, newton_gram, phi1, psi, safe_denominator

__all__ = ["newton_form_applies", "newton_loss_parts", "GRAD_TOL", "MAX_NEWTON_NODES", "TRUST_REL_TOL"]

#: Relative bound on the rounding error of L below which the form is trusted. The bound is a
#: first-order worst case; against stepping the measured errors are ≤ 1e-13 where it is
#: ~5e-12 (complex nodes far apart compared with 1/T make the Newton basis cancel).
TRUST_REL_TOL = 1e-11

#: Relative bound on the rounding error of the doubled-node form (which gives the gradient
#: for R ≥ 2) below which it is trusted. Its four more nodes make the worst-case bound ~1e-10
#: at Figure-12 scales; measured gradient errors there are ≤ 3e-13. The bound mainly rejects
#: exactly coinciding eigenvalues, where the doubled form's table has no usable recursion.
GRAD_TOL = 1e-8

#: Most nodes (1 + R + number of target modes) the form is built for: rank ≤ 3 on
#: impulse_exp, ≤ 2 on impulse_damped_cos. More distinct nodes spread over the unit disc make
#: the Newton basis cancel beyond its trust bound (rank 3 on damped cosine: untrusted at
#: Figure-12 scales), and the table of multisets grows as 3^R (eigensolver for R > 2).
MAX_NEWTON_NODES = 5

_COINCIDENT = 1e-8  # eigenvalues of S closer than this are treated as one (R ≥ 2: untrusted)


def newton_form_applies(task, spec: NetworkSpec) -> bool:
    """Static check: linear network, impulse task, 1 + R + (target modes) ≤ MAX_NEWTON_NODES,
    α = 1 − dt > 0. Rank 3 needs the general eigensolver, available on the CPU backend only.
    """
    kind = getattr(task, "kind", None)
    if kind not in ("impulse_exp", "impulse_damped_cos"):
        return False
    modes = 1 if kind == "impulse_exp" else 2
    if not (spec.is_linear and 1.0 - spec.dt > 0.0 and 1 + spec.rank + modes <= MAX_NEWTON_NODES):
        return False
    return spec.rank <= 2 or jax.default_backend() == "cpu"


def _target_modes(task, dt: float):
    """[(ν, γ)]: the target k_t = Σ γ νᵗ at readout t (time (t+1)·dt) as geometric modes."""
    r = math.exp(-float(task.decay) * dt)
    a = float(task.amplitude)
    if task.kind == "impulse_exp":
        return [(complex(r), complex(a * r))]
    w = cmath.rect(r, float(task.omega) * dt)
    return [(w, a * w / 2), (w.conjugate(), a * w.conjugate() / 2)]


def _eigenvalues(S):
    """Eigenvalues of S (R, R, *b) as a list of R complex arrays (*b).

    R = 2 from the cancellation-free quadratic formula (the root with Im ≥ 0, or the larger
    real root, first); R ≥ 3 from the general eigensolver.
    """
    R = S.shape[0]
    cdt = jnp.result_type(S.dtype, jnp.complex64)
    if R == 1:
        return [S[0, 0].astype(cdt)]
    if R == 2:
        half_tr = 0.5 * (S[0, 0] + S[1, 1])
        half_diff = 0.5 * (S[0, 0] - S[1, 1])
        root = jnp.sqrt((half_diff * half_diff + S[0, 1] * S[1, 0]).astype(cdt))
        return [half_tr + root, half_tr - root]
    ev = jnp.linalg.eigvals(jnp.moveaxis(S, (0, 1), (-2, -1)))  # (*b, R)
    return [ev[..., j] for j in range(R)]


def _pair(x, y, T: int):
    """([x, y]^T, κ): two-node divided difference of x ↦ x^T and its relative error (eps units).

    With y the node of larger modulus and q = x/y (|q| ≤ 1):
    [x, y]^T = y^{T−1} Σ_{j<T} q^j = y^{T−1} · T · φ₁(T log q) · ψ(q − 1).
    """
    swap = modulus(x) > modulus(y)
    lo, hi = jnp.where(swap, y, x), jnp.where(swap, x, y)
    s = (lo - hi) / hi
    ell = jnp.log1p(s)
    log_hi = jnp.log(hi)
    value = jnp.exp((T - 1) * log_hi) * T * phi1(T * ell) * psi(s)
    kappa = 8.0 + T * (modulus(log_hi) + modulus(ell))
    return value, kappa


def _multiset_plan(top):
    """Static plan of the divided-difference table over all multisets with multiplicities
    ≤ `top` (sizes ≥ 2), level by level.

    Returns (index, levels): index maps a multiplicity tuple to (size, row); levels[size] is
    the (x, y) node arrays for size 2, else the candidate arrays (x, y, row of S∖{y}, row of
    S∖{x}), each (rows, candidates), padded by repeating the first candidate.
    """
    by_size = {}
    for mult in itertools.product(*(range(c + 1) for c in top)):
        if sum(mult) >= 2:
            by_size.setdefault(sum(mult), []).append(mult)
    index = {m: (size, row) for size, ms in by_size.items() for row, m in enumerate(ms)}
    levels = {}
    for size, ms in sorted(by_size.items()):
        if size == 2:
            pairs = [([i for i, c in enumerate(m) for _ in range(c)]) for m in ms]
            levels[2] = tuple(np.array(col) for col in zip(*pairs))
            continue
        cands = []
        for m in ms:
            support = [i for i, c in enumerate(m) if c]
            rows = []
            for x, y in itertools.combinations(support, 2):
                keep_x = tuple(c - (i == y) for i, c in enumerate(m))
                keep_y = tuple(c - (i == x) for i, c in enumerate(m))
                rows.append((x, y, index[keep_x][1], index[keep_y][1]))
            cands.append(rows)
        width = max(len(r) for r in cands)
        cands = [r + [r[0]] * (width - len(r)) for r in cands]
        levels[size] = tuple(np.array([[c[j] for c in r] for r in cands]) for j in range(4))
    return index, levels


def _difference_table(values, diffs, top, T: int):
    """Divided differences [S]^T of every multiset S of the nodes (multiplicities ≤ top),
    with relative errors κ (eps units): ({mult: (size, row)}, {size: (values, κ)}).

    values: (d, *b) distinct nodes; diffs: (d, d, *b) their differences μ_x − μ_y. Each
    multiset is computed from the best conditioned of its two-node recursions (module doc),
    all multisets of one size at once; repeated nodes are confluent (x = y is never a pair).
    """
    index, levels = _multiset_plan(top)
    x, y = levels[2]
    table = {2: _pair(values[x], values[y], T)}
    mags = modulus(values)
    for size in sorted(levels)[1:]:
        x, y, keep_x, keep_y = levels[size]
        prev, prev_kappa = table[size - 1]
        a, ka = prev[keep_x], prev_kappa[keep_x]  # (rows, cands, *b)
        b, kb = prev[keep_y], prev_kappa[keep_y]
        den = diffs[x, y]
        num = a - b
        value = num / safe_denominator(den)
        kappa = (modulus(a) * ka + modulus(b) * kb) / jnp.maximum(modulus(num), TINY) \
            + (mags[x] + mags[y]) / jnp.maximum(modulus(den), TINY) + 2.0
        best = jnp.argmin(kappa, axis=1)[:, None]
        table[size] = (jnp.take_along_axis(value, best, axis=1)[:, 0],
                       jnp.take_along_axis(kappa, best, axis=1)[:, 0])
    return index, table


def newton_loss_parts(sigma, spec: NetworkSpec, task):
    """T-free "sum_dt" loss of an impulse task on a linear network of small rank.

    Args:
        sigma: (P, P) overlaps, or (P, P, *b) with trailing batch axes; float64.
        spec: linear architecture (`newton_form_applies`).
        task: impulse_exp / impulse_damped_cos task (static; T = task.n_steps).

    Returns:
        (loss, ok), each of shape b. `ok` is False where the form must not be trusted (see
        module doc); the loss there is meaningless (possibly non-finite).
    """
    dt, T, R = spec.dt, int(task.n_steps), spec.rank
    alpha = 1.0 - dt
    cdt = jnp.result_type(sigma.dtype, jnp.complex64)
    eps = float(jnp.finfo(sigma.dtype).eps)
    modes = _target_modes(task, dt)

    C_in = sigma[spec.z][:, spec.m]  # (n_out, n_in, *b)
    C_U = sigma[spec.z][:, spec.u]  # (n_out, R, *b)
    B = dt * sigma[spec.v][:, spec.m]  # (R, n_in, *b)
    S = sigma[spec.v][:, spec.u]  # (R, R, *b)
    s = _eigenvalues(S)
    if R >= 2:
        # The eigenvalues are nodes only: listed twice around α they make the Newton form
        # exact to first order in Σ with the nodes held fixed (module doc), so no derivative
        # goes through them (singular where two coincide).
        s = [jax.lax.stop_gradient(x) for x in s]

    # Distinct nodes as (kind, index): ("a", 0) = α, ("s", j) = λ_j = α + dt s_j, ("t", m) = ν_m
    keys = [("a", 0)] + [("s", j) for j in range(R)] + [("t", m) for m in range(len(modes))]
    eigs = list(range(1, R + 1))
    targets = list(range(R + 1, len(keys)))
    order = [0] + eigs + targets
    dup_order = order if R == 1 else eigs + [0] + eigs + targets

    def excess(key):  # μ − α
        kind, j = key
        return 0.0 if kind == "a" else dt * s[j] if kind == "s" else modes[j][0] - alpha

    def diff(x, y):  # μ_x − μ_y without the cancellation of α
        kx, ky = keys[x], keys[y]
        if kx[0] == ky[0] == "s":
            return dt * (s[kx[1]] - s[ky[1]])
        if kx[0] == ky[0] == "t":
            return jnp.asarray(modes[kx[1]][0] - modes[ky[1]][0], cdt)
        return excess(kx) - excess(ky)

    values = [jnp.asarray(alpha + excess(key), cdt) for key in keys]

    def stack(xs):  # list of scalars / (*b) arrays → (len, *b)
        return jnp.stack([jnp.broadcast_to(x, s[0].shape) for x in xs])

    top = [dup_order.count(i) for i in range(len(keys))]
    diffs = jnp.stack([jnp.stack([jnp.broadcast_to(diff(x, y), s[0].shape) if x != y
                                  else jnp.zeros(s[0].shape, cdt) for y in range(len(keys))])
                       for x in range(len(keys))])
    index, table = _difference_table(stack(values), diffs, top, T)

    def evaluate(order):
        nodes = [values[i] for i in order]
        n = len(nodes)
        # network part of β: c_oᵀ P_k e_i with P_k e_i = [p_k; q_k], P_k = Π_{j<k}(A − μ_j):
        # p_{k+1} = (α − μ_k) p_k, q_{k+1} = b_i p_k + (D − μ_k) q_k, D − μ = dt S − (μ − α).
        p = jnp.asarray(1.0, cdt)
        q = jnp.zeros(B.shape, cdt)
        net, net_size = [], []
        for k in range(n + 1):
            c = C_in * p + jnp.sum(C_U[:, :, None] * q[None], axis=1)  # (n_out, n_in, *b)
            if k == n:
                residual = c  # Cayley–Hamilton: zero in exact arithmetic
                break
            net.append(c)
            net_size.append(modulus(C_in * p)
                            + jnp.sum(jnp.abs(C_U)[:, :, None] * modulus(q)[None], axis=1))
            shift = excess(keys[order[k]])
            q = B * p + dt * jnp.sum(S[:, :, None] * q[None], axis=1) - shift * q
            p = -shift * p
        # target part of β: Σ_m γ_m Π_{j<k}(ν_m − μ_j)
        tau, tau_size = [0.0] * n, [0.0] * n
        for nu, gamma in modes:
            prod = jnp.asarray(gamma, cdt)
            for k in range(n):
                tau[k] = tau[k] + prod
                tau_size[k] = tau_size[k] + modulus(prod)
                prod = prod * ((nu - alpha) - excess(keys[order[k]]))
        betas = [net[k] - tau[k] for k in range(n)]
        sizes = [net_size[k] + tau_size[k] for k in range(n)]

        prefixes = []
        for k in range(1, n):
            size, row = index[tuple(order[: k + 1].count(i) for i in range(len(keys)))]
            prefixes.append((table[size][0][row], table[size][1][row]))
        log_first = jnp.log(nodes[0])
        u = [jnp.exp(T * log_first)] + [v for v, _ in prefixes]
        kappa_u = [4.0 + T * modulus(log_first)] + [k for _, k in prefixes]
        G, err = newton_gram(nodes, u, kappa_u, eps)
        G, err = jnp.stack([stack(row) for row in G]), jnp.stack([stack(row) for row in err])

        def pairs(x):  # (n, n_out, n_in, *b) → Σ_{o,i} x_k x_l, (n, n, *b)
            return jnp.sum(x[:, None] * x[None], axis=(2, 3))

        betas = jnp.stack(betas)
        loss = jnp.sum(G * pairs(betas), axis=(0, 1))
        bound = jnp.sum(err * pairs(modulus(betas)), axis=(0, 1))
        scale = jnp.sum(modulus(G) * pairs(jnp.stack(sizes)), axis=(0, 1))
        loss = dt * jnp.real(loss)
        bound, scale = dt * bound, dt * scale
        # The residual's mode is not in the basis; bound its effect with the norm of the last
        # basis function.
        res = dt * modulus(G[n - 1, n - 1]) * jnp.sum(modulus(residual) ** 2, axis=(0, 1))
        bound = bound + 2.0 * jnp.sqrt(jnp.abs(loss) * res) + res
        floor = TRUST_REL_TOL * loss + eps * jnp.sqrt(jnp.abs(loss) * scale)
        ok = jnp.isfinite(loss) & jnp.isfinite(bound)
        return loss, ok, bound, floor

    loss, ok, bound, floor = evaluate(order)
    ok = ok & (bound <= floor)
    if R >= 2:
        # value from the single-node form (held fixed), gradient from the doubled one; the
        # two agree to their rounding error, which is measured here and must be below the
        # same floor, and the doubled form's own bound must be below `GRAD_TOL`·L.
        value = jax.lax.stop_gradient(loss)
        loss, ok_dup, bound_dup, _ = evaluate(dup_order)
        gap = jax.lax.stop_gradient(jnp.abs(loss - value))
        ok = ok & ok_dup & (gap <= floor) & (bound_dup <= GRAD_TOL * jnp.abs(value) + floor)
        for i, j in itertools.combinations(range(R), 2):  # coinciding eigenvalues: untrusted
            ok = ok & (modulus(s[i] - s[j]) > _COINCIDENT)
        loss = loss + jax.lax.stop_gradient(value - loss)
    return loss, jax.lax.stop_gradient(ok)
