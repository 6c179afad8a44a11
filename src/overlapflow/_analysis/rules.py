"""Conserved quadratic forms and the linearisation of a learning rule (docs/theory.md §9).

The rule is a `LearningRule` (overlapflow's `_learn.rules`); this module uses only its fields
and methods (column scales, the exact step), so the analysis layer does not import learning.

- `rule_conserved_forms`: the symmetric J whose K = Y J Yᵀ every update of the rule keeps
  (Y = X, or [X | W] with momentum), computed as a null space over the rule's generators.
- `linearise_exact_map`: the Jacobian of the one-epoch exact map at a state, restricted to
  the invisible directions; its eigenvalues predict how fast learning forgets them.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._model.effective import overlap_value_and_grad
from .._model.network import NetworkSpec
from .._model.overlaps import overlap_names, overlap_pairs
from .._model.tasks import batch_for_epoch, check_task_for
from .._support.errors import ConfigError
from .._support.linalg import rref
from .._support.precision import check_float64
from .invariants import pattern_basis
from .visibility import visible_mask

__all__ = ["RuleForms", "Linearisation", "rule_conserved_forms", "linearise_exact_map"]


class RuleForms(NamedTuple):
    """Conserved quadratic forms of a rule (docs/theory.md §9).

    Attributes:
        forms: (k, Q, Q) symmetric J; K = Y J Yᵀ is conserved, with Y = X (Q = P) or
            [X | W] (Q = 2P), and with it tr(Γ J) and the spectrum of Γ J.
        space: "sigma" (Q = P) or "gamma" (Q = 2P: [X | W], W = N·velocity).
        kind: "flow" (conserved by the rule's gradient flow; its exact map drifts O(η²) per
            step) or "exact map" (conserved by every step of the exact map).
    """

    forms: np.ndarray
    space: str
    kind: str


def _sym_basis(Q: int) -> np.ndarray:
    out = np.zeros((Q * (Q + 1) // 2, Q, Q))
    for k, (i, j) in enumerate(zip(*np.triu_indices(Q))):
        out[k, i, j] = out[k, j, i] = 1.0
    return out


def _canonical_null(constraints, Q: int) -> np.ndarray:
    """Canonical basis (k, Q, Q) of the symmetric J annihilated by every linear map in
    `constraints` (each maps a stack J (D, Q, Q) to a stack (D, …): matrix products broadcast);
    the normalisation of `conserved_forms`."""
    basis = _sym_basis(Q)
    D = basis.shape[0]
    A = np.concatenate([f(basis).reshape(D, -1) for f in constraints], axis=1).T
    _, s, vt = np.linalg.svd(A, full_matrices=False)  # (A is tall: never form its U)
    if vt.shape[0] < D:  # fewer constraint rows than unknowns: complete the row space
        vt = np.linalg.svd(A, full_matrices=True)[2]
    s_full = np.zeros(D)
    s_full[: s.size] = s
    null = vt[s_full <= 1e-10 * max(float(s_full.max()), 1e-300)]
    if null.shape[0] == 0:
        return np.zeros((0, Q, Q))
    forms = []
    iu = np.triu_indices(Q)
    for row in rref(null, 1e-9)[0]:
        row = np.where(np.abs(row) < 1e-9 * np.max(np.abs(row)), 0.0, row)
        row = row / np.max(np.abs(row))
        row = row * np.sign(row[np.flatnonzero(row)[-1]])
        row = np.where(np.abs(row - np.round(row)) < 1e-10, np.round(row), row)
        J = np.zeros((Q, Q))
        J[iu] = row
        forms.append(J + np.triu(J, 1).T)
    return np.array(forms)


def rule_conserved_forms(rule, spec: NetworkSpec, *,
                         eta: float | None = None) -> RuleForms:
    """Conserved quadratic forms of `rule` on `spec`, computed as a null space.

    Σ-rules (gd, colnorm): X moves by dX/dt = −2η X G with generators G = S_tot·D, S in the
    loss-visible pattern (docs/theory.md §5). K = X J Xᵀ is conserved when G J + J Gᵀ = 0 for
    every G in the span of the generators: {S_k D} and, with weight decay, {D} (colnorm: D
    ranges over all positive diagonals, so {S_k E_jj} and {E_jj}). Weight noise adds the
    condition D J = 0 (the noise must not reach K). kind "flow".

    Momentum / Nesterov: Y = [X | W] moves by Y ← Y B(S_tot), B affine in S_tot, and there
    is no flow; K = Y J Yᵀ is conserved by every step when B J Bᵀ = J for every S_tot in the
    span (the constant, linear and quadratic parts in S_tot vanish separately). Depends on
    η (required) and μ. kind "exact map", space "gamma".

    Adam: no form can be stated in overlap space; raises ConfigError.

    Args:
        rule: a `LearningRule`.
        spec: the architecture (its loss-visible pattern).
        eta: the learning rate (momentum / Nesterov only).

    Returns:
        `RuleForms(forms (k, Q, Q), space, kind)`, canonical basis as `conserved_forms`.
    """
    rule.check_mode("exact")
    P = spec.P
    d = rule.column_scales(spec)
    pattern = pattern_basis(visible_mask(spec))  # (n, P, P)
    lam = rule.weight_decay
    if not rule.is_augmented:
        if rule.optimizer == "colnorm":
            diags = [np.diag(np.where(np.arange(P) == j, d[j], 0.0)) for j in range(P)
                     if d[j] != 0.0]
        else:
            diags = [np.diag(d)]
        gens = [S @ E for S in pattern for E in diags]
        if lam > 0.0:
            gens += list(diags)
        constraints = [lambda J, G=G: G @ J + J @ G.T for G in gens]
        if rule.noise_temperature > 0.0:
            constraints.append(lambda J: np.diag(d) @ J)
        return RuleForms(_canonical_null(constraints, P), "sigma", "flow")
    if eta is None:
        raise ConfigError(f"rule_conserved_forms: optimizer {rule.optimizer!r} needs eta= "
                          "(its exact map depends on η)")
    mu = rule.momentum
    nesterov = rule.optimizer == "nesterov"
    eye, Z, D = np.eye(P), np.zeros((P, P)), np.diag(d)
    c = (1.0 + mu) if nesterov else 1.0
    B0 = np.block([[eye, Z], [-eta * (mu * mu if nesterov else mu) * D, mu * eye]])

    def B1(S):
        return np.block([[-2.0 * eta * c * S @ D, 2.0 * S], [Z, Z]])

    span = list(pattern) + ([eye] if lam > 0.0 else [])
    lin = [B1(S) for S in span]
    constraints = [lambda J: B0 @ J @ B0.T - J]
    constraints += [lambda J, L=L: B0 @ J @ L.T + L @ J @ B0.T for L in lin]
    constraints += [lambda J, a=lin[k], b=lin[m]: a @ J @ b.T + b @ J @ a.T
                    for k in range(len(lin)) for m in range(k, len(lin))]
    if rule.noise_temperature > 0.0:
        constraints.append(lambda J: np.diag(np.concatenate([d, np.zeros(P)])) @ J)
    return RuleForms(_canonical_null(constraints, 2 * P), "gamma", "exact map")


# ---------------------------------------------------------------------------------------
# linearisation of the exact map


class Linearisation(NamedTuple):
    """The one-epoch exact map linearised at a state (docs/theory.md §9).

    Attributes:
        names: (n,) names of the state's distinct entries (upper triangle, row-major).
        jacobian: (n, n) ∂F/∂(state entries); F the one-epoch exact map.
        invisible: (k,) indices (into names) of the invisible directions: every entry that is
            not a loss-visible overlap (for Γ: also all entries involving W).
        restricted: (k, k) the Jacobian restricted to the invisible directions.
        eigenvalues: (k,) eigenvalues of `restricted` (complex), by decreasing modulus.
        decay_rates: (k,) −log|eigenvalue| per epoch: the predicted decay rate of each
            invisible mode (0: kept, memory; > 0: forgotten at that rate).
    """

    names: tuple
    jacobian: np.ndarray
    invisible: np.ndarray
    restricted: np.ndarray
    eigenvalues: np.ndarray
    decay_rates: np.ndarray


def _state_names(spec: NetworkSpec, augmented: bool) -> tuple[str, ...]:
    if not augmented:
        return overlap_names(spec)
    labels = list(spec.vector_names) + [f"w_{n}" for n in spec.vector_names]
    sig = dict(zip(overlap_pairs(spec), overlap_names(spec)))
    Q = 2 * spec.P
    return tuple(sig.get((i, j), f"{labels[i]}·{labels[j]}") for i, j in zip(*np.triu_indices(Q)))


@functools.partial(jax.jit, static_argnames=("spec", "loss"))
def _exact_map_jacobian(state, batch, rule, eta, scales, *, spec, loss):
    """∂F/∂(upper-triangle entries of state), F the rule's one-epoch exact map (Q, Q) → its
    upper triangle. Jitted once per shape, spec, loss and rule structure: the rule (a pytree,
    its numbers traced), η, the batch and the state are arguments."""
    P = spec.P
    Q = state.shape[-1]
    iu = np.triu_indices(Q)

    def F(coords):
        M = jnp.zeros((Q, Q), state.dtype).at[iu].set(coords)
        st = M + jnp.triu(M, 1).T
        _, G = overlap_value_and_grad(st[:P, :P], batch, spec, loss)
        S = 0.5 * (G + G.T)  # sym(∂L/∂Σ), docs/theory.md §4.1
        return rule.exact_step(st, S, eta, scales)[iu]

    return jax.jacfwd(F)(state[iu])


def linearise_exact_map(state, task, spec: NetworkSpec, *, rule, eta: float,
                        loss: str = "sum_dt", epoch: int = 0, seed: int = 0) -> Linearisation:
    """Jacobian of the rule's one-epoch exact map at `state`, restricted to invisible directions.

    F(state) = the rule's exact step (state, S(Σ), η) on the batch `batch_for_epoch(task, seed,
    epoch)`, differentiated (forward mode, float64) with respect to the distinct entries of
    the state. At a minimum of the loss (S = 0) plain GD gives F = identity on the invisible
    overlaps (eigenvalues 1: they are remembered); weight decay λ gives eigenvalues
    (1 − ηλ d_a)(1 − ηλ d_b), i.e. decay rates ≈ ηλ(d_a + d_b) per epoch.

    Args:
        state: (P, P) Σ, or (2P, 2P) Γ for momentum / Nesterov (`initial_rule_state`).
        task, spec, eta, loss, epoch, seed: as in `learn_overlaps`.
        rule: a `LearningRule` (`LearningRule()`: plain GD); Adam raises ConfigError.

    Returns:
        `Linearisation`.

    One compiled program per shape, network, loss and rule structure: new states, η, epochs
    and rule numbers reuse it.
    """
    check_float64(jnp.float64, "linearise_exact_map")
    rule.check_mode("exact")
    check_task_for(task, spec)
    P = spec.P
    aug = rule.is_augmented
    Q = 2 * P if aug else P
    state = jnp.asarray(state, jnp.float64)
    if state.shape != (Q, Q):
        raise ConfigError(f"linearise_exact_map: state must have shape ({Q}, {Q}) for this "
                          f"rule, got {tuple(state.shape)}")
    scales = jnp.asarray(rule.column_scales(spec))
    batch = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64),
                                   batch_for_epoch(task, seed, epoch))
    iu = np.triu_indices(Q)
    jac = np.asarray(_exact_map_jacobian(state, batch, rule, jnp.asarray(eta, jnp.float64),
                                         scales, spec=spec, loss=loss))
    mask = visible_mask(spec)
    visible = np.array([i < P and j < P and bool(mask[i, j]) for i, j in zip(*iu)])
    inv = np.flatnonzero(~visible)
    restricted = jac[np.ix_(inv, inv)]
    eig = np.linalg.eigvals(restricted) if inv.size else np.zeros(0, complex)
    eig = eig[np.argsort(-np.abs(eig), kind="stable")]
    with np.errstate(divide="ignore"):
        rates = -np.log(np.abs(eig))
    return Linearisation(_state_names(spec, aug), jac, inv, restricted, eig, rates)
