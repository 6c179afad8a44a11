"""Learning rules in θ-space and in overlap space (docs/theory.md §9).

A `LearningRule` names an optimiser and its options: per-vector learning rates (`lr_scale`,
0 freezes a vector), weight decay as the penalty (λ/2N)‖X‖²_F = (λ/2) tr Σ, global-norm
clipping, heavy-ball or Nesterov momentum, a column-normalised rule (`colnorm`), Adam, and
weight noise (Langevin-like). `theta_optimizer` is the one optax factory for θ-space; the
overlap-space maps below are the exact images of those θ-space updates where one exists.

With S = sym(∂L/∂Σ) (docs/theory.md §4.1), the gradient of X (N, P) is g = (2/N)·X·S. Every rule
first forms the effective gradient of the penalised loss, possibly clipped,

    S_tot = κ · (S + (λ/2)·I),     κ = min(1, c / (2·sqrt(tr(S Σ S))))   (clip_norm c; S = S + λ/2 I)

and a column-rate vector d (P,) = lr_scale (× 1 / (2·sqrt((S_tot Σ S_tot)_jj)) for colnorm). Then

    gd, colnorm:  X ← X (I − 2η S_tot D)               Σ ← (I − 2η D S_tot) Σ (I − 2η S_tot D)
    momentum:     Y = [X | W], W = N·velocity:  Y ← Y B,   Γ = YᵀY/N ← Bᵀ Γ B
                  B = [[I − 2η S_tot D, 2 S_tot], [−ημ D, μ I]]
    nesterov:     B = [[I − 2η(1+μ) S_tot D, 2 S_tot], [−ημ² D, μ I]]
    noise T > 0:  X ← X + sqrt(2ηT)·ξ·D^½ after the step;  mean effect Σ ← Σ + 2ηT·D  (N → ∞)

with D = diag(d). Adam is not closed in overlap space and runs in θ-space only.

A `LearningRule` is a JAX pytree: its numbers (μ, λ, the nonzero `lr_scale` multipliers, c, T
and the noise seed) are leaves, traced by the jitted learners, and only its structure is
static (the optimiser, the names in `lr_scale` and which of them are 0, whether clipping and
noise are on). A new value of a number therefore never compiles again; a leaf may also hold
one value per run (shape (n,)) in the batched engine.

Longer than 400 lines on purpose: a rule's validation, its θ-space optax chain and its exact
overlap-space map are kept side by side, so that the two spaces cannot drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._model.network import NetworkSpec
from .._support.errors import ConfigError
from .._support.linalg import (
    lane_diag,
    lane_diagonal,
    lane_eye,
    lane_lift,
    lane_trace,
    lane_transpose,
    matrix_product,
    n_lanes,
)
from .._support.validate import in_range, integer, nonnegative, positive

__all__ = [
    "OPTIMIZERS",
    "RULE_CLASSES",
    "COLNORM_EPS",
    "LearningRule",
    "has_noise",
    "stack_rules",
    "column_scales",
    "theta_chain",
    "resolve_rule",
    "theta_optimizer",
    "node_optimizer",
    "weight_noise",
    "rule_class",
    "is_augmented",
    "state_size",
    "check_rule_mode",
    "initial_rule_state",
    "sigma_block",
    "effective_gradient",
    "rule_exact_step",
    "rule_flow_velocity",
    "rule_euler_step",
]

OPTIMIZERS = ("gd", "momentum", "nesterov", "adam", "colnorm")

#: The classes of `rule_class`, from the strongest statement to the weakest.
RULE_CLASSES = ("exact", "exact in an augmented space", "N → ∞ only", "not closed")

#: Floor of a column's gradient norm in `colnorm` (N-independent units): a column whose
#: gradient norm is below it is divided by COLNORM_EPS instead (its update is then tiny).
COLNORM_EPS = 1e-12

_FAMILIES = ("m", "u", "v", "z")
_KEY_RE = re.compile(r"^([muvz])([1-9]\d*)?$")


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


@dataclass(frozen=True)
class LearningRule:
    """How the vectors X (N, P) are updated each epoch; validated at construction.

    Attributes:
        optimizer: "gd" (X ← X − N·η·g), "momentum" (heavy ball, optax.sgd(N·η, momentum=μ)),
            "nesterov" (optax.sgd(N·η, momentum=μ, nesterov=True)), "adam" (optax.adam(η),
            θ-space only) or "colnorm" (each column's gradient divided by its own
            N-independent norm √N·‖g_j‖ = 2·sqrt((SΣS)_jj) before the GD step).
        momentum: μ ∈ [0, 1), used by "momentum" and "nesterov".
        weight_decay: λ ≥ 0: the penalty (λ/2N)‖X‖²_F = (λ/2) tr Σ is added to the loss, so
            S ← S + (λ/2)·I; it goes through momentum and clipping like any loss term.
        lr_scale: learning-rate multipliers ≥ 0 per vector: a family ("m", "u", "v", "z": all
            its columns) or one column ("u2"; the names of `NetworkSpec.vector_names`); a
            column entry overrides its family's; 0 freezes. Given as a mapping, stored as a
            sorted tuple of (name, multiplier) pairs (hashable). Unnamed columns: 1.
        clip_norm: None, or c > 0: the gradient of the penalised loss is scaled by
            min(1, c / (√N·‖g‖_F)) before momentum (√N·‖g‖_F = 2·sqrt(tr(SΣS)) is
            N-independent). θ-space: optax.clip_by_global_norm(c / √N).
        noise_temperature: T ≥ 0: after each step X ← X + sqrt(2ηT·d_j)·ξ_j per column j
            (d = lr_scale; ξ i.i.d. N(0, 1) from `noise_seed` and the epoch).
        noise_seed: seed of the weight noise, an integer ≥ 0.

    A JAX pytree (the numbers are leaves, the structure static; see the module docstring): a
    rule passed to a jitted function is traced, and a rule rebuilt from traced leaves skips
    the validation above (it was validated when it was built from numbers).

    docs/theory.md §9.
    """

    optimizer: str = "gd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_scale: tuple = ()
    clip_norm: float | None = None
    noise_temperature: float = 0.0
    noise_seed: int = 0

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"train.optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        set_ = object.__setattr__
        set_(self, "momentum", in_range("train.momentum", self.momentum, 0, 1, high_open=True))
        set_(self, "weight_decay", nonnegative("train.weight_decay", self.weight_decay))
        set_(self, "noise_temperature",
             nonnegative("train.noise_temperature", self.noise_temperature))
        if self.clip_norm is not None:  # None: no clipping
            set_(self, "clip_norm", positive("train.clip_norm", self.clip_norm))
        set_(self, "noise_seed", integer("train.noise_seed", self.noise_seed, minimum=0))
        set_(self, "lr_scale", _normalise_lr_scale(self.lr_scale))
        if self.optimizer == "colnorm" and self.clip_norm is not None:
            raise ConfigError("train.clip_norm has no effect with optimizer 'colnorm' (every "
                              "column's update is already normalised); remove one of them")

    # Methods: the same as the module functions below, so that layers that may not import
    # this module (the analysis of a rule's conserved forms) can use a rule they are given.
    def column_scales(self, spec: NetworkSpec) -> np.ndarray:
        """`column_scales(self, spec)`: the (P,) learning-rate multipliers."""
        return column_scales(self, spec)

    def classification(self) -> str:
        """`rule_class(self)`: one of RULE_CLASSES."""
        return rule_class(self)

    @property
    def is_augmented(self) -> bool:
        """True when the overlap state is Γ (2P, 2P) of [X | W] (momentum, Nesterov)."""
        return is_augmented(self)

    def state_size(self, spec: NetworkSpec) -> int | None:
        """`state_size(self, spec)`."""
        return state_size(self, spec)

    def check_mode(self, mode: str) -> None:
        """`check_rule_mode(self, mode)`."""
        check_rule_mode(self, mode)

    def initial_state(self, sigma0):
        """`initial_rule_state(sigma0, self)`."""
        return initial_rule_state(sigma0, self)

    def exact_step(self, state, S, eta, scales):
        """`rule_exact_step(state, S, eta, self, scales)`."""
        return rule_exact_step(state, S, eta, self, scales)

    @property
    def is_plain(self) -> bool:
        """True for plain GD or plain Adam: no decay, no scales, no clipping, no noise.

        False for a rule whose numbers are traced (their values are unknown)."""
        return (self.optimizer in ("gd", "adam") and _is_value(self.weight_decay, 0.0)
                and all(_is_value(v, 1.0) for _, v in self.lr_scale) and self.clip_norm is None
                and not has_noise(self))


def _is_value(x, value: float) -> bool:
    """True when `x` is a concrete number equal to `value` (never for a traced or array leaf)."""
    return _is_number(x) and float(x) == value


def has_noise(rule: LearningRule) -> bool:
    """Whether the rule adds weight noise (T > 0): structure, so also known for traced T."""
    return not _is_value(rule.noise_temperature, 0.0)


def _flatten_rule(rule: LearningRule):
    frozen = tuple((k, _is_value(v, 0.0)) for k, v in rule.lr_scale)
    rates = tuple(v for (_, v), (_, f) in zip(rule.lr_scale, frozen) if not f)
    noise = has_noise(rule)
    children = (rule.momentum, rule.weight_decay, rates, rule.clip_norm,
                rule.noise_temperature if noise else None, rule.noise_seed)
    return children, (rule.optimizer, frozen, noise)


def _unflatten_rule(aux, children) -> LearningRule:
    optimizer, frozen, noise = aux
    momentum, weight_decay, rates, clip_norm, temperature, noise_seed = children
    rates = iter(rates)
    out = object.__new__(LearningRule)  # no validation: the leaves may be traced
    for name, value in (("optimizer", optimizer), ("momentum", momentum),
                        ("weight_decay", weight_decay),
                        ("lr_scale", tuple((k, 0.0 if f else next(rates)) for k, f in frozen)),
                        ("clip_norm", clip_norm),
                        ("noise_temperature", temperature if noise else 0.0),
                        ("noise_seed", noise_seed)):
        object.__setattr__(out, name, value)
    return out


jax.tree_util.register_pytree_node(LearningRule, _flatten_rule, _unflatten_rule)


def stack_rules(rules) -> LearningRule:
    """One rule whose leaves are (n,) arrays, from n rules of one structure (ConfigError else)."""
    defs = {jax.tree_util.tree_structure(r) for r in rules}
    if len(defs) != 1:
        raise ConfigError("stack_rules: the rules differ in structure (optimiser, lr_scale "
                          "names or frozen vectors, clipping or noise on/off)")
    return jax.tree_util.tree_map(lambda *xs: np.asarray(xs), *rules)


def _normalise_lr_scale(value) -> tuple:
    if value is None:
        return ()
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, (tuple, list)) and all(
            isinstance(p, (tuple, list)) and len(p) == 2 for p in value):
        items = [tuple(p) for p in value]
    else:
        raise ConfigError("train.lr_scale must be a table of vector → multiplier, e.g. "
                          f"{{u = 0.5, z = 0}}, got {value!r}")
    out = {}
    for key, mult in items:
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise ConfigError(f"train.lr_scale: unknown vector {key!r}; valid: a family "
                              f"{', '.join(_FAMILIES)} or one column such as u1 or z2")
        if key in out:
            raise ConfigError(f"train.lr_scale names {key!r} twice")
        out[key] = nonnegative(f"train.lr_scale.{key}", mult)  # 0 freezes the vector
    return tuple(sorted(out.items()))


def _valid_scale_names(spec: NetworkSpec) -> tuple[str, ...]:
    names = list(_FAMILIES)
    names += [n for n in spec.vector_names if n not in names]
    return tuple(names)


def resolve_rule(optimizer: str | None, rule: LearningRule | None) -> LearningRule:
    """The rule of a run given the older `optimizer` name and/or a `LearningRule`.

    `optimizer` alone: `LearningRule(optimizer=optimizer)`; `rule` alone: itself; both: they
    must name the same optimiser (else ConfigError).
    """
    if rule is None:
        return LearningRule(optimizer="gd" if optimizer is None else optimizer)
    if not isinstance(rule, LearningRule):
        raise ConfigError(f"rule must be a LearningRule, got {type(rule).__name__}")
    if optimizer is not None and optimizer != rule.optimizer:
        raise ConfigError(f"optimizer={optimizer!r} contradicts rule.optimizer="
                          f"{rule.optimizer!r}; give one of them")
    return rule


def column_scales(rule: LearningRule, spec: NetworkSpec) -> np.ndarray:
    """The rule's learning-rate multiplier of each column of X, shape (P,), float64.

    Families first (every column of that family), then single columns (overriding). A rule
    with traced multipliers gives a jax array; one with (n,) multipliers (one per run) gives
    (P, n).

    Raises:
        ConfigError: a name that is not a family or a column of this network (the message
            lists the valid names for it).
    """
    valid = _valid_scale_names(spec)
    names = spec.vector_names
    out = [1.0] * spec.P
    entries = sorted(rule.lr_scale, key=lambda kv: (kv[0] not in _FAMILIES, kv[0]))
    for key, mult in entries:
        if key not in valid:
            raise ConfigError(f"train.lr_scale: unknown vector {key!r} for this network; "
                              f"valid: {', '.join(valid)}")
        if key in _FAMILIES:
            for j, n in enumerate(names):
                if n[0] == key:
                    out[j] = mult
        else:
            out[names.index(key)] = mult
    if all(_is_number(v) for v in out):
        return np.asarray(out, dtype=np.float64)
    return jnp.stack(jnp.broadcast_arrays(*[jnp.asarray(v) for v in out]))


# ---------------------------------------------------------------------------------------
# θ-space


class _ColumnState(NamedTuple):
    pass


def _scale_columns(scales) -> optax.GradientTransformation:
    """Multiply the update of column j of X (…, N, P) by scales[j] (numbers or traced)."""

    def update(updates, state, params=None):
        del params
        return jax.tree_util.tree_map(lambda u: u * jnp.asarray(scales, u.dtype), updates), state

    return optax.GradientTransformation(lambda params: _ColumnState(), update)


def _normalise_columns(N: int) -> optax.GradientTransformation:
    """Divide column j of the update (N, P) by its N-independent norm √N·‖u_j‖ (≥ COLNORM_EPS)."""

    def update(updates, state, params=None):
        del params

        def one(u):
            norm = jnp.sqrt(N * jnp.sum(u * u, axis=-2, keepdims=True))
            return u / jnp.maximum(norm, COLNORM_EPS)

        return jax.tree_util.tree_map(one, updates), state

    return optax.GradientTransformation(lambda params: _ColumnState(), update)


def _rule_chain(rule: LearningRule, spec: NetworkSpec | None, *, decay, clip, colnorm,
                core, structural: bool = False) -> optax.GradientTransformation:
    """decay → clip → colnorm → core (sgd / momentum / adam) → column scales, where present.

    `structural`: the parts follow the rule's structure only (decay always, scales whenever
    `lr_scale` names a vector), so that the chain and its state are the same for every value
    of the rule's numbers (a λ = 0 decay adds 0·X, a scale of 1 multiplies by 1: exact).
    """
    parts = []
    if structural or not _is_value(rule.weight_decay, 0.0):
        parts.append(decay)
    if rule.clip_norm is not None:
        parts.append(clip)
    if rule.optimizer == "colnorm":
        parts.append(colnorm)
    parts.append(core)
    if rule.lr_scale:
        if spec is None:
            raise ConfigError("a learning rule with lr_scale needs spec= (the network)")
        scales = column_scales(rule, spec)
        if structural or not isinstance(scales, np.ndarray) or np.any(scales != 1.0):
            parts.append(_scale_columns(scales))
    return optax.chain(*parts)


def theta_optimizer(rule: LearningRule | None, eta, N: int, *,
                    spec: NetworkSpec | None = None) -> optax.GradientTransformation:
    """The optax transformation of θ-space training under `rule`, for X of shape (N, P).

    Plain GD is `optax.sgd(N·η)` and plain Adam `optax.adam(η)` (nothing else chained, so
    they are bit-identical to the historical optimisers). Otherwise, in this order:

        optax.add_decayed_weights(λ/N)          gradient of the penalty (λ/2N)‖X‖²_F
        optax.clip_by_global_norm(c/√N)         clip_norm c (the penalty is clipped too)
        column normalisation                    colnorm: u_j / max(√N‖u_j‖, COLNORM_EPS)
        optax.sgd(N·η[, momentum=μ, nesterov])  or optax.adam(η)
        column scales                           lr_scale (needs `spec`)

    Weight noise is not a gradient transformation: add `weight_noise` after the update.

    Args:
        rule: the rule (None: plain GD).
        eta: overlap-space learning rate η (a number or a scalar array).
        N: number of neurons.
        spec: the architecture; required when `rule.lr_scale` is set.
    """
    rule = LearningRule() if rule is None else rule
    if rule.is_plain:
        return optax.sgd(N * eta) if rule.optimizer == "gd" else optax.adam(eta)
    return theta_chain(rule, eta, N, spec=spec, structural=False)


def theta_chain(rule: LearningRule, eta, N: int, *, spec: NetworkSpec | None = None,
                structural: bool = True) -> optax.GradientTransformation:
    """`theta_optimizer`'s chain built from the rule's structure alone (`structural`): the
    form the jitted learners use, whose state does not depend on the values of the rule's
    numbers (they may be traced). The same updates as `theta_optimizer`, to rounding."""
    clip = (optax.clip_by_global_norm(rule.clip_norm / math.sqrt(N))
            if rule.clip_norm is not None else None)
    return _rule_chain(
        rule, spec,
        decay=optax.add_decayed_weights(rule.weight_decay / N),
        clip=clip,
        colnorm=_normalise_columns(N),
        core=_core(rule, N * eta, optax.adam(eta)), structural=structural)


def _core(rule: LearningRule, lr, adam) -> optax.GradientTransformation:
    if rule.optimizer == "adam":
        return adam
    if rule.optimizer in ("momentum", "nesterov"):
        return optax.sgd(lr, momentum=rule.momentum, nesterov=rule.optimizer == "nesterov")
    return optax.sgd(lr)


def _weighted_clip(max_norm: float, weights) -> optax.GradientTransformation:
    """Clip node-wise gradients u (K, P) at sqrt(Σ_k w_k |u_k|²) = max_norm (as optax does)."""

    def update(updates, state, params=None):
        del params
        norm = jnp.sqrt(jnp.sum(weights[:, None] * updates * updates))
        c = jnp.asarray(max_norm, updates.dtype)
        return jnp.where(norm < c, updates, updates / norm * c), state

    return optax.GradientTransformation(lambda params: _ColumnState(), update)


def _weighted_normalise_columns(weights) -> optax.GradientTransformation:
    """Divide column j of node-wise gradients u (K, P) by sqrt(Σ_k w_k u_kj²) (≥ COLNORM_EPS)."""

    def update(updates, state, params=None):
        del params
        norm = jnp.sqrt(jnp.sum(weights[:, None] * updates * updates, axis=0, keepdims=True))
        return updates / jnp.maximum(norm, COLNORM_EPS), state

    return optax.GradientTransformation(lambda params: _ColumnState(), update)


def node_optimizer(rule: LearningRule | None, eta, weights, *, spec: NetworkSpec | None = None,
                   adam_eps=1e-8, structural: bool = False) -> optax.GradientTransformation:
    """The rule for weighted nodes X (K, P) fed node-wise gradients u_k = (∂L/∂X_k)/w_k.

    The node form of `theta_optimizer` (docs/theory.md §8, §9): with the N rows of a network
    (w = 1/N, u = N·∂L/∂X) it is θ-space training under the rule; on quadrature nodes it is
    its N → ∞ limit. Plain GD: `optax.sgd(η)`; plain Adam: `optax.adam(η, eps=adam_eps)`.
    Otherwise decay λ·X_k (the penalty (λ/2)Σ_k w_k|X_k|² = (λ/2) tr Σ), clipping and column
    norms in the N-independent norm sqrt(Σ_k w_k |u_k|²) (= √N‖g‖ for w = 1/N), then
    sgd(η[, momentum]) or Adam, then the column scales. Weight noise is not included.
    `adam_eps` may be traced. `structural`: the chain of the rule's structure alone (see
    `theta_chain`), as the jitted node learner uses it.
    """
    rule = LearningRule() if rule is None else rule
    if rule.is_plain and not structural:
        return optax.sgd(eta) if rule.optimizer == "gd" else optax.adam(eta, eps=adam_eps)
    weights = jnp.asarray(weights)
    return _rule_chain(
        rule, spec,
        decay=optax.add_decayed_weights(rule.weight_decay),
        clip=_weighted_clip(rule.clip_norm, weights) if rule.clip_norm is not None else None,
        colnorm=_weighted_normalise_columns(weights),
        core=_core(rule, eta, optax.adam(eta, eps=adam_eps)), structural=structural)


def weight_noise(rule: LearningRule, eta, epoch, shape, dtype=jnp.float64, *, scales=None,
                 seed=None):
    """The weight noise added to X after the update of `epoch`, shape `shape` = (N, P).

        sqrt(2ηT·d_j) · ξ_ij,   ξ = jax.random.normal(fold_in(PRNGKey(noise_seed), epoch))

    with d = `scales` (the rule's `column_scales`; default ones), so a frozen column stays
    frozen. Zeros when T = 0. Its mean effect on Σ is + 2ηT·diag(d) (docs/theory.md §9).
    `seed` (an integer or a traced scalar) overrides `rule.noise_seed`, so that jitted code
    can take the seed as an argument rather than recompile per seed.
    """
    if not has_noise(rule):
        return jnp.zeros(shape, dtype)
    seed = rule.noise_seed if seed is None else seed
    key = jax.random.fold_in(jax.random.PRNGKey(seed), epoch)
    xi = jax.random.normal(key, shape, dtype)
    d = jnp.ones(shape[-1], dtype) if scales is None else jnp.asarray(scales, dtype)
    return jnp.sqrt(2.0 * eta * rule.noise_temperature * d) * xi


# ---------------------------------------------------------------------------------------
# classification


def rule_class(rule: LearningRule) -> str:
    """What overlap space can say about θ-space training under `rule` (one of RULE_CLASSES).

    - "not closed": Adam (entry-wise statistics of the N·P parameters, not a function of Σ).
    - "N → ∞ only": weight noise T > 0 (Σ receives 2ηT·D plus fluctuations of order N^−½).
    - "exact in an augmented space": momentum, Nesterov (Γ of [X | W] is closed, Σ alone not).
    - "exact": GD and colnorm with any lr_scale, weight decay and clipping (they read S and
      SΣS only).

    The class is about the update rule; for nonlinear φ every overlap-space statement is
    about the Gaussian closure of docs/theory.md §3.2.
    """
    if rule.optimizer == "adam":
        return RULE_CLASSES[3]
    if has_noise(rule):
        return RULE_CLASSES[2]
    if rule.optimizer in ("momentum", "nesterov"):
        return RULE_CLASSES[1]
    return RULE_CLASSES[0]


def is_augmented(rule: LearningRule) -> bool:
    """True when the overlap state is Γ (2P, 2P) of [X | W] (momentum, Nesterov)."""
    return rule.optimizer in ("momentum", "nesterov")


def state_size(rule: LearningRule, spec: NetworkSpec) -> int | None:
    """Number of distinct entries of the overlap state: P(P+1)/2, P(2P+1) when augmented,
    None for a rule that is not closed (Adam)."""
    P = spec.P
    if rule_class(rule) == "not closed":
        return None
    return P * (2 * P + 1) if is_augmented(rule) else P * (P + 1) // 2


def check_rule_mode(rule: LearningRule, mode: str) -> None:
    """Raise ConfigError (one line) when overlap-space `mode` has no form for `rule`."""
    if rule.optimizer == "adam":
        raise ConfigError(
            f"mode {mode!r} cannot run optimizer 'adam': Adam divides each of the N·P "
            "parameters by its own running gradient scale, which is not a function of the "
            "overlaps (not closed); run it in θ-space (mode theta)")
    if mode == "direct" and not (rule.is_plain and rule.optimizer == "gd"):
        raise ConfigError(
            "mode 'direct' is the identity-metric baseline of plain GD only; use optimizer "
            "'gd' without weight_decay, lr_scale, clip_norm or noise, or drop mode direct")
    if mode in ("flow", "euler") and is_augmented(rule):
        raise ConfigError(
            f"mode {mode!r} has no form for optimizer {rule.optimizer!r}: the momentum map "
            "Y ← Y·B is not near the identity (its velocity block is μ·I), so it has no "
            "first-order flow (only, rescaled, GD at rate η/(1−μ)); use mode exact")


# ---------------------------------------------------------------------------------------
# overlap space


def initial_rule_state(sigma0, rule: LearningRule):
    """The overlap state at the start: Σ₀ (P, P), or Γ₀ = blockdiag(Σ₀, 0) (2P, 2P) for
    momentum / Nesterov (the optax velocity starts at zero)."""
    sigma0 = jnp.asarray(sigma0)
    if not is_augmented(rule):
        return sigma0
    P = sigma0.shape[-1]
    out = jnp.zeros(sigma0.shape[:-2] + (2 * P, 2 * P), sigma0.dtype)
    return out.at[..., :P, :P].set(sigma0)


def sigma_block(state, P: int):
    """Σ (…, P, P) of an overlap state (Σ itself or Γ of [X | W])."""
    return state[..., :P, :P]


def _column_rates(scales, dtype, lanes: int):
    """Column scales (P,) or (P, *lanes) as an array broadcastable to (P, *lanes)."""
    d = jnp.asarray(scales, dtype)
    return lane_lift(d, lanes) if d.ndim == 1 else d


def effective_gradient(sigma, S, rule: LearningRule, scales):
    """The rule's effective gradient S_tot (P, P) and column rates d (P,) at Σ.

        S_tot = κ (S + (λ/2) I),   κ = 1 if 2·sqrt(tr(S Σ S)) < c else c / (2·sqrt(tr(S Σ S)))
        d     = scales  (× 1 / max(2·sqrt((S_tot Σ S_tot)_jj), COLNORM_EPS) for colnorm)

    (the S inside κ already includes λ). θ-space: √N·‖g‖_F = 2·sqrt(tr(S Σ S)) and
    √N·‖g_j‖ = 2·sqrt((S Σ S)_jj), so these are exactly what optax computes.

    Lanes (`_support.linalg`): Σ and S may be (P, P, *lanes), the rule's leaves scalars or
    (*lanes,), scales (P,) or (P, *lanes); then S_tot is (P, P, *lanes) and d broadcasts
    against (P, *lanes).
    """
    P = sigma.shape[0]
    dtype = sigma.dtype
    lanes = n_lanes(sigma)
    if not _is_value(rule.weight_decay, 0.0):  # a traced λ = 0 adds exactly 0
        S = S + (0.5 * jnp.asarray(rule.weight_decay, dtype)) * lane_eye(P, dtype, lanes)
    if rule.clip_norm is not None:
        SsS = matrix_product(matrix_product(S, sigma), S)
        norm = 2.0 * jnp.sqrt(jnp.maximum(lane_trace(SsS), 0.0))
        c = jnp.asarray(rule.clip_norm, dtype)
        S = jnp.where(norm < c, S, S / norm * c)
    d = _column_rates(scales, dtype, lanes)
    if rule.optimizer == "colnorm":
        SsS = matrix_product(matrix_product(S, sigma), S)
        col = 2.0 * jnp.sqrt(jnp.maximum(lane_diagonal(SsS), 0.0))
        d = d / jnp.maximum(col, COLNORM_EPS)
    return S, d


def _noise_drift(rule: LearningRule, eta, scales, dtype, lanes: int):
    """2ηT·D (P, P[, *lanes]): the N → ∞ mean of the weight noise per epoch."""
    T = jnp.asarray(rule.noise_temperature, dtype)
    return 2.0 * eta * T * lane_diag(_column_rates(scales, dtype, lanes), lanes)


def rule_exact_step(state, S, eta, rule: LearningRule, scales):
    """One epoch of the rule, exactly, in overlap space (docs/theory.md §9).

    Args:
        state: Σ (P, P), or Γ (2P, 2P) for momentum / Nesterov; or (…, *lanes) for many runs
            at once (lane axes last, `_support.linalg`).
        S: (P, P[, *lanes]) symmetric loss gradient sym(∂L/∂Σ) at the Σ block.
        eta: overlap-space learning rate η, a scalar or (*lanes,).
        rule: the rule (not Adam); its leaves scalars or (*lanes,).
        scales: (P,) or (P, *lanes) column multipliers (`column_scales`).

    Returns:
        The next state: (I − 2η D S_tot) Σ (I − 2η S_tot D), or Bᵀ Γ B; plus 2ηT·D on the Σ
        block when T > 0 (the N → ∞ mean of the weight noise).
    """
    P = S.shape[0]
    dtype = state.dtype
    lanes = n_lanes(state)
    eye = lane_eye(P, dtype, lanes)
    S_tot, d = effective_gradient(state[:P, :P], S, rule, scales)
    if is_augmented(rule):
        mu = jnp.asarray(rule.momentum, dtype)
        D = lane_diag(d, lanes)
        if rule.optimizer == "nesterov":
            blocks = [[eye - 2.0 * eta * (1.0 + mu) * S_tot * d[None], 2.0 * S_tot],
                      [-eta * mu * mu * D, mu * eye]]
        else:
            blocks = [[eye - 2.0 * eta * S_tot * d[None], 2.0 * S_tot], [-eta * mu * D, mu * eye]]
        shape = jnp.broadcast_shapes(*(b.shape for row in blocks for b in row))
        B = jnp.concatenate([jnp.concatenate([jnp.broadcast_to(b, shape) for b in row], 1)
                             for row in blocks], 0)
        new = matrix_product(matrix_product(lane_transpose(B), state), B)
    else:
        A = eye - 2.0 * eta * S_tot * d[None]  # X ← X A
        new = matrix_product(matrix_product(lane_transpose(A), state), A)
    if has_noise(rule):
        new = new.at[:P, :P].add(_noise_drift(rule, eta, scales, dtype, lanes))
    return new


def rule_flow_velocity(sigma, S, eta, rule: LearningRule, scales):
    """dΣ/dt = −2η (D S_tot Σ + Σ S_tot D) + 2ηT·D, per epoch (first order of the exact map).

    Defined for every rule whose state is Σ (gd, colnorm); `check_rule_mode` refuses the
    others. Shapes as `rule_exact_step` (lanes allowed).
    """
    S_tot, d = effective_gradient(sigma, S, rule, scales)
    G = S_tot * d[None]  # dX/dt = −2η X G
    v = -2.0 * eta * (matrix_product(lane_transpose(G), sigma) + matrix_product(sigma, G))
    if has_noise(rule):
        v = v + _noise_drift(rule, eta, scales, sigma.dtype, n_lanes(sigma))
    return v


def rule_euler_step(sigma, S, eta, rule: LearningRule, scales):
    """Σ ← Σ + `rule_flow_velocity`: one Euler step of unit size (one epoch)."""
    return sigma + rule_flow_velocity(sigma, S, eta, rule, scales)
