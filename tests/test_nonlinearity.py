"""Nonlinearities and their Gaussian gains (docs/theory.md §3): quadrature vs closed forms and references."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate

import overlapflow as of
from overlapflow import ConfigError, GaussianRule, Nonlinearity, get_nonlinearity

DELTAS = np.array([0.0, 1e-6, 1e-3, 0.1, 0.5, 1.0, 2.0, 4.0, 10.0, 30.0, 60.0, 100.0])


@pytest.mark.parametrize("name", ["linear", "erf", "softplus"])
def test_quadrature_gain_equals_closed_form(name):
    closed = get_nonlinearity(name)
    quad = Nonlinearity.from_function(closed.phi, name=f"{name}-quad")
    assert not quad.closed_form
    np.testing.assert_allclose(quad.gain(jnp.asarray(DELTAS)), closed.gain(jnp.asarray(DELTAS)),
                               rtol=0, atol=1e-10)


def test_quadrature_gain_derivative_equals_closed_form():
    # dg/dΔ by the heat equation ½⟨φ'''⟩ vs autodiff of the erf closed form, Δ = 0 included.
    quad = Nonlinearity.from_function(get_nonlinearity("erf").phi, name="erf-quad")
    d_quad = jax.vmap(jax.grad(quad.gain))(jnp.asarray(DELTAS))
    d_closed = jax.vmap(jax.grad(get_nonlinearity("erf").gain))(jnp.asarray(DELTAS))
    assert np.all(np.isfinite(d_quad))
    np.testing.assert_allclose(d_quad, d_closed, rtol=0, atol=1e-10)


def _tanh_gain_reference(delta):
    # Independent: adaptive quadrature in x = √Δ ξ of sech²(x) N(x; 0, Δ).
    if delta == 0:
        return 1.0
    f = lambda x: math.exp(-x * x / (2 * delta) - 2 * math.log(math.cosh(x))) / math.sqrt(
        2 * math.pi * delta)
    val = 0.0
    for a, b in ((0, 1), (1, 4), (4, 15), (15, 80)):
        val += scipy.integrate.quad(f, a, b, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
    return 2 * val


@pytest.mark.parametrize("rule", [None, GaussianRule("trapezoid", 601)])
def test_tanh_gain_accurate_to_1e10_up_to_delta_100(rule):
    tanh = get_nonlinearity("tanh")  # default rule: 101-point sinh-trapezoid
    if rule is not None:
        tanh = Nonlinearity.from_function(jnp.tanh, name="tanh-uniform", rule=rule)
    ref = np.array([_tanh_gain_reference(float(d)) for d in DELTAS])
    np.testing.assert_allclose(tanh.gain(jnp.asarray(DELTAS)), ref, rtol=0, atol=1e-10)


def test_hermite_rule_is_exact_for_polynomials():
    # φ(x) = x³/3 ⇒ φ' = x², ⟨Δ ξ²⟩ = Δ; a 5-point Gauss–Hermite rule integrates it exactly.
    cube = Nonlinearity.from_function(lambda x: x**3 / 3, name="cube",
                                      rule=GaussianRule("hermite", 5))
    np.testing.assert_allclose(cube.gain(jnp.asarray(DELTAS)), DELTAS, rtol=1e-13, atol=1e-13)


def test_bad_inputs_raise_config_errors():
    with pytest.raises(ConfigError, match="unknown nonlinearity"):
        get_nonlinearity("sigmoidish")
    with pytest.raises(ConfigError, match="quadrature rule"):
        GaussianRule("simpson", 11)
    with pytest.raises(ConfigError, match="order"):
        GaussianRule("hermite", 1000)
    with pytest.raises(ConfigError, match="callable"):
        Nonlinearity.from_function(3.0, name="x")


def test_custom_nonlinearity_in_spec_is_hashable_and_closure_tracks_large_network():
    # A user φ from Python: the closure (mean-field) loss at epoch 0 must agree with a large
    # θ-space network to O(1/√N) (docs/theory.md §3: 1e-4 relative at N ≥ 4000 for erf).
    sin = Nonlinearity.from_function(jnp.sin, name="sin")
    spec = of.NetworkSpec(N=20000, phi=sin, dt=0.1)
    assert hash(spec) == hash(of.NetworkSpec(N=20000, phi=sin, dt=0.1))
    task = of.make_task("impulse_exp", dt=0.1, t_max=3.0, n_in=1, n_out=1, amplitude=0.5)
    sigma = np.array([[1.0, 0.3, 0.5, 0.6], [0.3, 1.2, 0.9, 0.4],
                      [0.5, 0.9, 1.5, 0.2], [0.6, 0.4, 0.2, 1.0]])
    X = of.realise_vectors(sigma, spec.N, seed=3)
    batch = of.batch_for_epoch(task, 0, 0)
    y_net = of.network_outputs(X, batch.x * 2.0, spec)
    y_mf = of.effective_outputs(jnp.asarray(sigma), batch.x * 2.0, spec)
    scale = float(jnp.max(jnp.abs(y_mf)))
    assert scale > 0.1
    assert float(jnp.max(jnp.abs(y_net - y_mf))) < 0.02 * scale


def test_config_accepts_new_names():
    raw = {"network": {"N": 10, "phi": "tanh"}, "task": {"kind": "impulse_exp", "t_max": 1.0},
           "train": {"eta": 0.01, "epochs": 2}}
    assert of.config_from_dict(raw).network.phi_name == "tanh"
    for name in ("relu", "softplus", "tanh", "erf", "linear"):
        assert name in of.NONLINEARITIES


def test_erf_phi_and_slope_match_scipy_to_float64():
    # The one-exp erf (erfcx polynomial) against scipy's erf on a dense grid, and its
    # derivatives (custom JVP) against exp(−π x²/4) and its own derivative.
    from scipy.special import erf

    phi = of.NONLINEARITIES["erf"].phi
    x = np.linspace(-12.0, 12.0, 400_001)
    scale = np.sqrt(np.pi) / 2.0
    assert np.max(np.abs(np.asarray(phi(jnp.asarray(x))) - erf(scale * x))) < 1e-15
    xs = jnp.asarray(x[::100])
    slope = np.exp(-np.pi * x[::100] ** 2 / 4)
    np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(phi))(xs)), slope, rtol=1e-13,
                               atol=1e-300)
    curvature = -np.pi * x[::100] / 2 * slope
    np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(jax.grad(phi)))(xs)), curvature,
                               rtol=1e-13, atol=1e-300)
    assert np.all(np.abs(np.asarray(phi(jnp.asarray([30.0, -30.0]))) - [1.0, -1.0]) < 1e-15)


def test_odd_declaration_is_checked():
    ok = of.Nonlinearity.from_function(jnp.sin, name="sin", odd=True)
    assert ok.odd and not of.Nonlinearity.from_function(jnp.sin, name="sin").odd
    with pytest.raises(ConfigError, match="declared odd"):
        of.Nonlinearity.from_function(jnp.cos, name="cos", odd=True)
    assert of.NONLINEARITIES["erf"].odd and of.NONLINEARITIES["tanh"].odd
    assert not of.NONLINEARITIES["relu"].odd
