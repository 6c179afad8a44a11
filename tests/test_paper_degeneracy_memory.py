"""Paper fidelity of the degeneracy (Figure 2) and memory (Figure 3) experiments (docs/theory.md §5, §7):
the noisy forward pass, the noise and learning perturbations of the twins, and memory's start."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

import overlapflow as of
from overlapflow import network_outputs_noisy
from overlapflow.experiments import degeneracy, get_experiment, memory, resolve_params

TWIN = {"twin_uu": 32.0**2 / 500, "twin_mu": 0.8}


def _numpy_noisy(X, x, spec, key, sd):
    """Plain numpy loop of docs/theory.md §1 with sd·ξ_t added to h after each update (same ξ_t)."""
    X, x = np.asarray(X), np.asarray(x)
    N = X.shape[0]
    M, U, V, Z = (X[:, s] for s in (spec.m, spec.u, spec.v, spec.z))
    phi = (lambda h: h) if spec.is_linear else (lambda h: erf(np.sqrt(np.pi) / 2 * h))
    B, T, _ = x.shape
    # ξ_t as documented: normal(fold_in(key, t), (B, N)), drawn for all t in one call.
    xis = np.asarray(jax.vmap(lambda t: jax.random.normal(jax.random.fold_in(key, t), (B, N),
                                                          jnp.float64))(jnp.arange(T)))
    h = np.zeros((B, N))
    y = np.zeros((B, T, spec.n_out))
    for t in range(T):
        h = h + spec.dt * (-h + phi(h) @ V @ U.T / N + x[:, t] @ M.T) + sd * xis[t]
        y[:, t] = phi(h) @ Z / N
    return y


@pytest.mark.parametrize("phi", ["linear", "erf"])
def test_noisy_forward_pass_matches_a_numpy_loop(phi):
    spec = of.NetworkSpec(N=40, rank=2, n_in=2, n_out=1, phi=phi, dt=0.1)
    X = of.random_vectors(spec, seed=1)
    x = jax.random.normal(jax.random.PRNGKey(2), (3, 30, 2), jnp.float64)
    key = jax.random.PRNGKey(7)
    y = np.asarray(network_outputs_noisy(X, x, spec, key=key, state_noise_sd=0.5))
    ref = _numpy_noisy(X, x, spec, key, 0.5)
    scale = np.max(np.abs(ref))
    assert np.max(np.abs(y - ref)) < 1e-12 * scale
    # The noise matters here (so the comparison above is not a noise-free one).
    clean = np.asarray(of.network_outputs(X, x, spec))
    assert np.max(np.abs(y - clean)) > 0.1 * scale
    # Returned states are the h_{t+1} the outputs read.
    y2, h = network_outputs_noisy(X, x, spec, key=key, state_noise_sd=0.5, return_states=True)
    assert h.shape == (3, 30, 40)
    np.testing.assert_array_equal(np.asarray(y2), y)
    Z = np.asarray(X)[:, spec.z]
    hn = np.asarray(h)
    act = hn if spec.is_linear else erf(np.sqrt(np.pi) / 2 * hn)
    assert np.max(np.abs(act @ Z / spec.N - y)) < 1e-12 * scale


@pytest.mark.parametrize("phi", ["linear", "tanh"])
def test_zero_noise_equals_network_outputs_exactly(phi):
    spec = of.NetworkSpec(N=50, rank=1, phi=phi, dt=0.05)
    X = of.random_vectors(spec, seed=3)
    x = jax.random.normal(jax.random.PRNGKey(4), (2, 60, 1), jnp.float64)
    y = network_outputs_noisy(X, x, spec, key=jax.random.PRNGKey(5), state_noise_sd=0.0)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(of.network_outputs(X, x, spec)))


@pytest.mark.parametrize("sd", [-0.1, float("nan"), float("inf")])
def test_noisy_forward_pass_rejects_bad_noise(sd):
    spec = of.NetworkSpec(N=10, rank=1)
    with pytest.raises(of.ConfigError, match="state_noise_sd"):
        network_outputs_noisy(of.random_vectors(spec, seed=0), jnp.zeros((1, 5, 1)), spec,
                              key=jax.random.PRNGKey(0), state_noise_sd=sd)


@pytest.fixture(scope="module")
def twins():
    spec = of.NetworkSpec(N=64, rank=1, phi="linear", dt=0.05)
    sigma_a, sigma_b, X_a, X_b = degeneracy.twin_pair(spec, seed=0, **TWIN)
    x = jax.random.normal(jax.random.PRNGKey(3), (1, 200, 1), jnp.float64) / np.sqrt(spec.dt)
    return spec, sigma_a, sigma_b, X_a, X_b, x


def test_twins_identical_without_noise_different_with_the_same_noise(twins):
    spec, sigma_a, sigma_b, X_a, X_b, x = twins
    # The twin changes σ_uu and σ_mu only.
    assert sigma_b[spec.u, spec.u][0, 0] == pytest.approx(TWIN["twin_uu"], abs=1e-12)
    assert sigma_b[spec.m, spec.u][0, 0] == pytest.approx(TWIN["twin_mu"], abs=1e-12)
    ys = [of.network_outputs(X, x, spec) for X in (X_a, X_b)]
    assert degeneracy.rel_max_diff(ys[1], ys[0]) < 1e-12
    key = jax.random.PRNGKey(11)
    yn = [network_outputs_noisy(X, x, spec, key=key, state_noise_sd=0.5) for X in (X_a, X_b)]
    assert degeneracy.rel_max_diff(yn[1], yn[0]) > 0.05
    # Hidden activity along u reads the invisible σ_mu, σ_uu: it differs although y does not.
    hu = []
    for X in (X_a, X_b):
        _, h = network_outputs_noisy(X, x, spec, key=key, state_noise_sd=0.0, return_states=True)
        hu.append(np.asarray(h[0]) @ np.asarray(X)[:, spec.u.start] / spec.N)
    assert degeneracy.rel_max_diff(hu[1], hu[0]) > 0.05


def test_same_frame_twin_has_the_twin_overlaps_and_the_original_noise_response(twins):
    # Linear networks: the noise response depends on z, v (shared here) and visible overlaps.
    spec, sigma_a, sigma_b, X_a, X_b, x = twins
    X_f = degeneracy.same_frame_twin(X_a, sigma_b, spec)
    np.testing.assert_allclose(np.asarray(of.overlaps(X_f)), sigma_b, atol=1e-12)
    keep = [spec.m.start, spec.v.start, spec.z.start]
    np.testing.assert_array_equal(np.asarray(X_f)[:, keep], np.asarray(X_a)[:, keep])
    key = jax.random.PRNGKey(12)
    y_a, y_f = (network_outputs_noisy(X, x, spec, key=key, state_noise_sd=0.5)
                for X in (X_a, X_f))
    assert degeneracy.rel_max_diff(y_f, y_a) < 1e-10
    # ... while the original's own twin (other vectors z, v) responds differently.
    y_b = network_outputs_noisy(X_b, x, spec, key=key, state_noise_sd=0.5)
    assert degeneracy.rel_max_diff(y_b, y_a) > 0.05


def test_memory_default_start_is_the_degeneracy_twin():
    exp = get_experiment("memory")
    params = resolve_params(exp, quick=True)
    assert params["start"] == "twin"
    spec = of.NetworkSpec(N=params["N"], rank=1, phi="linear", dt=params["dt"])
    X, sigma = memory.start_vectors(params, spec, seed=0)
    sigma = np.asarray(sigma)
    fig1 = np.asarray(of.overlaps(of.random_vectors(spec, seed=0)))
    vis = np.asarray(of.visible_mask(spec))
    assert np.max(np.abs(sigma - fig1)[vis]) < 1e-12  # visible overlaps: the Figure-1 start's
    assert of.get_overlap(sigma, spec, "uu") == pytest.approx(params["twin_uu"], abs=1e-12)
    assert of.get_overlap(sigma, spec, "mu") == pytest.approx(params["twin_mu"], abs=1e-12)
    assert abs(of.get_overlap(fig1, spec, "mu") - params["twin_mu"]) > 0.3  # a real change
    # ... and it is the degeneracy experiment's realised twin, vector for vector.
    X_twin = degeneracy.twin_pair(spec, seed=0, twin_uu=params["twin_uu"],
                                  twin_mu=params["twin_mu"])[3]
    np.testing.assert_array_equal(np.asarray(X), np.asarray(X_twin))
    # start = "fig1" keeps the old start; anything else is an error.
    X_f, sigma_f = memory.start_vectors(dict(params, start="fig1"), spec, seed=0)
    np.testing.assert_array_equal(np.asarray(sigma_f), fig1)
    with pytest.raises(of.ConfigError, match="start"):
        memory.start_vectors(dict(params, start="other"), spec, seed=0)
