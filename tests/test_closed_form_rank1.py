"""The T-free rank-1 form equals the time-stepped loss; untrusted cases fall back."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of
from overlapflow.internal import closed_form_impulse as cf
from overlapflow.internal import closed_form_rank1 as r1


def _sigma(spec, seed, vu=None):
    """Random PSD Σ from N = 3P vectors, optionally with σ_vu set (d = 1 − dt + dt σ_vu)."""
    X = np.asarray(of.random_vectors(spec.with_N(3 * spec.P), seed=seed))
    sig = X.T @ X / X.shape[0]
    if vu is not None:
        sig[spec.v, spec.u] = vu
        sig[spec.u, spec.v] = vu
    return jnp.asarray(sig)


# Jitted once per spec and task (static), so tests that share them trace and compile once.
@functools.partial(jax.jit, static_argnums=(1, 2))
def _stepped(sig, spec, task):
    batch = of.batch_for_epoch(task, 0, 0)
    return jax.value_and_grad(lambda s: of.overlap_loss(s, batch, spec, "sum_dt"))(sig)


def _rank1_parts(sig, spec, task):
    f = jax.value_and_grad(lambda s: r1.rank1_loss_parts(s, spec, task), has_aux=True)
    (loss, ok), grad = f(sig)
    return loss, grad, ok


@functools.partial(jax.jit, static_argnums=(1, 2))
def _rank1(sig, spec, task):
    return _rank1_parts(sig, spec, task)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _fallback(sig, spec, task):
    """(closed form's (loss, grad, ok), the rank-1 form's ok, the doubling's (loss, grad)).

    One program: XLA evaluates the rank-1 form once for the closed form and for its flag.
    """
    doubling = jax.value_and_grad(lambda s: cf.impulse_loss_parts(s, spec, task)[0])(sig)
    return cf.closed_form_value_and_grad(sig, spec, task), _rank1_parts(sig, spec, task)[2], doubling


def _longdouble_loss(sig, spec, task):
    """Independent reference: the network stepped in extended precision (numpy longdouble)."""
    s = np.asarray(sig).astype(np.longdouble)
    dt, n_in = np.longdouble(spec.dt), spec.n_in
    mu = list(range(n_in)) + [n_in]
    A = (1 - dt) * np.eye(n_in + 1, dtype=np.longdouble)
    A[n_in:, :] += dt * s[spec.v][:, mu]
    C = s[spec.z][:, mu]
    kappa = np.eye(n_in + 1, n_in, dtype=np.longdouble)
    times = (np.arange(task.n_steps, dtype=np.longdouble) + 1) * dt
    target = np.longdouble(task.amplitude) * np.exp(-np.longdouble(task.decay) * times)
    total = np.longdouble(0)
    for k in target:
        e = C @ kappa - k
        total += np.sum(e * e)
        kappa = A @ kappa
    return total * dt


@pytest.mark.parametrize(
    "n_in, n_out, t_max, decay, seed",
    [
        (1, 1, 20.0, 0.2, 0),  # Figure 1, T = 400
        (2, 3, 3.0, 0.3, 1),
        (1, 1, 500.0, 0.2, 2),  # T = 10⁴
        (3, 2, 0.2, 0.2, 3),  # T = 4
        (1, 2, 20.0, 1.0, 4),  # r = e^{−dt} within dt²/2 of α = 1 − dt
        (2, 1, 10.0, 0.05, 5),  # slow target: r^{2T} = 0.37, 1 − r² = 0.005
    ],
)
def test_rank1_form_matches_stepping(n_in, n_out, t_max, decay, seed):
    spec = of.NetworkSpec(N=100, rank=1, n_in=n_in, n_out=n_out, dt=0.05)
    task = of.make_task("impulse_exp", dt=0.05, t_max=t_max, n_in=n_in, n_out=n_out,
                        decay=decay, amplitude=1.5)
    sig = _sigma(spec, seed)
    l_ref, g_ref = _stepped(sig, spec, task)
    loss, grad, ok = _rank1(sig, spec, task)
    assert bool(ok)
    assert abs(float(loss / l_ref) - 1.0) <= 1e-12
    assert float(jnp.max(jnp.abs(grad - g_ref))) <= 1e-12 * float(jnp.max(jnp.abs(g_ref)))


def test_rank1_form_keeps_relative_accuracy_at_small_loss():
    # Along Figure-1 learning the loss falls to ~1e-13 of its scale. Against an extended-
    # precision reference the rank-1 form is as accurate as the doubling's square-root form.
    spec = of.NetworkSpec(N=500, rank=1, dt=0.05)
    task = of.make_task("impulse_exp", dt=0.05, t_max=20.0, n_in=1, n_out=1, decay=0.2)
    X0 = of.random_vectors(spec, seed=0)
    res = of.learn_overlaps(X0.T @ X0 / spec.N, task, spec, eta=5e-3, epochs=2000, chunk=2001)
    fast = jax.jit(lambda s: r1.rank1_loss_parts(s, spec, task))
    doubling = jax.jit(lambda s: cf.impulse_loss_parts(s, spec, task)[0])
    for epoch, tol in ((0, 1e-13), (1000, 1e-11), (2000, 5e-9)):
        sig = jnp.asarray(res.sigma[epoch])
        ref = _longdouble_loss(sig, spec, task)
        loss, ok = fast(sig)
        err = abs(float(np.longdouble(float(loss)) / ref - 1))
        err_doubling = abs(float(np.longdouble(float(doubling(sig))) / ref - 1))
        assert bool(ok)
        assert err <= tol and err <= 10 * max(err_doubling, 1e-15), (epoch, err, err_doubling)
    assert float(res.loss[-1]) < 1e-11  # the run reaches the small-loss regime


@pytest.mark.parametrize(
    "t_max, vu",
    [
        (500.0, 0.999),  # ρ(A) = 1 − 5e-5, T = 10⁴ ≪ memory: 1 − d² ≈ 1e-4, d^{2T} ≈ 0.4
        (20.0, 1.02),  # ρ(A) > 1: growing output
        (20.0, -30.0),  # d = 0.95 − 1.5 < 0: an oscillating mode
        (10.0, None),  # decay 0: r = 1, the recursion's 1 − r² vanishes
    ],
)
def test_untrusted_rank1_form_falls_back_to_doubling(t_max, vu):
    spec = of.NetworkSpec(N=100, rank=1, n_in=1, n_out=2, dt=0.05)
    decay = 0.3 if vu is not None else 0.0
    task = of.make_task("impulse_exp", dt=0.05, t_max=t_max, n_in=1, n_out=2, decay=decay)
    sig = _sigma(spec, seed=11, vu=vu)
    (loss, grad, ok), rank1_ok, (l_dbl, g_dbl) = _fallback(sig, spec, task)
    assert not bool(rank1_ok)
    l_ref, g_ref = _stepped(sig, spec, task)
    assert float(loss) == float(l_dbl) and np.array_equal(np.asarray(grad), np.asarray(g_dbl))
    assert bool(ok)  # the doubling trusts itself in all these cases, and equals stepping
    assert abs(float(loss / l_ref) - 1.0) <= 1e-12
    assert float(jnp.max(jnp.abs(grad - g_ref))) <= 1e-12 * float(jnp.max(jnp.abs(g_ref)))


def test_batched_runs_decide_as_a_group():
    spec = of.NetworkSpec(N=100, rank=1, n_in=2, n_out=1, dt=0.05)
    task = of.make_task("impulse_exp", dt=0.05, t_max=20.0, n_in=2, n_out=1, decay=0.3)
    f = jax.jit(lambda s: cf.closed_form_value_and_grad(s, spec, task))
    for vus in ((None, None, None), (None, 1.02, None)):  # all trusted; one run untrusted
        sigs = [_sigma(spec, seed=20 + i, vu=vu) for i, vu in enumerate(vus)]
        loss, grad, ok = f(jnp.stack(sigs, axis=-1))
        for i, sig in enumerate(sigs):
            l_ref, g_ref = _stepped(sig, spec, task)
            assert abs(float(loss[i] / l_ref) - 1.0) <= 1e-12
            scale = float(jnp.max(jnp.abs(g_ref)))
            assert float(jnp.max(jnp.abs(grad[..., i] - g_ref))) <= 1e-12 * scale


def test_rank1_form_applies_only_where_it_is_the_loss():
    spec1 = of.NetworkSpec(N=50, rank=1, dt=0.05)
    exp = of.make_task("impulse_exp", dt=0.05, t_max=2.0, n_in=1, n_out=1)
    cos = of.make_task("impulse_damped_cos", dt=0.05, t_max=2.0, n_in=1, n_out=1)
    assert r1.rank1_form_applies(exp, spec1)
    assert not r1.rank1_form_applies(cos, spec1)
    assert not r1.rank1_form_applies(exp, of.NetworkSpec(N=50, rank=2, dt=0.05))
    assert not r1.rank1_form_applies(exp, of.NetworkSpec(N=50, rank=1, phi="tanh", dt=0.05))
