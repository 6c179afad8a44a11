"""Learning rules in overlap space against θ-space training of the full network (docs/theory.md §9).

The θ-space reference is written here from primitives: the loss with the penalty
(λ/2N)‖X‖² added, differentiated by JAX; clipping, column normalisation, the heavy-ball /
Nesterov velocity (optax's trace: v ← g + μv; step v, or g + μv for Nesterov) and the
per-column rates by hand. It shares nothing with `theta_optimizer` or the overlap maps.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import overlapflow as of
from overlapflow import (
    RULE_CLASSES,
    LearningRule,
    column_scales,
    initial_rule_state,
    linearise_exact_map,
    rule_class,
    rule_conserved_forms,
    rule_exact_step,
    state_size,
    theta_optimizer,
    weight_noise,
)
from overlapflow.internal import COLNORM_EPS, check_rule_mode, rule_euler_step, sigma_block


def _arrays_task(spec, T, B, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, spec.n_in))
    y = 0.5 * rng.normal(size=(B, T, spec.n_out)).cumsum(axis=1) * spec.dt
    return of.make_task("arrays", dt=spec.dt, n_in=spec.n_in, n_out=spec.n_out, x=x, y=y)


def _task(kind, spec, seed):
    if kind == "arrays":
        return _arrays_task(spec, T=10, B=2, seed=seed)
    if kind == "impulse_exp":
        return of.make_task("impulse_exp", dt=spec.dt, t_max=1.0, n_in=spec.n_in,
                            n_out=spec.n_out, decay=0.5)
    return of.make_task("noise_filter", dt=spec.dt, t_max=1.0, n_in=spec.n_in,
                        n_out=spec.n_out, batch_size=2, decay=0.7)


def _batch(task, seed, epoch, dtype):
    return jax.tree_util.tree_map(lambda a: a.astype(dtype), of.batch_for_epoch(task, seed, epoch))


@functools.partial(jax.jit, static_argnames=("spec", "task", "loss", "rule", "epochs"))
def _reference_theta(X0, eta, scales, *, spec, task, loss, rule, epochs, seed=0):
    """θ-space GD-family training from primitives; records (task loss, Σ, √N‖g‖) per epoch."""
    N = spec.N
    lam, mu = rule.weight_decay, rule.momentum

    def objective(X, batch):
        return of.theta_loss(X, batch, spec, loss) + lam / (2 * N) * jnp.sum(X * X)

    def step(carry, epoch):
        X, v = carry
        batch = _batch(task, seed, epoch, X.dtype)
        g = jax.grad(objective)(X, batch)
        gnorm = jnp.sqrt(N) * jnp.linalg.norm(g)
        if rule.clip_norm is not None:
            g = jnp.where(gnorm < rule.clip_norm, g, g / gnorm * rule.clip_norm)
        if rule.optimizer == "colnorm":
            g = g / jnp.maximum(jnp.sqrt(N * jnp.sum(g * g, axis=0)), COLNORM_EPS)
        if rule.optimizer in ("momentum", "nesterov"):
            v = g + mu * v
            upd = g + mu * v if rule.optimizer == "nesterov" else v
        else:
            upd = g
        X_new = X - N * eta * upd * scales[None, :]
        rec = (of.theta_loss(X, batch, spec, loss), of.overlaps(X), gnorm)
        return (X_new, v), rec

    _, (losses, sigmas, gnorms) = jax.lax.scan(step, (X0, jnp.zeros_like(X0)),
                                               jnp.arange(epochs + 1))
    return losses, sigmas, gnorms


@functools.partial(jax.jit, static_argnames=("spec", "task", "loss", "rule", "epochs"))
def _overlap_exact(sigma0, eta, scales, *, spec, task, loss, rule, epochs, seed=0):
    """The rule's exact overlap map; records (loss, Σ block) per epoch."""
    P = spec.P

    def step(state, epoch):
        batch = _batch(task, seed, epoch, state.dtype)
        L, S = of.overlap_gradient(sigma_block(state, P), batch, spec, loss, task)
        return rule_exact_step(state, S, eta, rule, scales), (L, sigma_block(state, P))

    _, rec = jax.lax.scan(step, initial_rule_state(sigma0, rule), jnp.arange(epochs + 1))
    return rec


# (name, rule options, rank, n_in, n_out, N, task kind, loss, eta, seed); N from P+1 to 200.
# The clip norms sit inside the range of √N‖g‖ of their runs (asserted: active on some
# epochs, not on others).
FAST_CASES = [
    ("combination", dict(optimizer="nesterov", momentum=0.5, weight_decay=0.1,
                         lr_scale={"m": 0.5, "v2": 0.0}, clip_norm=1.0),
     2, 1, 1, 80, "noise_filter", "sum_dt", 1e-2, 7),
]
MORE_CASES = [  # (the momentum case runs on the closed-form impulse loss)
    ("momentum", dict(optimizer="momentum", momentum=0.7), 1, 1, 1, 40, "impulse_exp",
     "sum_dt", 2e-2, 1),
    ("weight_decay_clip", dict(weight_decay=0.3, clip_norm=1.5), 1, 2, 2, 200, "noise_filter",
     "sum_dt", 2e-2, 3),
    ("frozen_family", dict(lr_scale={"m": 0.0, "z": 2.0}), 2, 1, 2, 8, "noise_filter",
     "sum_dt", 2e-2, 4),
    ("colnorm", dict(optimizer="colnorm", weight_decay=0.2, lr_scale={"z": 0.0, "v1": 0.5}),
     2, 2, 2, 9, "arrays", "masked_mean", 6e-3, 6),
]
FACTORY_TOO = ("momentum", "colnorm")  # also trained with theta_optimizer at network level


def _make(case):
    name, opts, rank, n_in, n_out, N, kind, loss, eta, seed = case
    spec = of.NetworkSpec(N=N, rank=rank, n_in=n_in, n_out=n_out, dt=0.1)
    task = _task(kind, spec, seed)
    X0 = of.random_vectors(spec, seed=seed)
    return spec, task, X0, LearningRule(**opts), loss, eta


def _check_exact(case, *, factory: bool):
    spec, task, X0, rule, loss, eta = _make(case)
    epochs = 200
    scales = jnp.asarray(column_scales(rule, spec))
    kw = dict(spec=spec, task=task, loss=loss, rule=rule, epochs=epochs)
    th_loss, th_sigma, gnorm = map(np.asarray, _reference_theta(X0, eta, scales, **kw))
    ov = of.learn_overlaps(of.overlaps(X0), task, spec, loss=loss, mode="exact", eta=eta,
                           epochs=epochs, rule=rule)
    ov_loss, ov_sigma = ov.loss, ov.sigma
    assert ov.state.shape == ((2 * spec.P,) * 2 if rule.optimizer in ("momentum", "nesterov")
                              else (spec.P,) * 2)
    assert np.all(np.isfinite(th_sigma)) and np.all(np.isfinite(th_loss))
    assert th_loss[-20:].mean() < 0.7 * th_loss[:5].mean()  # learning happened
    scale = np.max(np.abs(th_sigma))
    assert np.max(np.abs(ov_sigma - th_sigma)) <= 1e-10 * scale
    assert np.max(np.abs(ov_loss - th_loss) / np.abs(th_loss)) <= 1e-10
    if rule.clip_norm is not None:  # the clip acted on some epochs and not on others
        active = gnorm[:-1] >= rule.clip_norm
        assert active.sum() >= 2 and (~active).sum() >= 10, (active.sum(), epochs)
    frozen = np.flatnonzero(np.asarray(scales) == 0.0)
    for j in frozen:  # a frozen vector keeps its overlaps with every frozen vector
        np.testing.assert_allclose(th_sigma[:, j, frozen], th_sigma[:1, j, frozen].repeat(len(th_sigma), 0), rtol=0,
                                   atol=1e-13 * scale)
    if factory:  # train_theta (theta_optimizer's optax chain) is the same training
        th = of.train_theta(X0, task, spec, loss=loss, eta=eta, epochs=epochs, rule=rule)
        f_loss, f_sigma = th.loss, th.sigma
        assert np.max(np.abs(f_sigma - th_sigma)) <= 1e-11 * scale
        assert np.max(np.abs(f_loss - th_loss) / np.abs(th_loss)) <= 1e-11


@pytest.mark.parametrize("case", FAST_CASES, ids=[c[0] for c in FAST_CASES])
def test_exact_rule_map_equals_theta_space_training(case):
    _check_exact(case, factory=False)


@pytest.mark.parametrize("case", MORE_CASES, ids=[c[0] for c in MORE_CASES])
def test_exact_rule_map_equals_theta_space_training_more_cases(case):
    _check_exact(case, factory=case[0] in FACTORY_TOO)


@functools.partial(jax.jit, static_argnames=("rule", "spec", "steps"))
def _factory_vs_hand(X0, A, eta, *, rule, spec, steps):
    """`steps` updates of theta_optimizer and of the same rule written by hand, from X0."""
    N = spec.N
    d = jnp.asarray(column_scales(rule, spec))

    def grad(X):  # a gradient that is not of the form X·S
        return (A + A.T) @ X / (2 * N) + 0.01 * jnp.sin(X)

    opt = theta_optimizer(rule, eta, N, spec=spec)
    adam = optax.adam(eta)
    X, st = X0, opt.init(X0)
    Xr, v, ast = X0, jnp.zeros_like(X0), adam.init(X0)
    for _ in range(steps):
        u, st = opt.update(grad(X), st, X)
        X = optax.apply_updates(X, u)
        g = grad(Xr) + rule.weight_decay / N * Xr
        if rule.clip_norm is not None:
            n = jnp.sqrt(N) * jnp.linalg.norm(g)
            g = g * jnp.minimum(1.0, rule.clip_norm / n)
        if rule.optimizer == "colnorm":
            g = g / jnp.sqrt(N * jnp.sum(g * g, axis=0))
        if rule.optimizer == "adam":
            step, ast = adam.update(g, ast, Xr)
            Xr = Xr + step * d
            continue
        v = g + rule.momentum * v
        step = g + rule.momentum * v if rule.optimizer == "nesterov" else (
            v if rule.optimizer == "momentum" else g)
        Xr = Xr - N * eta * step * d
    return X, Xr


def test_theta_optimizer_is_the_rule_on_a_synthetic_gradient():
    # Every option of theta_optimizer against the same update written by hand.
    spec = of.NetworkSpec(N=12, rank=2, n_in=1, n_out=1)
    X0 = of.random_vectors(spec, seed=3)
    A = jax.random.normal(jax.random.PRNGKey(4), (spec.N, spec.N)) / spec.N
    for rule in [LearningRule(optimizer="momentum", momentum=0.8, weight_decay=0.3,
                              lr_scale={"u": 0.0, "z": 2.0}, clip_norm=0.01),
                 LearningRule(optimizer="nesterov", momentum=0.6, clip_norm=1e3),
                 LearningRule(optimizer="colnorm", weight_decay=0.1, lr_scale={"v1": 3.0}),
                 LearningRule(optimizer="adam", weight_decay=0.2, lr_scale={"m": 0.5})]:
        X, Xr = _factory_vs_hand(X0, A, 0.03, rule=rule, spec=spec, steps=4)
        np.testing.assert_allclose(np.asarray(X), np.asarray(Xr), rtol=0, atol=1e-13)
        assert np.max(np.abs(np.asarray(X - X0))) > 1e-4  # it moved


def test_plain_optimizers_are_bit_identical_to_optax():
    spec = of.NetworkSpec(N=20, rank=1, dt=0.1)
    X = of.random_vectors(spec, seed=0)
    g = jax.random.normal(jax.random.PRNGKey(1), X.shape, jnp.float64)
    eta = 5e-3
    for rule, ref in [(LearningRule(), optax.sgd(spec.N * eta)), (None, optax.sgd(spec.N * eta)),
                      (LearningRule(optimizer="adam"), optax.adam(eta))]:
        opt = theta_optimizer(rule, eta, spec.N)
        s1, s2 = opt.init(X), ref.init(X)
        for _ in range(3):
            u1, s1 = opt.update(g, s1, X)
            u2, s2 = ref.update(g, s2, X)
            np.testing.assert_array_equal(np.asarray(u1), np.asarray(u2))


# -- classification, state size, modes ---------------------------------------------------

def test_classification_and_state_size():
    spec = of.NetworkSpec(N=10, rank=2, n_in=1, n_out=1)
    P = spec.P
    table = {
        LearningRule(): ("exact", P * (P + 1) // 2),
        LearningRule(weight_decay=0.1, lr_scale={"u": 0}, clip_norm=1.0): ("exact", P * (P + 1) // 2),
        LearningRule(optimizer="colnorm"): ("exact", P * (P + 1) // 2),
        LearningRule(optimizer="momentum"): ("exact in an augmented space", P * (2 * P + 1)),
        LearningRule(optimizer="nesterov", weight_decay=0.1): ("exact in an augmented space",
                                                                P * (2 * P + 1)),
        LearningRule(noise_temperature=0.1): ("N → ∞ only", P * (P + 1) // 2),
        LearningRule(optimizer="momentum", noise_temperature=0.1): ("N → ∞ only", P * (2 * P + 1)),
        LearningRule(optimizer="adam"): ("not closed", None),
    }
    for rule, (cls, size) in table.items():
        assert rule_class(rule) == cls and cls in RULE_CLASSES
        assert state_size(rule, spec) == size
        if size is not None:  # the state the maps evolve has that many distinct entries
            Q = initial_rule_state(jnp.eye(P), rule).shape[-1]
            assert Q * (Q + 1) // 2 == size


def test_modes_without_a_form_give_one_line_errors():
    for rule, mode, words in [
        (LearningRule(optimizer="adam"), "exact", "not closed"),
        (LearningRule(optimizer="adam"), "flow", "not closed"),
        (LearningRule(optimizer="momentum"), "euler", "no form"),
        (LearningRule(optimizer="nesterov"), "flow", "no form"),
        (LearningRule(weight_decay=0.1), "direct", "baseline of plain GD"),
    ]:
        with pytest.raises(of.ConfigError, match=words) as err:
            check_rule_mode(rule, mode)
        assert "\n" not in str(err.value)
    for rule in (LearningRule(weight_decay=0.1), LearningRule(optimizer="colnorm")):
        for mode in ("exact", "flow", "euler"):
            check_rule_mode(rule, mode)  # these have forms


@pytest.mark.parametrize("kwargs,words", [
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(weight_decay=float("nan")), "weight_decay"),
    (dict(momentum=1.0), r"momentum must be in \[0, 1\)"),
    (dict(momentum=-0.1), "momentum"),
    (dict(clip_norm=0.0), "clip_norm"),
    (dict(clip_norm=-1.0), "clip_norm"),
    (dict(noise_temperature=-1e-3), "noise_temperature"),
    (dict(optimizer="rmsprop"), "gd, momentum, nesterov, adam, colnorm"),
    (dict(lr_scale={"q": 1.0}), "unknown vector 'q'"),
    (dict(lr_scale={"u": -1.0}), "lr_scale.u"),
    (dict(lr_scale=[1.0, 2.0]), "table"),
    (dict(noise_seed=-1), "noise_seed"),
    (dict(optimizer="colnorm", clip_norm=1.0), "no effect"),
])
def test_bad_rules_are_one_line_config_errors(kwargs, words):
    with pytest.raises(of.ConfigError, match=words) as err:
        LearningRule(**kwargs)
    assert "\n" not in str(err.value)


def test_lr_scale_resolution_and_unknown_column_for_the_network():
    spec = of.NetworkSpec(N=10, rank=2, n_in=1, n_out=1)  # columns m, u1, u2, v1, v2, z
    rule = LearningRule(lr_scale={"u": 0.5, "u2": 0.0, "z": 3})
    np.testing.assert_array_equal(column_scales(rule, spec), [1, 0.5, 0, 1, 1, 3])
    assert LearningRule(lr_scale={"u": 1}) == LearningRule(lr_scale=(("u", 1.0),))
    with pytest.raises(of.ConfigError, match="valid: m, u, v, z, u1, u2, v1, v2") as err:
        column_scales(LearningRule(lr_scale={"u3": 1.0}), spec)
    assert "'u3'" in str(err.value)
    with pytest.raises(of.ConfigError, match="valid"):
        column_scales(LearningRule(lr_scale={"m1": 1.0}), spec)  # one input: it is "m"
    with pytest.raises(of.ConfigError, match="spec="):
        theta_optimizer(LearningRule(lr_scale={"u": 0.5}), 1e-3, 10)


# -- conserved forms ---------------------------------------------------------------------
# The forms are a statement about every loss that reads only the visible overlaps. The flows
# below use such a loss, L = ½ Σ_visible w_ab (σ_ab − t_ab)², whose S is cheap: no compile
# of the network's loss per rule. (The exactness tests above tie the maps to θ-space.)


def _visible_quadratic(spec, seed):
    rng = np.random.default_rng(seed)
    mask = of.visible_mask(spec).astype(float)
    W = rng.uniform(0.5, 1.5, (spec.P, spec.P))
    target = rng.normal(size=(spec.P, spec.P))
    W, target = (W + W.T) / 2 * mask, (target + target.T) / 2
    half = 0.5 * (1.0 - np.eye(spec.P)) + np.eye(spec.P)  # S_ab = ½ ∂L/∂σ_ab off the diagonal

    def S_of(sigma):
        return jnp.asarray(W * half) * (sigma - jnp.asarray(target))

    return S_of


@functools.partial(jax.jit, static_argnames=("S_of", "rule", "steps"))
def _rk4_flow(sigma0, eta, scales, h, *, S_of, rule, steps):
    """The rule's gradient flow, RK4 with step h (in epochs); (steps+1, P, P)."""
    from overlapflow.internal import rule_flow_velocity

    def f(sig):
        return rule_flow_velocity(sig, S_of(sig), eta, rule, scales)

    def step(sig, _):
        k1 = f(sig)
        k2 = f(sig + 0.5 * h * k1)
        k3 = f(sig + 0.5 * h * k2)
        k4 = f(sig + h * k3)
        return sig + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4), sig

    last, path = jax.lax.scan(step, sigma0, None, length=steps)
    return jnp.concatenate([path, last[None]])


@functools.partial(jax.jit, static_argnames=("S_of", "rule", "steps", "P"))
def _exact_map(state0, eta, scales, *, S_of, rule, steps, P):
    def step(st, _):
        return rule_exact_step(st, S_of(sigma_block(st, P)), eta, rule, scales), st

    last, path = jax.lax.scan(step, state0, None, length=steps)
    return jnp.concatenate([path, last[None]])


def _in_span(forms, J):
    if forms.shape[0] == 0:
        return False
    A = forms.reshape(forms.shape[0], -1).T
    coef = np.linalg.lstsq(A, J.ravel(), rcond=None)[0]
    return np.linalg.norm(A @ coef - J.ravel()) < 1e-9 * np.linalg.norm(J)


def _embed_x(J, P):
    out = np.zeros((2 * P, 2 * P))
    out[:P, :P] = J
    return out


# (name, rule, network (rank, n_in, n_out), number of forms expected)
FLOW_RULES = [
    ("gd", LearningRule(), (1, 1, 1), 1),
    ("rates", LearningRule(lr_scale={"u": 0.5, "z": 2.0}), (1, 1, 1), 1),
    ("frozen_u", LearningRule(lr_scale={"u": 0.0}), (1, 1, 1), 1),
    ("decay", LearningRule(weight_decay=0.2), (1, 1, 1), 0),
    ("colnorm", LearningRule(optimizer="colnorm"), (1, 1, 1), 0),
    ("clip", LearningRule(clip_norm=0.2), (1, 1, 1), 1),
    ("noise", LearningRule(noise_temperature=0.05), (1, 1, 1), 0),
]
FLOW_RULES_RANK2 = [
    ("gd_rank2", LearningRule(), (2, 1, 1), 1),
    ("decay_frozen_m", LearningRule(weight_decay=0.2, lr_scale={"m": 0}), (2, 1, 1), 1),
    ("colnorm_frozen_z", LearningRule(optimizer="colnorm", lr_scale={"z": 0}), (2, 1, 1), 1),
]


@pytest.mark.parametrize("name,rule,arch,expect", FLOW_RULES, ids=[r[0] for r in FLOW_RULES])
def test_rule_forms_are_conserved_by_the_flow_and_other_gd_forms_drift(name, rule, arch, expect):
    _check_flow_forms(name, rule, arch, expect)


@pytest.mark.parametrize("name,rule,arch,expect", FLOW_RULES_RANK2,
                         ids=[r[0] for r in FLOW_RULES_RANK2])
def test_rule_forms_of_rank2_networks_are_conserved_by_the_flow(name, rule, arch, expect):
    _check_flow_forms(name, rule, arch, expect)


def _check_flow_forms(name, rule, arch, expect):
    rank, n_in, n_out = arch
    spec = of.NetworkSpec(N=10, rank=rank, n_in=n_in, n_out=n_out)
    rf = rule_conserved_forms(rule, spec)
    assert rf.space == "sigma" and rf.kind == "flow"
    assert rf.forms.shape[0] == expect, rf.forms
    scales = jnp.asarray(column_scales(rule, spec))
    sigma0 = of.overlaps(of.random_vectors(spec.with_N(50), seed=1))
    path = np.asarray(_rk4_flow(sigma0, 0.05, scales, 0.05, S_of=_visible_quadratic(spec, 0),
                                rule=rule, steps=400))
    assert np.all(np.isfinite(path))
    assert np.max(np.abs(path[-1] - path[0])) > 0.05 * np.max(np.abs(path[0]))  # Σ moved
    if expect:
        assert np.max(of.invariant_drift(path, rf.forms)) <= 1e-8, name
    gd = rule_conserved_forms(LearningRule(), spec).forms
    dropped = [J for J in gd if not _in_span(rf.forms, J)]
    assert bool(dropped) == (name not in ("gd", "gd_rank2", "clip"))
    for J in dropped:  # plain GD's forms that this rule does not keep drift
        assert np.max(of.invariant_drift(path, J[None])) > 1e-3, name


def test_rates_turn_the_gd_form_into_the_rate_weighted_form():
    # dX/dt = −2ηX S D: X D^−½ follows plain GD with S̃ = D^½ S D^½, so J_gd D^−1 is kept.
    spec = of.NetworkSpec(N=10, rank=1)
    d = np.array([1.0, 0.5, 1.0, 2.0])  # m, u, v, z
    forms = rule_conserved_forms(LearningRule(lr_scale={"u": 0.5, "z": 2.0}), spec).forms
    J = rule_conserved_forms(LearningRule(), spec).forms[0] @ np.diag(1.0 / d)
    assert forms.shape[0] == 1 and _in_span(forms, J)


@pytest.mark.parametrize("rule,expect", [
    (LearningRule(optimizer="momentum", momentum=0.9), 0),
    (LearningRule(optimizer="nesterov", momentum=0.7, weight_decay=0.1), 0),
    (LearningRule(optimizer="momentum", momentum=0.5, lr_scale={"u": 0.0}), 1),
])
def test_momentum_forms_are_conserved_by_the_augmented_map(rule, expect):
    spec = of.NetworkSpec(N=10, rank=1)
    P, eta = spec.P, 0.02
    rf = rule_conserved_forms(rule, spec, eta=eta)
    assert rf.space == "gamma" and rf.kind == "exact map" and rf.forms.shape == (expect, 2 * P, 2 * P)
    scales = jnp.asarray(column_scales(rule, spec))
    state0 = initial_rule_state(of.overlaps(of.random_vectors(spec.with_N(50), seed=2)), rule)
    path = np.asarray(_exact_map(state0, eta, scales, S_of=_visible_quadratic(spec, 1), rule=rule,
                                 steps=300, P=P))
    assert np.all(np.isfinite(path)) and np.max(np.abs(path[-1] - path[0])) > 0.05
    for J in rf.forms:  # every step of the exact map keeps them (rounding only)
        assert np.max(of.invariant_drift(path, J[None])) <= 1e-10
        assert np.all(J[P:, :] == 0)  # frozen columns: they read X only
    for J in rule_conserved_forms(LearningRule(), spec).forms:  # plain GD's form drifts
        assert np.max(of.invariant_drift(path, _embed_x(J, P)[None])) > 1e-3
    with pytest.raises(of.ConfigError, match="eta="):
        rule_conserved_forms(rule, spec)


def test_heavy_ball_keeps_the_gd_forms_only_in_the_rescaled_limit():
    # Heavy ball at rate η is GD at rate η/(1−μ) as η → 0: over a fixed rescaled time the GD
    # form drifts by O(η) (halving η halves it), so it is conserved only in that limit.
    spec = of.NetworkSpec(N=10, rank=1)
    P, mu = spec.P, 0.5
    J = _embed_x(rule_conserved_forms(LearningRule(), spec).forms[0], P)
    rule = LearningRule(optimizer="momentum", momentum=mu)
    sigma0 = of.overlaps(of.random_vectors(spec.with_N(50), seed=2))
    drift = []
    for eta in (0.01, 0.005):
        steps = int(round(5.0 * (1 - mu) / eta))
        path = np.asarray(_exact_map(initial_rule_state(sigma0, rule), eta, jnp.ones(P),
                                     S_of=_visible_quadratic(spec, 1), rule=rule, steps=steps,
                                     P=P))
        drift.append(np.max(of.invariant_drift(path, J[None])))
    assert drift[1] > 1e-4 and 1.8 < drift[0] / drift[1] < 2.2, drift


@functools.partial(jax.jit, static_argnames=("rule",))
def _remainder(sigma, S, eta, scales, *, rule):
    return jnp.max(jnp.abs(rule_exact_step(sigma, S, eta, rule, scales)
                           - rule_euler_step(sigma, S, eta, rule, scales)))


def test_flow_velocity_is_the_first_order_part_of_the_exact_map():
    spec = of.NetworkSpec(N=10, rank=1, n_in=1, n_out=1)
    sigma = of.overlaps(of.random_vectors(spec.with_N(40), seed=5))
    S = _visible_quadratic(spec, 2)(sigma)
    for rule in (LearningRule(weight_decay=0.3, lr_scale={"u": 0.5}, clip_norm=0.1),
                 LearningRule(optimizer="colnorm", weight_decay=0.1)):
        scales = jnp.asarray(column_scales(rule, spec))
        errs = [float(_remainder(sigma, S, eta, scales, rule=rule)) for eta in (1e-3, 5e-4)]
        assert errs[1] > 0 and 3.9 < errs[0] / errs[1] < 4.1  # the remainder is O(η²)


def test_adam_has_no_overlap_forms():
    with pytest.raises(of.ConfigError, match="not closed"):
        rule_conserved_forms(LearningRule(optimizer="adam"), of.NetworkSpec(N=10))


# -- linearisation ---------------------------------------------------------------------

def test_linearisation_at_a_zero_loss_point_keeps_or_decays_the_invisible_overlaps():
    # A teacher of the same architecture makes Σ* a zero-loss point (S = 0). There the column
    # of an invisible direction σ_ab is (1 − ηλd_a)(1 − ηλd_b) times its unit vector: weight
    # decay forgets at rate −log((1 − ηλd_a)(1 − ηλd_b)) per epoch; a frozen pair (d = 0)
    # and plain GD (λ = 0) keep it (eigenvalue 1: memory).
    spec = of.NetworkSpec(N=30, rank=1)
    Xt = of.random_vectors(spec, seed=7)
    x = np.random.default_rng(0).normal(size=(2, 12, 1))
    y = np.asarray(of.network_outputs(Xt, jnp.asarray(x), spec))
    task = of.make_task("arrays", dt=spec.dt, n_in=1, n_out=1, x=x, y=y)
    eta, lam = 0.05, 0.4
    rule = LearningRule(weight_decay=lam, lr_scale={"u": 0.0, "z": 2.0})
    lin = linearise_exact_map(of.overlaps(Xt), task, spec, rule=rule, eta=eta)
    names = np.array(lin.names)[lin.invisible]
    assert set(names) == set(of.invisible_overlaps(spec))
    d = dict(zip(spec.vector_names, column_scales(rule, spec)))
    expect = np.array([(1 - eta * lam * d[n[0]]) * (1 - eta * lam * d[n[1]]) for n in names])
    np.testing.assert_allclose(lin.restricted, np.diag(expect), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.sort(lin.eigenvalues.real), np.sort(expect), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.sort(lin.decay_rates), np.sort(-np.log(expect)), atol=1e-12)
    assert np.sum(np.abs(lin.decay_rates) < 1e-12) == 1  # σ_uu: both ends frozen, kept
    # the invisible columns do not feed the visible overlaps at S = 0: block triangular
    vis = np.setdiff1d(np.arange(len(lin.names)), lin.invisible)
    np.testing.assert_allclose(lin.jacobian[np.ix_(vis, lin.invisible)], 0.0, atol=1e-12)


def test_linearisation_jacobian_matches_finite_differences():
    spec = of.NetworkSpec(N=30, rank=1, dt=0.1)
    task = _arrays_task(spec, T=10, B=2, seed=3)
    rule = LearningRule(optimizer="momentum", momentum=0.5, weight_decay=0.1)
    sigma = of.overlaps(of.random_vectors(spec, seed=3))
    state = initial_rule_state(sigma, rule).at[spec.P:, :spec.P].set(0.1 * sigma)
    state = state.at[:spec.P, spec.P:].set(0.1 * sigma).at[spec.P:, spec.P:].set(0.2 * sigma)
    eta = 0.05
    lin = linearise_exact_map(state, task, spec, rule=rule, eta=eta, loss="masked_mean")
    assert lin.jacobian.shape == (state_size(rule, spec),) * 2 == (len(lin.names),) * 2
    Q = 2 * spec.P
    iu = np.triu_indices(Q)
    batch = of.batch_for_epoch(task, 0, 0)
    scales = jnp.ones(spec.P)

    @jax.jit
    def F(coords):
        M = jnp.zeros((Q, Q)).at[iu].set(coords)
        M = M + jnp.triu(M, 1).T
        _, S = of.overlap_gradient(M[:spec.P, :spec.P], batch, spec, "masked_mean")
        return rule_exact_step(M, S, eta, rule, scales)[iu]

    c0 = np.asarray(state)[iu]
    for k in (0, 3, 7, 20, 35):  # a few columns, central differences
        e = np.zeros_like(c0)
        e[k] = 1e-5
        fd = np.asarray(F(c0 + e) - F(c0 - e)) / 2e-5
        np.testing.assert_allclose(lin.jacobian[:, k], fd, rtol=0, atol=1e-7)
    assert len(lin.invisible) == len(lin.names) - len(of.visible_overlaps(spec))


# -- weight noise: θ-space approaches the overlap-space mean like N^−½ ------------------

@functools.partial(jax.jit, static_argnames=("spec", "task", "rule", "epochs"))
def _theta_noisy(X0, noise_seed, eta, *, spec, task, rule, epochs):
    opt = theta_optimizer(rule, eta, spec.N, spec=spec)

    def step(carry, epoch):
        X, st = carry
        batch = _batch(task, 0, epoch, X.dtype)
        g = jax.grad(of.theta_loss)(X, batch, spec, "sum_dt")
        upd, st = opt.update(g, st, X)
        X = optax.apply_updates(X, upd) + weight_noise(rule, eta, epoch, X.shape, X.dtype,
                                                        seed=noise_seed)
        return (X, st), of.overlaps(X)

    _, sig = jax.lax.scan(step, (X0, opt.init(X0)), jnp.arange(epochs))
    return sig


def test_weight_noise_theta_approaches_the_overlap_mean_like_inverse_sqrt_n():
    base = of.NetworkSpec(N=8, rank=1, dt=0.1)
    task = _task("impulse_exp", base, 0)
    rule = LearningRule(noise_temperature=0.05)
    eta, epochs = 0.02, 100
    sigma0 = of.overlaps(of.random_vectors(base.with_N(400), seed=0))
    scales = jnp.ones(base.P)
    _, ov = _overlap_exact(sigma0, eta, scales, spec=base, task=task, loss="sum_dt", rule=rule,
                           epochs=epochs)
    ov = np.asarray(ov)[1:]  # Σ after updates 1…E
    Ns, seeds = (40, 320, 2560), range(6)
    lam, W = np.linalg.eigh(np.asarray(sigma0))
    F = np.sqrt(lam)[:, None] * W.T  # FᵀF = Σ₀ (Σ₀ positive definite)
    diffs = []
    for N in Ns:
        spec = base.with_N(N)
        rng = np.random.default_rng(N)  # X = √N·Q·F, Q (N, P) orthonormal: XᵀX/N = Σ₀
        X0 = jnp.stack([np.sqrt(N) * np.linalg.qr(rng.normal(size=(N, base.P)))[0] @ F
                        for _ in seeds])
        run = functools.partial(_theta_noisy, eta=eta, spec=spec, task=task, rule=rule,
                                epochs=epochs)
        th = jax.vmap(run)(X0, jnp.arange(len(seeds)))
        th = np.asarray(th)
        diffs.append(np.mean(np.max(np.abs(th - ov[None]), axis=(1, 2, 3))))
    x, y = np.log(Ns), np.log(diffs)
    slope, icpt = np.polyfit(x, y, 1)
    resid = y - (slope * x + icpt)
    se = np.sqrt(np.sum(resid**2) / (len(x) - 2) / np.sum((x - x.mean()) ** 2))
    print(f"noise: mean max|ΔΣ| {dict(zip(Ns, np.round(diffs, 5)))}; slope {slope:.3f} ± {se:.3f}")
    assert -0.7 <= slope <= -0.3, (slope, diffs)
    # the mean term matters: it moved the overlaps far more than θ-space differs from them
    assert 2 * eta * rule.noise_temperature * epochs > 5 * diffs[-1]


# -- integration: config, command line, modes, limit ----------------------------------------

FIG1_RAW = {
    "network": {"N": 20, "rank": 1, "phi": "linear", "dt": 0.1},
    "task": {"kind": "impulse_exp", "t_max": 2.0, "decay": 0.5},
    "train": {"eta": 0.02, "epochs": 5, "modes": ["theta", "exact"]},
}


def _raw(**train):
    raw = {k: dict(v) for k, v in FIG1_RAW.items()}
    raw["train"].update(train)
    return raw


def test_config_rule_keys_defaults_and_errors():
    cfg = of.config_from_dict(_raw())
    assert cfg.train.rule == LearningRule() and cfg.train.rule.is_plain  # today's behaviour
    cfg = of.config_from_dict(_raw(optimizer="nesterov", momentum=0.5, weight_decay=0.1,
                                   lr_scale={"u": 0.5, "z": 0}, clip_norm=2.0,
                                   noise_temperature=0.01, noise_seed=3))
    assert cfg.train.rule == LearningRule(optimizer="nesterov", momentum=0.5, weight_decay=0.1,
                                          lr_scale={"u": 0.5, "z": 0.0}, clip_norm=2.0,
                                          noise_temperature=0.01, noise_seed=3)
    assert cfg.resolved["train"]["lr_scale"] == {"u": 0.5, "z": 0.0}
    for train, words in [
        (dict(optimizer="adam", modes=["theta", "exact"]), "not closed"),
        (dict(optimizer="momentum", modes=["flow"]), "no form"),
        (dict(weight_decay=0.1, modes=["direct"]), "baseline of plain GD"),
        (dict(lr_scale={"u2": 0.5}), "valid: m, u, v, z"),
        (dict(noise_temperature=0.1, modes=["limit"]), "not run on nodes"),
        (dict(noise_temperature=0.1, modes=["theta"], track_every=2), "track_every"),
        (dict(momentum=1.5), "momentum"),
        (dict(clip_norm=0), "clip_norm"),
    ]:
        with pytest.raises(of.ConfigError, match=words) as err:
            of.config_from_dict(_raw(**train))
        assert "\n" not in str(err.value)
    # Adam runs in θ-space alone
    assert of.config_from_dict(_raw(optimizer="adam", modes=["theta"])).train.rule.optimizer == "adam"
    # the functions refuse before computing anything
    spec = of.NetworkSpec(N=12, rank=1, dt=0.1)
    task = _task("impulse_exp", spec, 0)
    X0 = np.asarray(of.random_vectors(spec, seed=0))
    kw = dict(eta=0.02, epochs=20)
    with pytest.raises(of.ConfigError, match="contradicts"):
        of.train_theta(X0, task, spec, optimizer="adam", rule=LearningRule(), **kw)
    with pytest.raises(of.ConfigError, match="not closed"):
        of.learn_overlaps(X0.T @ X0 / 12, task, spec, rule=LearningRule(optimizer="adam"), **kw)
    with pytest.raises(of.ConfigError, match="no form"):
        of.learn_overlaps(X0.T @ X0 / 12, task, spec, mode="flow",
                          rule=LearningRule(optimizer="nesterov"), **kw)
    with pytest.raises(of.ConfigError, match="valid: m, u, v, z"):
        of.train_theta(X0, task, spec, rule=LearningRule(lr_scale={"z3": 0.0}), **kw)
    with pytest.raises(of.ConfigError, match="not run on nodes"):
        of.learn_limit(X0.T @ X0 / 12, task, spec, rule=LearningRule(noise_temperature=0.1),
                       **kw)


def test_cli_refuses_a_mode_without_a_form_and_inspect_reports_the_rule(tmp_path, capsys):
    from overlapflow.cli import main

    path = tmp_path / "m.toml"
    path.write_text('[network]\nN = 20\nrank = 1\ndt = 0.1\n[task]\nkind = "impulse_exp"\n'
                    't_max = 2.0\n[train]\neta = 0.02\nepochs = 5\noptimizer = "momentum"\n'
                    'momentum = 0.5\nlr_scale = {u = 0}\nmodes = ["theta", "euler"]\n')
    assert main(["compare", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "mode 'euler' has no form for optimizer 'momentum'" in err
    path.write_text(path.read_text().replace('["theta", "euler"]', '["theta", "exact"]'))
    assert main(["inspect", str(path), "--out", str(tmp_path / "insp")]) == 0
    text = capsys.readouterr().out
    assert "learning rule: momentum" in text and "exact in an augmented space" in text
    assert "Γ of [X | W] (W = N·velocity), 36 numbers" in text
    import json

    report = json.loads((tmp_path / "insp" / "inspect.json").read_text())["learning_rule"]
    assert report["class"] == "exact in an augmented space" and report["state_size"] == 36
    J = np.zeros((8, 8))
    J[1, 1] = 1.0  # u frozen: σ_uu is kept exactly, computed, not written down
    np.testing.assert_array_equal(report["forms"], [J])
    assert report["form_values"][0]["trace"] == pytest.approx(1.0)  # σ_uu of the start


def test_flow_and_euler_modes_of_a_rule_are_first_order_in_eta():
    # Euler steps of a GD-family rule approach its flow (adaptive solver) like η: halving η
    # and doubling the epochs halves their distance. (Euler against the exact map per step:
    # test_flow_velocity_is_the_first_order_part_of_the_exact_map.)
    spec = of.NetworkSpec(N=12, rank=1, dt=0.1)
    task = _task("impulse_exp", spec, 0)
    sigma0 = of.overlaps(of.random_vectors(spec, seed=1))
    rule = LearningRule(weight_decay=0.2, lr_scale={"z": 0.5}, clip_norm=0.5,
                        noise_temperature=0.01)
    gaps = []
    for eta in (0.02, 0.01):  # one chunk length: one compilation per mode
        epochs = int(round(1.0 / eta))
        run = {mode: of.learn_overlaps(sigma0, task, spec, mode=mode, eta=eta, epochs=epochs,
                                       rule=rule, chunk=25) for mode in ("euler", "flow")}
        gaps.append(np.max(np.abs(run["euler"].sigma[-1] - run["flow"].sigma[-1])))
        assert np.max(np.abs(run["flow"].sigma[-1] - sigma0)) > 0.05  # it learned
    assert gaps[1] > 0 and 1.7 < gaps[0] / gaps[1] < 2.3, gaps


def test_limit_mode_runs_exact_class_rules_exactly_on_a_linear_network():
    # For φ linear the nodes' Σ follows the exact map whatever the nodes (their second
    # moment is Σ₀): the limit mode under a rule equals the rule's exact map.
    spec = of.NetworkSpec(N=12, rank=1, dt=0.1)
    task = _task("noise_filter", spec, 0)
    sigma0 = of.overlaps(of.random_vectors(spec.with_N(50), seed=2))
    # (the node form of colnorm: test_theta_on_nodes_runs_the_rule_like_train_theta)
    rule = LearningRule(optimizer="momentum", momentum=0.6, weight_decay=0.1,
                        lr_scale={"u": 0.5}, clip_norm=0.3)
    kw = dict(eta=0.01, epochs=60, rule=rule, chunk=20)
    lim = of.learn_limit(sigma0, task, spec, nodes=4, check=False, **kw)
    ex = of.learn_overlaps(sigma0, task, spec, **kw)
    assert np.max(np.abs(lim.sigma - ex.sigma)) <= 1e-10 * np.max(np.abs(ex.sigma))
    assert np.max(np.abs(lim.sigma[-1] - lim.sigma[0])) > 1e-3


def test_theta_on_nodes_runs_the_rule_like_train_theta():
    spec = of.NetworkSpec(N=15, rank=1, dt=0.1)
    task = _task("noise_filter", spec, 0)
    X0 = of.random_vectors(spec, seed=3)
    rule = LearningRule(optimizer="colnorm", weight_decay=0.2, lr_scale={"v": 2.0, "m": 0.0})
    kw = dict(eta=0.005, epochs=40, rule=rule)
    a = of.train_theta(X0, task, spec, **kw)
    b = of.train_theta_adjoint(X0, task, spec, **kw)
    assert np.max(np.abs(a.sigma - b.sigma)) <= 1e-10 * np.max(np.abs(a.sigma))
