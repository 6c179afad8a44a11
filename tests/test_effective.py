"""Effective dynamics: exact for linear networks, Gaussian closure for erf (docs/theory.md §3)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of


@pytest.mark.parametrize("rank,n_in,n_out,N,seed", [(1, 1, 1, 4, 0), (2, 3, 2, 9, 1), (3, 2, 3, 200, 2)])
def test_linear_effective_outputs_equal_network(rank, n_in, n_out, N, seed):
    spec = of.NetworkSpec(N=N, rank=rank, n_in=n_in, n_out=n_out, dt=0.05)
    X = of.random_vectors(spec, seed=seed)
    x = jax.random.normal(jax.random.PRNGKey(seed), (3, 40, n_in))
    y_net = of.network_outputs(X, x, spec)
    y_eff = of.effective_outputs(of.overlaps(X), x, spec)
    np.testing.assert_allclose(np.asarray(y_eff), np.asarray(y_net), rtol=0,
                               atol=1e-13 * float(jnp.max(jnp.abs(y_net))))


def test_latent_state_spans_h():
    # Linear φ: the network's h_{t+1} equals M κ^in_{t+1} + U κ^rec_{t+1} exactly (docs/theory.md §3).
    spec = of.NetworkSpec(N=50, rank=2, n_in=2, n_out=1, phi="linear", dt=0.1)
    X = np.asarray(of.random_vectors(spec, seed=4))
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (2, 10, 2)))
    kappa, _ = of.effective_latents(jnp.asarray(X.T @ X / spec.N), jnp.asarray(x), spec)
    M, U, V = X[:, spec.m], X[:, spec.u], X[:, spec.v]
    for b in range(2):
        h = np.zeros(spec.N)
        for t in range(10):
            h = h + spec.dt * (-h + U @ (V.T @ h) / spec.N + M @ x[b, t])
            k = np.asarray(kappa[b, t])
            np.testing.assert_allclose(M @ k[:2] + U @ k[2:], h, rtol=0,
                                       atol=1e-13 * max(1.0, np.max(np.abs(h))))


def _erf_setup():
    spec = of.NetworkSpec(N=100, rank=1, phi="erf", dt=0.05)
    # a short response window keeps most of the 6-s trial supervised (a smooth, short run)
    task = of.make_task("flip_flop", dt=0.05, t_max=6.0, n_in=1, n_out=1, batch_size=4,
                        wait_min=1.0, wait_max=2.0, mask_after=0.5)
    sigma0 = np.array([[1.0, 0.3, 0.5, 0.2],
                       [0.3, 1.2, 0.6, 0.4],
                       [0.5, 0.6, 1.5, 0.1],
                       [0.2, 0.4, 0.1, 1.0]])
    return spec, task, sigma0


def test_erf_mean_field_improves_with_n():
    spec, task, sigma0 = _erf_setup()
    eta, epochs = 0.02, 8  # η·epochs = 0.16: short run, before the closure error grows
    mf = of.learn_overlaps(sigma0, task, spec, mode="exact", eta=eta, epochs=epochs)
    gaps0, gaps = {}, {}
    for N in (250, 4000):
        s = spec.with_N(N)
        g0, g = [], []
        for seed in range(3):
            X0 = of.realise_vectors(sigma0, N, seed=seed)
            th = of.train_theta(X0, task, s, eta=eta, epochs=epochs)
            g0.append(abs(th.loss[0] - mf.loss[0]) / mf.loss[0])
            g.append(np.max(np.abs(th.loss - mf.loss) / mf.loss))
        gaps0[N], gaps[N] = np.median(g0), np.median(g)
    assert gaps0[4000] < gaps0[250]
    assert gaps[4000] < gaps[250]
    assert gaps[4000] < 0.05


@pytest.mark.parametrize(
    "phi, rank, n_in, n_out, loss_kind, seed",
    [("erf", 1, 1, 1, "mean_t_dt", 0), ("tanh", 2, 2, 3, "masked_mean", 1),
     ("linear", 2, 1, 2, "sum_dt", 2), ("relu", 1, 2, 1, "sum_dt", 3),
     ("softplus", 3, 1, 1, "masked_mean", 4)],
)
def test_latent_adjoint_gradient_equals_autodiff(phi, rank, n_in, n_out, loss_kind, seed):
    # overlap_value_and_grad (hand-written adjoint) against jax.grad through the time loop.
    from overlapflow import batch_for_epoch, overlap_loss
    from overlapflow.internal import overlap_value_and_grad

    spec = of.NetworkSpec(N=10, rank=rank, n_in=n_in, n_out=n_out, phi=phi, dt=0.1)
    task = of.make_task("noise_filter", dt=0.1, t_max=4.0, n_in=n_in, n_out=n_out,
                        batch_size=5, noise_sd=1.5)
    batch = batch_for_epoch(task, seed, 2)
    A = np.random.default_rng(seed).normal(size=(spec.P, spec.P))
    sigma = jnp.asarray(A @ A.T / spec.P + 0.3 * np.eye(spec.P))
    ref_loss, ref = jax.value_and_grad(overlap_loss)(sigma, batch, spec, loss_kind)
    loss, grad = jax.jit(overlap_value_and_grad, static_argnums=(2, 3))(sigma, batch, spec,
                                                                        loss_kind)
    assert abs(float(loss) / float(ref_loss) - 1.0) < 1e-13
    assert float(jnp.max(jnp.abs(grad - ref))) <= 1e-12 * float(jnp.max(jnp.abs(ref)))
    assert float(jnp.max(jnp.abs(ref))) > 1e-6  # a gradient worth comparing
    # under vmap over networks (the twins and sweep batch them) it stays the same
    both = jax.vmap(lambda s: overlap_value_and_grad(s, batch, spec, loss_kind))(
        jnp.stack([sigma, 1.1 * sigma]))
    np.testing.assert_allclose(np.asarray(both[1][0]), np.asarray(ref), rtol=0,
                               atol=1e-12 * float(jnp.max(jnp.abs(ref))))


@pytest.mark.parametrize("phi, rank, loss_kind", [("erf", 1, "mean_t_dt"), ("tanh", 2, "masked_mean")])
def test_many_networks_in_the_lanes_equal_autodiff_per_network(phi, rank, loss_kind):
    # overlap_values_and_grads carries n networks side by side; each equals jax.grad of its own
    # overlap_loss. Decision making has a 0/1 mask (fixation unscored), so the in-scan error
    # term's masking is exercised.
    from overlapflow import batch_for_epoch, overlap_loss, overlap_values_and_grads

    spec = of.NetworkSpec(N=10, rank=rank, phi=phi, dt=0.1)
    task = of.make_task("decision_making", dt=0.1, n_in=1, n_out=1, batch_size=6,
                        fixation=0.5, stimulus=1.0, delay=0.5, response=1.0)
    batch = batch_for_epoch(task, 3, 1)
    assert 0.0 < float(jnp.mean(batch.mask)) < 1.0
    rng = np.random.default_rng(rank)
    sigmas = []
    for _ in range(3):
        A = rng.normal(size=(spec.P, spec.P))
        sigmas.append(A @ A.T / spec.P + 0.3 * np.eye(spec.P))
    sigmas = jnp.asarray(np.stack(sigmas))
    loss, grad = jax.jit(overlap_values_and_grads, static_argnums=(2, 3))(sigmas, batch, spec,
                                                                          loss_kind)
    assert loss.shape == (3,) and grad.shape == (3, spec.P, spec.P)
    for k in range(3):
        ref_loss, ref = jax.value_and_grad(overlap_loss)(sigmas[k], batch, spec, loss_kind)
        assert abs(float(loss[k]) / float(ref_loss) - 1.0) < 1e-13
        scale = float(jnp.max(jnp.abs(ref)))
        assert scale > 1e-6
        assert float(jnp.max(jnp.abs(grad[k] - ref))) <= 1e-12 * scale
    # one (P, P) matrix where n of them are expected: a project error naming the shapes
    with pytest.raises(of.SigmaError, match=r"shape \(n, "):
        overlap_values_and_grads(sigmas[0], batch, spec, loss_kind)


def test_many_networks_in_lanes_equal_one_at_a_time():
    """`effective_outputs_many` (the lane layout the adjoint and reveal use) equals
    `effective_outputs` network by network, linear and erf, rank 2, two inputs."""
    import numpy as np

    import overlapflow as of
    from overlapflow.internal import effective_outputs_many

    for phi in ("linear", "erf"):
        spec = of.NetworkSpec(N=300, rank=2, n_in=2, n_out=2, phi=phi, dt=0.1)
        sigmas = np.stack([np.asarray(of.overlaps(of.random_vectors(spec, seed=s)))
                           for s in range(3)])
        x = np.random.default_rng(5).standard_normal((4, 30, 2))
        many = np.asarray(effective_outputs_many(sigmas, x, spec))
        one = np.stack([np.asarray(of.effective_outputs(s, x, spec)) for s in sigmas])
        assert many.shape == (3, 4, 30, 2)
        np.testing.assert_allclose(many, one, rtol=1e-12, atol=1e-12 * np.abs(one).max())
