"""θ-space network: the rank-structured forward pass against the explicit N×N recursion."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of


def _dense_reference(X, x, spec):
    """Independent numpy recursion with the full N×N matrix W = U Vᵀ / N (tests only)."""
    X = np.asarray(X)
    N = X.shape[0]
    M, U, V, Z = (X[:, s] for s in (spec.m, spec.u, spec.v, spec.z))
    W = U @ V.T / N
    phi = np.vectorize(lambda a: float(of.get_nonlinearity(spec.phi).phi(a)))
    phi = (lambda a: a) if spec.is_linear else (lambda a: np.asarray(
        of.get_nonlinearity(spec.phi).phi(jnp.asarray(a))))
    B, T, _ = x.shape
    y = np.zeros((B, T, spec.n_out))
    for b in range(B):
        h = np.zeros(N)
        for t in range(T):
            h = h + spec.dt * (-h + W @ phi(h) + M @ x[b, t])
            y[b, t] = Z.T @ phi(h) / N
    return y


@pytest.mark.parametrize(
    "rank,n_in,n_out,N,phi,seed",
    [(1, 1, 1, 7, "linear", 0), (2, 3, 2, 40, "linear", 1), (3, 2, 3, 25, "erf", 2),
     (1, 2, 1, 60, "erf", 3)],
)
def test_network_matches_dense_recursion(rank, n_in, n_out, N, phi, seed):
    spec = of.NetworkSpec(N=N, rank=rank, n_in=n_in, n_out=n_out, phi=phi, dt=0.1)
    X = of.random_vectors(spec, seed=seed)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(seed + 10), (2, 15, n_in)))
    y = np.asarray(of.network_outputs(X, jnp.asarray(x), spec))
    ref = _dense_reference(X, x, spec)
    assert y.shape == (2, 15, n_out)
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-13 * max(1.0, np.max(np.abs(ref))))


def test_random_vectors_have_unit_self_overlaps_and_are_seeded():
    spec = of.NetworkSpec(N=300, rank=2, n_in=2, n_out=1)
    X = of.random_vectors(spec, seed=5)
    sigma = np.asarray(of.overlaps(X))
    np.testing.assert_allclose(np.diag(sigma), 1.0, atol=1e-14)
    np.testing.assert_array_equal(np.asarray(of.random_vectors(spec, seed=5)), np.asarray(X))
    assert not np.allclose(np.asarray(of.random_vectors(spec, seed=6)), np.asarray(X))


def test_vector_names_and_slices():
    spec = of.NetworkSpec(N=10, rank=2, n_in=1, n_out=3)
    assert spec.P == 8
    assert spec.vector_names == ("m", "u1", "u2", "v1", "v2", "z1", "z2", "z3")
    X = jnp.arange(80.0).reshape(10, 8)
    M, U, V, Z = of.split_vectors(X, spec)
    assert (M.shape, U.shape, V.shape, Z.shape) == ((10, 1), (10, 2), (10, 2), (10, 3))
    np.testing.assert_array_equal(np.asarray(of.stack_vectors(M, U, V, Z)), np.asarray(X))


@pytest.mark.parametrize(
    "kwargs,fragment",
    [({"N": 0}, "network.N"), ({"rank": 1.5}, "network.rank"), ({"n_in": -1}, "network.n_in"),
     ({"dt": 0.0}, "network.dt"), ({"dt": 2.0}, "network.dt"), ({"phi": "sigmoid2"}, "unknown nonlinearity")],
)
def test_bad_network_spec_raises_config_error(kwargs, fragment):
    with pytest.raises(of.ConfigError, match=fragment):
        of.NetworkSpec(**kwargs)
