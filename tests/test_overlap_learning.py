"""Overlap-space learning against θ-space autodiff of the full network (docs/theory.md §4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of


def _random_arrays_task(spec, T, B, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, spec.n_in))
    y = 0.5 * rng.normal(size=(B, T, spec.n_out)).cumsum(axis=1) * spec.dt
    return of.make_task("arrays", dt=spec.dt, n_in=spec.n_in, n_out=spec.n_out, x=x, y=y)


# (rank, n_in, n_out, N, task kind, seed): N from P+1 up to 300.
CASES = [
    (1, 1, 1, 5, "noise_filter", 0),
    (1, 3, 1, 300, "arrays", 1),
    (2, 2, 3, 60, "noise_filter", 2),
    (3, 1, 2, 10, "arrays", 3),
    (3, 3, 3, 150, "noise_filter", 4),
]


@pytest.mark.parametrize("rank,n_in,n_out,N,kind,seed", CASES)
def test_exact_map_equals_theta_space_gd(rank, n_in, n_out, N, kind, seed):
    spec = of.NetworkSpec(N=N, rank=rank, n_in=n_in, n_out=n_out, dt=0.1)
    if kind == "arrays":
        task = _random_arrays_task(spec, T=20, B=3, seed=seed)
        loss, eta = "masked_mean", 0.5
    else:
        task = of.make_task("noise_filter", dt=0.1, t_max=2.0, n_in=n_in, n_out=n_out,
                            batch_size=3, decay=0.7)
        loss, eta = "sum_dt", 0.02
    X0 = of.random_vectors(spec, seed=seed)
    epochs = 120
    th = of.train_theta(X0, task, spec, loss=loss, eta=eta, epochs=epochs, seed=seed)
    ex = of.learn_overlaps(of.overlaps(X0), task, spec, loss=loss, mode="exact", eta=eta,
                           epochs=epochs, seed=seed)
    assert th.diverged_at is None and ex.diverged_at is None
    assert th.loss[-1] < 0.9 * th.loss[0]  # learning happened
    scale = np.max(np.abs(th.sigma))
    assert np.max(np.abs(ex.sigma - th.sigma)) <= 1e-10 * scale
    assert np.max(np.abs(ex.loss - th.loss) / np.abs(th.loss)) <= 1e-10


def test_overlap_gradient_is_theta_gradient_in_overlap_form():
    # ∂L/∂X = (2/N) X S (docs/theory.md §4), with S from autodiff of L(Σ) and ∂L/∂X from the network.
    spec = of.NetworkSpec(N=40, rank=2, n_in=2, n_out=1, dt=0.1)
    X = of.random_vectors(spec, seed=3)
    task = of.make_task("noise_filter", dt=0.1, t_max=1.5, n_in=2, n_out=1, batch_size=2)
    batch = of.batch_for_epoch(task, 0, 0)
    gX = jax.grad(of.theta_loss)(X, batch, spec, "sum_dt")
    _, S = of.overlap_gradient(of.overlaps(X), batch, spec, "sum_dt")
    np.testing.assert_allclose(np.asarray(gX), np.asarray(2.0 / spec.N * X @ S), rtol=0,
                               atol=1e-14 * float(jnp.max(jnp.abs(gX))))


def test_flow_discrepancy_to_gd_shrinks_linearly_with_eta():
    spec = of.NetworkSpec(N=20, rank=1, dt=0.05)
    task = of.make_task("impulse_exp", dt=0.05, t_max=5.0, n_in=1, n_out=1, decay=0.3)
    X0 = of.random_vectors(spec, seed=1)
    time_span = 4.0  # η · epochs
    gaps = []
    for eta in (0.02, 0.01):
        epochs = int(round(time_span / eta))
        th = of.train_theta(X0, task, spec, eta=eta, epochs=epochs)
        fl = of.learn_overlaps(of.overlaps(X0), task, spec, mode="flow", eta=eta, epochs=epochs,
                               tol=of.FlowTolerances(rtol=1e-10, atol=1e-12))
        gaps.append(np.max(np.abs(fl.sigma - th.sigma)))
    ratio = gaps[0] / gaps[1]
    assert gaps[1] > 0
    assert 1.7 < ratio < 2.3, (gaps, ratio)


def test_euler_and_flow_agree_to_first_order_and_direct_differs():
    spec = of.NetworkSpec(N=500, rank=1, dt=0.05)
    task = of.make_task("impulse_exp", dt=0.05, t_max=5.0, n_in=1, n_out=1, decay=0.2)
    sigma0 = of.overlaps(of.random_vectors(spec, seed=0))
    runs = {m: of.learn_overlaps(sigma0, task, spec, mode=m, eta=5e-3, epochs=200)
            for m in ("exact", "euler", "flow", "direct")}
    d_euler = np.max(np.abs(runs["euler"].sigma - runs["exact"].sigma))
    d_flow = np.max(np.abs(runs["flow"].sigma - runs["exact"].sigma))
    d_direct = np.max(np.abs(runs["direct"].sigma - runs["exact"].sigma))
    assert d_euler < 1e-2 and d_flow < 1e-2
    assert d_direct > 10 * max(d_euler, d_flow)
    # direct changes only visible overlaps: invisible entries stay at their start values.
    invisible = ~of.visible_mask(spec)
    np.testing.assert_array_equal(runs["direct"].sigma[-1][invisible], np.asarray(sigma0)[invisible])


def test_divergence_stops_and_reports_epoch():
    spec = of.NetworkSpec(N=30, rank=1, dt=0.05)
    task = of.make_task("impulse_exp", dt=0.05, t_max=5.0, n_in=1, n_out=1)
    sigma0 = of.overlaps(of.random_vectors(spec, seed=0))
    run = of.learn_overlaps(sigma0, task, spec, mode="exact", eta=50.0, epochs=60, chunk=7)
    d = run.diverged_at
    assert d is not None and 0 < d < 60
    assert np.all(np.isfinite(run.loss[:d])) and np.all(np.isnan(run.loss[d + 1:]))
    assert np.all(np.isfinite(run.sigma[:d]))
    assert np.all(np.isfinite(np.asarray(run.state)))  # last finite state is kept
