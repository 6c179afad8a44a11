"""The T-free Newton form equals the time-stepped loss for both impulse tasks at small ranks;
coinciding eigenvalues leave the gradient exact; untrusted cases fall back."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of
from overlapflow.internal import closed_form_impulse as cf
from overlapflow.internal import closed_form_newton as nw

# One worker runs this module, so the jitted forms below (cached per spec and task, ~6 s to
# compile each) are compiled once and shared by the tests that use the same spec and task.
pytestmark = pytest.mark.xdist_group("closed_form_newton")

# Figure 12's architecture and task (rank 2, damped cosine, T = 400). Most tests below use
# this one spec and task, so each form is compiled for it once and shared.
FIG12_SPEC = of.NetworkSpec(N=500, rank=2, dt=0.05)
FIG12_TASK = of.make_task("impulse_damped_cos", dt=0.05, t_max=20.0, n_in=1, n_out=1,
                          decay=0.3, omega=2.0)


def _task(kind, n_in, n_out, t_max, decay=0.3):
    extra = {"omega": 2.0} if kind == "impulse_damped_cos" else {}
    return of.make_task(kind, dt=0.05, t_max=t_max, n_in=n_in, n_out=n_out, decay=decay,
                        amplitude=1.5, **extra)


def _sigma(spec, seed, S=None):
    """Random PSD Σ from N = 3P vectors, optionally with the block Σ_VU set to S."""
    X = np.asarray(of.random_vectors(spec.with_N(3 * spec.P), seed=seed))
    sig = X.T @ X / X.shape[0]
    if S is not None:
        v, u = np.arange(spec.P)[spec.v], np.arange(spec.P)[spec.u]
        sig[np.ix_(v, u)] = S
        sig[np.ix_(u, v)] = np.asarray(S).T
    return jnp.asarray(sig)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _stepped(sig, spec, task):
    batch = of.batch_for_epoch(task, 0, 0)
    return jax.value_and_grad(lambda s: of.overlap_loss(s, batch, spec, "sum_dt"))(sig)


def _newton_parts(sig, spec, task):
    def total(s):
        loss, ok = nw.newton_loss_parts(s, spec, task)
        return jnp.sum(loss), ok

    (loss, ok), grad = jax.value_and_grad(total, has_aux=True)(sig)
    return loss, grad, ok


@functools.partial(jax.jit, static_argnums=(1, 2))
def _newton(sig, spec, task):
    """(loss, ∂loss/∂Σ, ok) of the Newton form (jitted once per spec and task)."""
    return _newton_parts(sig, spec, task)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _doubling_value(sig, spec, task):
    return cf.impulse_loss_parts(sig, spec, task)[0]


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _forms_jit(sig, spec, task, min_steps):
    del min_steps  # part of the cache key only (see `_forms`)
    doubling = jax.value_and_grad(lambda s: cf.impulse_loss_parts(s, spec, task)[0])(sig)
    return (cf.closed_form_value_and_grad(sig, spec, task),
            cf.impulse_closed_form_loss(sig, spec, task),
            _newton_parts(sig, spec, task)[2], doubling)


def _forms(sig, spec, task):
    """(closed form's (loss, grad, ok), its value alone (`impulse_closed_form_loss`), the
    Newton form's ok, the doubling form's (loss, grad)).

    One program: XLA evaluates the Newton form once for all three, so this compiles in about
    the time of the closed form alone. Cached per spec, task and the current
    `NEWTON_MIN_STEPS` (monkeypatched by the tests, and read when tracing).
    """
    return _forms_jit(sig, spec, task, tuple(sorted(cf.NEWTON_MIN_STEPS.items())))


def _newton_for_one_run_at(task, monkeypatch):
    """Rank 2: the Newton form for one run from this task's length on, runs in lanes from
    one step more (the same patch in every test at T = 400, so they share `_forms`)."""
    monkeypatch.setitem(cf.NEWTON_MIN_STEPS, 2, (task.n_steps, task.n_steps + 1))


def _close(loss, grad, ref, tol=1e-12):
    l_ref, g_ref = ref
    assert abs(float(loss / l_ref) - 1.0) <= tol
    assert float(jnp.max(jnp.abs(grad - g_ref))) <= tol * float(jnp.max(jnp.abs(g_ref)))


def _longdouble_loss(sig, spec, task):
    """Independent reference: the network stepped in extended precision (numpy longdouble)."""
    s = np.asarray(sig).astype(np.longdouble)
    dt, n_in, R = np.longdouble(spec.dt), spec.n_in, spec.rank
    mu = np.r_[np.arange(spec.P)[spec.m], np.arange(spec.P)[spec.u]]
    A = (1 - dt) * np.eye(n_in + R, dtype=np.longdouble)
    A[n_in:, :] += dt * s[spec.v][:, mu]
    C = s[spec.z][:, mu]
    kappa = np.eye(n_in + R, n_in, dtype=np.longdouble)
    times = (np.arange(task.n_steps, dtype=np.longdouble) + 1) * dt
    target = np.longdouble(task.amplitude) * np.exp(-np.longdouble(task.decay) * times)
    if task.kind == "impulse_damped_cos":
        target = target * np.cos(np.longdouble(task.omega) * times)
    total = np.longdouble(0)
    for k in target:
        e = C @ kappa - k
        total += np.sum(e * e)
        kappa = A @ kappa
    return total * dt


@pytest.mark.parametrize(
    "kind, rank, n_in, n_out, t_max, seed",
    [
        ("impulse_damped_cos", 1, 1, 1, 20.0, 0),
        ("impulse_damped_cos", 2, 1, 1, 20.0, 1),  # Figure 12's (FIG12_SPEC, FIG12_TASK)
        ("impulse_damped_cos", 2, 2, 3, 500.0, 3),  # T = 10⁴
        # T = 10⁴, rank 3 (the general eigensolver): also the long-T impulse_exp case (a
        # separate rank-2 one would compile another form, ~6 s, for code the cases above run)
        ("impulse_exp", 3, 2, 2, 500.0, 6),
    ],
)
def test_newton_form_matches_stepping(kind, rank, n_in, n_out, t_max, seed):
    spec = of.NetworkSpec(N=100, rank=rank, n_in=n_in, n_out=n_out, dt=0.05)
    task = _task(kind, n_in, n_out, t_max)
    if (kind, rank, n_in, n_out, t_max) == ("impulse_damped_cos", 2, 1, 1, 20.0):
        spec, task = FIG12_SPEC, FIG12_TASK  # (amplitude 1; the other cases have 1.5)
    sig = _sigma(spec, seed)
    loss, grad, ok = _newton(sig, spec, task)
    assert bool(ok)
    _close(loss, grad, _stepped(sig, spec, task))


@pytest.mark.parametrize("bc", [1e-3, -1e-6, 0.0])
def test_gradient_is_exact_where_eigenvalues_nearly_coincide(bc, monkeypatch):
    # S = [[0.3, 1], [bc, 0.3]] has eigenvalues 0.3 ± √bc: 6e-5 apart at bc = 1e-9, strongly
    # non-normal. A gradient through the eigenvalues would carry errors ~eps/gap; the
    # doubled fixed nodes keep it exact (trusted here down to 2e-3 apart). At bc = 0 (a
    # Jordan block) the doubled form has no usable recursion: it is untrusted, and the closed
    # form falls back to the doubling, exactly.
    spec, task = FIG12_SPEC, FIG12_TASK
    _newton_for_one_run_at(task, monkeypatch)
    sig = _sigma(spec, 3, S=[[0.3, 1.0], [bc, 0.3]])
    ref = _stepped(sig, spec, task)
    loss, grad, ok = _newton(sig, spec, task)
    assert bool(ok) == (bc != 0.0)
    if bool(ok):
        _close(loss, grad, ref)
    else:
        (loss, grad, ok), _, _, _ = _forms(sig, spec, task)
        assert bool(ok)
        _close(loss, grad, ref)


def test_newton_form_learns_figure_12_and_keeps_relative_accuracy():
    # Along Figure-12 learning (rank 2, damped cosine) the T-free form is trusted at every
    # epoch; against an extended-precision reference its value is within 10× the doubling's
    # square-root form (or 1e-12) at large and small loss (measured: 1.2e-14 at epoch 0,
    # 5.4e-12 against 1.1e-12 at loss 3e-10).
    spec, task = FIG12_SPEC, FIG12_TASK
    X0 = of.random_vectors(spec, seed=0)
    res = of.learn_overlaps(X0.T @ X0 / spec.N, task, spec, eta=5e-3, epochs=7000,
                            chunk=7001)
    # Epoch by epoch through the single-run form the other tests compiled (~1 s for the 7001
    # calls) rather than a new compilation for 7001 runs in lanes (~10 s).
    newton = [_newton(s, spec, task) for s in np.asarray(res.sigma)]
    assert all(bool(ok) for _, _, ok in newton)
    for epoch, tol in ((0, 1e-13), (5000, 1e-13), (7000, 2e-11)):
        sig = jnp.asarray(res.sigma[epoch])
        ref = _longdouble_loss(sig, spec, task)
        err = abs(float(np.longdouble(float(newton[epoch][0])) / ref - 1))
        err_doubling = abs(float(np.longdouble(float(_doubling_value(sig, spec, task))) / ref - 1))
        assert err <= tol and err <= 10 * max(err_doubling, 1e-13), (epoch, err, err_doubling)
    assert float(res.loss[-1]) < 1e-9  # the run reaches the small-loss regime


@pytest.mark.parametrize(
    "S, decay",
    [
        ([[1.5, 0.0], [0.0, -0.4]], 0.3),  # ρ(A) > 1: growing output (Figure 12's task)
        (None, 0.0),  # decay 0: |w| = 1, the recursion's 1 − w w̄ vanishes (two outputs)
    ],
)
def test_untrusted_newton_form_falls_back_to_doubling(S, decay, monkeypatch):
    if decay == 0.3:  # shares its compiled forms with the tests above
        spec, task = FIG12_SPEC, FIG12_TASK
    else:
        spec = of.NetworkSpec(N=100, rank=2, n_in=1, n_out=2, dt=0.05)
        task = _task("impulse_damped_cos", 1, 2, 20.0, decay=decay)
    _newton_for_one_run_at(task, monkeypatch)  # use the Newton form at T = 400
    sig = _sigma(spec, seed=11, S=S)
    (loss, grad, ok), value, newton_ok, (l_dbl, g_dbl) = _forms(sig, spec, task)
    assert not bool(newton_ok)
    assert float(value) == float(l_dbl)
    assert float(loss) == float(l_dbl) and np.array_equal(np.asarray(grad), np.asarray(g_dbl))
    assert bool(ok)
    _close(loss, grad, _stepped(sig, spec, task))


def test_closed_form_uses_the_newton_form_from_its_threshold(monkeypatch):
    spec, task = FIG12_SPEC, FIG12_TASK
    sig = _sigma(spec, seed=12)
    newton = _newton(sig, spec, task)[0]
    doubling = _doubling_value(sig, spec, task)
    assert float(newton) != float(doubling)  # so the checks below can tell them apart
    batch = jnp.stack([sig, sig], axis=-1)  # two runs in the lanes

    def closed(s):
        return jax.jit(lambda s: cf.impulse_closed_form_loss(s, spec, task))(s)

    def closed_and_newton(s):  # one program: XLA evaluates the Newton form once for both
        return jax.jit(lambda s: (cf.impulse_closed_form_loss(s, spec, task),
                                  nw.newton_loss_parts(s, spec, task)[0]))(s)

    assert task.n_steps < cf.NEWTON_MIN_STEPS[2][0]  # rank 2 at T = 400: the doubling
    assert float(closed(sig)) == float(doubling)
    # one run and batched runs have their own thresholds
    _newton_for_one_run_at(task, monkeypatch)  # (n_steps, n_steps + 1)
    (vg_loss, _, _), value, _, _ = _forms(sig, spec, task)  # compiled by the tests above
    assert float(value) == float(newton) and float(vg_loss) == float(newton)
    assert np.all(np.asarray(closed(batch)) == float(doubling))
    monkeypatch.setitem(cf.NEWTON_MIN_STEPS, 2, (task.n_steps + 1, task.n_steps))
    assert float(closed(sig)) == float(doubling)
    closed_lanes, newton_lanes = closed_and_newton(batch)
    assert np.all(np.asarray(newton_lanes) != float(doubling))
    assert np.all(np.asarray(closed_lanes) == np.asarray(newton_lanes))


def test_rank1_damped_cosine_is_t_free_at_every_length():
    # Rank 1: the Newton form is the default at any T, for one run and batched runs alike
    # (the thresholds (0, 0); checked here for one run at T = 400: T is only a constant of
    # the compiled form, so a second length would check nothing more, at ~6 s).
    assert cf.NEWTON_MIN_STEPS[1] == (0, 0)
    spec = of.NetworkSpec(N=100, rank=1, n_in=1, n_out=1, dt=0.05)
    sig = _sigma(spec, seed=13)
    task = _task("impulse_damped_cos", 1, 1, 20.0)  # as in test_newton_form_matches_stepping
    newton = _newton(sig, spec, task)
    assert bool(newton[2])
    loss, grad, ok = jax.jit(cf.closed_form_value_and_grad, static_argnums=(1, 2))(
        sig, spec, task)
    assert float(loss) == float(newton[0]) and bool(ok)
    _close(loss, grad, _stepped(sig, spec, task))


def test_newton_form_applies_where_it_is_built():
    cos = of.make_task("impulse_damped_cos", dt=0.05, t_max=2.0, n_in=1, n_out=1)
    assert nw.newton_form_applies(cos, of.NetworkSpec(N=50, rank=2, dt=0.05))
    assert not nw.newton_form_applies(cos, of.NetworkSpec(N=50, rank=3, dt=0.05))
    exp = of.make_task("impulse_exp", dt=0.05, t_max=2.0, n_in=1, n_out=1)
    assert nw.newton_form_applies(exp, of.NetworkSpec(N=50, rank=3, dt=0.05))
    assert not nw.newton_form_applies(exp, of.NetworkSpec(N=50, rank=4, dt=0.05))
    assert not nw.newton_form_applies(cos, of.NetworkSpec(N=50, rank=2, dt=0.05, phi="erf"))
    flip = of.make_task("flip_flop", dt=0.05, t_max=20.0, n_in=1, n_out=1)
    assert not nw.newton_form_applies(flip, of.NetworkSpec(N=50, rank=2, dt=0.05))
