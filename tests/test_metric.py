"""The metric G(Σ) of overlap-space gradient flow and its structural zeros (docs/theory.md §4)."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import overlapflow as of  # noqa: E402
from overlapflow import metric, metric_structural_zeros, sigma_gradient  # noqa: E402


def _random_sigma(P, seed):
    A = np.random.default_rng(seed).standard_normal((P + 2, P))
    return A.T @ A / (P + 2)


def _no_shared_index(P):
    pairs = [(i, j) for i in range(P) for j in range(i, P)]
    return np.array([[not ({i, j} & {a, b}) for (a, b) in pairs] for (i, j) in pairs])


@pytest.mark.parametrize("rank, expected", [(1, 42), (2, None)])
def test_structural_zeros_are_pairs_sharing_no_vector(rank, expected):
    spec = of.NetworkSpec(N=10, rank=rank)
    zero = metric_structural_zeros(spec)
    np.testing.assert_array_equal(zero, _no_shared_index(spec.P))
    if expected is not None:
        assert zero.shape == (10, 10) and int(zero.sum()) == expected  # docs/theory.md §4: 42 of 100


def test_metric_is_symmetric_linear_and_batched():
    spec = of.NetworkSpec(N=10, rank=2, n_in=2, n_out=1)
    a, b = _random_sigma(spec.P, 0), _random_sigma(spec.P, 1)
    G = metric(np.stack([a, b]), spec)
    assert G.shape == (2, 28, 28)
    np.testing.assert_allclose(G, np.swapaxes(G, -1, -2), atol=1e-14)
    np.testing.assert_allclose(metric(2 * a - b, spec), 2 * G[0] - G[1], atol=1e-13)


def _task(spec):
    kw = "decay" if "decay" in of.task_parameters("impulse_exp") else "c"
    return of.make_task("impulse_exp", dt=spec.dt, t_max=1.0, n_in=spec.n_in,
                        n_out=spec.n_out, **{kw: 0.3})


def _grad_distinct(sigma, batch, spec):
    """∂L/∂σ over the distinct overlaps by autodiff of L(σ) (independent of S ↦ g)."""
    iu = np.triu_indices(spec.P)

    def loss_of(coords):
        m = jnp.zeros((spec.P, spec.P)).at[iu].set(coords)
        return of.overlap_loss(m + jnp.triu(m, 1).T, batch, spec, "sum_dt")

    return np.asarray(jax.jit(jax.grad(loss_of))(jnp.asarray(sigma[iu])))


@pytest.mark.parametrize("phi", ["linear", "erf"])
def test_metric_times_gradient_is_the_flow_velocity(phi):
    spec = of.NetworkSpec(N=10, rank=1, n_in=1, n_out=2, phi=phi)
    batch = of.batch_for_epoch(_task(spec), 0, 0)
    sigma = _random_sigma(spec.P, 3)
    g = _grad_distinct(sigma, batch, spec)
    grad = jax.jit(of.overlap_gradient, static_argnums=(2, 3))
    _, S = grad(jnp.asarray(sigma), batch, spec, "sum_dt")
    np.testing.assert_allclose(sigma_gradient(S), g, rtol=1e-12, atol=1e-14)
    eta = 0.01
    iu = np.triu_indices(spec.P)
    velocity = np.asarray(of.flow_velocity(jnp.asarray(sigma), S, eta))[iu]
    np.testing.assert_allclose(-eta * metric(sigma, spec) @ g, velocity,
                               rtol=1e-12, atol=1e-14 * np.abs(velocity).max())


def test_metric_velocity_equals_theta_space_gradient_flow():
    # Independent oracle: the full N-neuron linear network, dX/dt = −N η ∂L/∂X by autodiff,
    # dΣ/dt = (ẊᵀX + XᵀẊ)/N, against −η G(Σ) ∇_σ L.
    spec = of.NetworkSpec(N=12, rank=2, n_in=1, n_out=1)
    batch = of.batch_for_epoch(_task(spec), 0, 0)
    X = of.random_vectors(spec, seed=5)
    eta = 0.02
    grad_theta = jax.jit(jax.grad(of.theta_loss), static_argnums=(2, 3))
    Xdot = -spec.N * eta * grad_theta(X, batch, spec, "sum_dt")
    sdot = np.asarray((Xdot.T @ X + X.T @ Xdot) / spec.N)[np.triu_indices(spec.P)]
    sigma = np.asarray(of.overlaps(X))
    pred = -eta * metric(sigma, spec) @ _grad_distinct(sigma, batch, spec)
    np.testing.assert_allclose(pred, sdot, rtol=1e-10, atol=1e-12 * np.abs(sdot).max())
