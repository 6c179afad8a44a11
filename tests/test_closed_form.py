"""The closed-form impulse loss equals the time-stepped overlap loss (value and gradient)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of
from overlapflow.internal import closed_form_impulse as cf
from overlapflow.internal import closed_form_rank1 as r1


def _sigma(spec, seed, vu=None):
    """Random PSD Σ from N = 3P vectors (cross overlaps O(1/√N)), optionally with σ_vu set."""
    X = np.asarray(of.random_vectors(spec.with_N(3 * spec.P), seed=seed))
    sig = X.T @ X / X.shape[0]
    if vu is not None:  # A_rr = (1 − dt) I + dt Σ_VU: spectral radius of A near/above 1
        v, u = spec.v, spec.u
        sig[v, u] = vu * np.eye(spec.rank)
        sig[u, v] = vu * np.eye(spec.rank)  # (the loss is a polynomial in Σ: PSD not needed)
    return jnp.asarray(sig)


def _both(sig, spec, task):
    batch = of.batch_for_epoch(task, 0, 0)
    ref = jax.jit(jax.value_and_grad(lambda s: of.overlap_loss(s, batch, spec, "sum_dt")))

    def parts(s):
        loss, ok, scale = cf.impulse_loss_parts(s, spec, task)
        return loss, (ok, scale)

    (l_cf, (ok, scale)), g_cf = jax.jit(jax.value_and_grad(parts, has_aux=True))(sig)
    return ref(sig), (l_cf, g_cf), (ok, scale)


@pytest.mark.parametrize(
    "kind, rank, n_in, n_out, t_max, vu",
    [
        ("impulse_exp", 1, 1, 1, 20.0, None),  # Figure 1, T = 400
        ("impulse_exp", 3, 2, 3, 3.0, None),
        ("impulse_damped_cos", 2, 1, 1, 500.0, None),  # Figure 12's task, T = 10⁴
        ("impulse_exp", 1, 1, 1, 500.0, 0.999),  # ρ(A) = 1 − 5e-5, T = 10⁴
        ("impulse_exp", 1, 1, 2, 20.0, 1.02),  # ρ(A) > 1: growing output
    ],
)
def test_closed_form_matches_stepping(kind, rank, n_in, n_out, t_max, vu):
    spec = of.NetworkSpec(N=100, rank=rank, n_in=n_in, n_out=n_out, dt=0.05)
    task = of.make_task(kind, dt=0.05, t_max=t_max, n_in=n_in, n_out=n_out, decay=0.3)
    sig = _sigma(spec, seed=rank + 7 * n_out, vu=vu)
    (l_ref, g_ref), (l_cf, g_cf), (ok, scale) = _both(sig, spec, task)
    assert abs(float(l_cf - l_ref)) <= 1e-12 * abs(float(l_ref))
    assert float(jnp.max(jnp.abs(g_cf - g_ref))) <= 1e-12 * float(jnp.max(jnp.abs(g_ref)))
    assert bool(ok) and float(scale) > 0


def test_small_loss_keeps_relative_accuracy_along_figure1_learning():
    # Learning drives the loss from ~2 to ~1e-13: the value must stay relatively accurate
    # (square-root form), and the trajectory must equal stepped learning.
    spec = of.NetworkSpec(N=500, rank=1, dt=0.05)
    task = of.make_task("impulse_exp", dt=0.05, t_max=20.0, n_in=1, n_out=1, decay=0.2)
    X0 = of.random_vectors(spec, seed=0)
    sig0 = X0.T @ X0 / spec.N
    res = of.learn_overlaps(sig0, task, spec, eta=5e-3, epochs=2000, chunk=2001)
    batch = of.batch_for_epoch(task, 0, 0)

    @jax.jit
    def stepped(sig):
        def body(s, _):
            loss, S = of.overlap_gradient(s, batch, spec, "sum_dt")  # no task: stepping
            return of.exact_overlap_step(s, S, 5e-3), (loss, s)

        return jax.lax.scan(body, sig, None, length=2001)[1]

    l_ref, s_ref = (np.asarray(a) for a in stepped(sig0))
    assert l_ref[-1] < 1e-11  # the run really reaches the cancellation regime
    assert np.max(np.abs(res.loss - l_ref) / l_ref) < 1e-7
    assert np.max(np.abs(res.sigma - s_ref)) < 1e-12


def test_selection_and_fallback(monkeypatch):
    spec = of.NetworkSpec(N=50, rank=1, dt=0.1)
    task = of.make_task("impulse_exp", dt=0.1, t_max=4.0, n_in=1, n_out=1, decay=0.5)
    noise = of.make_task("noise_filter", dt=0.1, t_max=4.0, n_in=1, n_out=1)
    assert cf.closed_form_applies(task, spec, "sum_dt")
    assert not cf.closed_form_applies(task, spec, "masked_mean")
    assert not cf.closed_form_applies(noise, spec, "sum_dt")
    assert not cf.closed_form_applies(task, of.NetworkSpec(N=50, rank=1, phi="erf", dt=0.1), "sum_dt")
    sig = _sigma(spec, seed=3)
    batch = of.batch_for_epoch(task, 0, 0)
    ref = jax.jit(jax.value_and_grad(lambda s: of.overlap_loss(s, batch, spec, "sum_dt")))(sig)
    # forced fall-back: every closed form flagged untrustworthy → the stepped loss, exactly
    monkeypatch.setattr(cf, "CANCEL_TOL", -1.0)
    monkeypatch.setattr(r1, "TRUST_REL_TOL", -1.0)  # (floor −L + eps·√(L·scale) < 0 here)
    out = jax.jit(cf.value_and_grad_for(task, spec, "sum_dt"))(sig, batch)
    assert float(jax.jit(cf.loss_fn_for(task, spec, "sum_dt"))(sig, batch)) == float(ref[0])
    # the stepped value and gradient are the latent adjoint's (`overlap_value_and_grad`: the
    # loss summed step by step, the gradient autodiff's to 1e-12)
    assert abs(float(out[0]) / float(ref[0]) - 1.0) < 1e-14
    # the stepped gradient is the latent adjoint (`overlap_value_and_grad`): autodiff to 1e-12
    scale = float(np.max(np.abs(np.asarray(ref[1]))))
    np.testing.assert_allclose(np.asarray(out[1]), np.asarray(ref[1]), rtol=0, atol=1e-12 * scale)
    assert not bool(jax.jit(lambda s: cf.impulse_loss_parts(s, spec, task)[1])(sig))


def test_batched_trailing_axes_equal_single():
    spec = of.NetworkSpec(N=50, rank=1, n_in=1, n_out=2, dt=0.1)
    task = of.make_task("impulse_damped_cos", dt=0.1, t_max=2.0, n_in=1, n_out=2, decay=0.3)
    sigs = jnp.stack([_sigma(spec, seed=s) for s in range(3)], axis=-1)  # (P, P, 3)
    parts = jax.jit(lambda s: cf.impulse_loss_parts(s, spec, task)[0])
    batched = parts(sigs)
    single = jnp.stack([parts(sigs[..., i]) for i in range(3)])
    assert np.allclose(np.asarray(batched), np.asarray(single), rtol=1e-14, atol=0)


def test_learn_overlaps_with_closed_form_equals_theta_space_gd():
    # The plugged-in closed form keeps the exact map exact: Σ and loss equal θ-space GD.
    spec = of.NetworkSpec(N=9, rank=2, n_in=2, n_out=2, dt=0.1)  # N = P + 1
    task = of.make_task("impulse_damped_cos", dt=0.1, t_max=4.0, n_in=2, n_out=2, decay=0.3)
    X0 = of.random_vectors(spec, seed=5)
    theta = of.train_theta(X0, task, spec, eta=1e-2, epochs=100)
    exact = of.learn_overlaps(X0.T @ X0 / spec.N, task, spec, eta=1e-2, epochs=100, chunk=101)
    assert np.max(np.abs(exact.loss - theta.loss) / theta.loss) < 1e-10
    assert np.max(np.abs(exact.sigma - theta.sigma)) < 1e-10 * np.max(np.abs(theta.sigma))
