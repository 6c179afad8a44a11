"""Functionally equivalent twins: same function, different learning (docs/theory.md §5)."""

import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import overlapflow as of  # noqa: E402
from overlapflow import TwinWarning, equivalent_twin, twin_output_difference  # noqa: E402

FIG1 = Path(__file__).resolve().parents[1] / "examples" / "fig1.toml"
VISIBLE = [(0, 2), (0, 3), (1, 2), (1, 3)]  # rank-1 linear: vm, zm, vu, zu (order m, u, v, z)


@pytest.fixture(scope="module")
def fig1():
    cfg = of.load_config(FIG1)
    return cfg, np.asarray(of.overlaps(of.initial_vectors(cfg)))


def test_paper_twin_keeps_visible_and_sets_requests(fig1):
    cfg, sigma = fig1
    twin = equivalent_twin(sigma, cfg.network, {"uu": 32**2 / 500, "sigma_mu": 0.8})
    for i, j in VISIBLE:
        assert twin[i, j] == sigma[i, j] and twin[j, i] == sigma[j, i]  # bit-identical
    assert twin[1, 1] == 32**2 / 500 and twin[0, 1] == twin[1, 0] == 0.8
    changed = np.zeros((4, 4), bool)
    changed[1, 1] = changed[0, 1] = changed[1, 0] = True
    np.testing.assert_array_equal(twin[~changed], sigma[~changed])  # nothing else moved
    assert np.linalg.eigvalsh(twin)[0] > 0


def test_twins_compute_the_same_function_but_learn_differently(fig1):
    cfg, sigma = fig1
    spec = cfg.network
    twin = equivalent_twin(sigma, spec, {"uu": 32**2 / 500, "mu": 0.8})
    # Full networks realised with N = 30 (different vectors) on random inputs.
    assert twin_output_difference(sigma, twin, spec, N=30, seed=4) <= 1e-12
    # Independent of the helper: outputs of the realised networks, written out.
    x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 60, 1)))
    s30 = spec.with_N(30)
    ya = of.network_outputs(of.realise_vectors(sigma, 30, seed=1), x, s30)
    yb = of.network_outputs(of.realise_vectors(twin, 30, seed=2), x, s30)
    assert float(jnp.max(jnp.abs(ya - yb))) <= 1e-12 * float(jnp.max(jnp.abs(ya)))
    # ... yet learning the Figure-1 task exposes the invisible difference.
    runs = [of.learn_overlaps(s, cfg.task, spec, mode="exact", eta=5e-3, epochs=300,
                              chunk=401) for s in (sigma, twin)]
    la, lb = runs[0].loss, runs[1].loss
    assert abs(la[0] - lb[0]) <= 1e-12 * la[0]
    rel = np.abs(la - lb) / la
    assert rel.max() > 0.05  # measured: the curves separate by tens of percent


def test_erf_twin_has_identical_mean_field_outputs():
    spec = of.NetworkSpec(N=50, rank=1, phi="erf")
    sigma = np.asarray(of.overlaps(of.random_vectors(spec, seed=3)))
    twin = equivalent_twin(sigma, spec, {"vv": 2.5, "zv": 0.4})
    assert twin_output_difference(sigma, twin, spec, seed=1) <= 1e-15
    other = sigma.copy()
    other[0, 1] = other[1, 0] = 0.5  # σ_mu is visible for erf: the function changes
    assert twin_output_difference(sigma, other, spec, seed=1) > 1e-3


def test_infeasible_request_raises_with_reason(fig1):
    cfg, sigma = fig1
    with pytest.raises(of.InfeasibleError, match=r"σ_uu = 0.01, σ_mu = 0.9 is infeasible.*"
                       r"smallest eigenvalue -0\.52"):
        equivalent_twin(sigma, cfg.network, {"uu": 0.01, "mu": 0.9})
    with pytest.raises(of.InfeasibleError, match="σ_zz = -1"):
        equivalent_twin(sigma, cfg.network, {"zz": -1.0}, adjust_others=True)


def test_nearest_feasible_twin_warns_and_satisfies_kkt(fig1):
    cfg, sigma = fig1
    with pytest.warns(TwinWarning, match="nearest feasible: σ_uu = 0.41"):
        twin = equivalent_twin(sigma, cfg.network, {"uu": 0.01, "mu": 0.9},
                               on_infeasible="nearest")
    for i, j in VISIBLE:
        assert twin[i, j] == sigma[i, j]
    lam, W = np.linalg.eigh(twin)
    scale = np.abs(sigma).max()
    assert 0 < lam[0] <= 2e-9 * scale  # on the PSD boundary (margin 1e-9)
    # KKT: the move (weighted by Frobenius multiplicity) is along ∇λ_min = (q_u², 2 q_m q_u).
    q = W[:, 0]
    move = np.array([twin[1, 1] - 0.01, 2 * (twin[0, 1] - 0.9)])
    normal = np.array([q[1] ** 2, 2 * q[0] * q[1]])
    cos = move @ normal / np.linalg.norm(move) / np.linalg.norm(normal)
    assert cos > 1 - 1e-8


def test_adjust_others_meets_request_moving_other_invisible(fig1):
    cfg, sigma = fig1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        twin = equivalent_twin(sigma, cfg.network, {"uu": 0.01, "mu": 0.9}, adjust_others=True)
    assert twin[1, 1] == 0.01 and twin[0, 1] == 0.9
    for i, j in VISIBLE:
        assert twin[i, j] == sigma[i, j]
    assert np.linalg.eigvalsh(twin)[0] > 0
    assert twin[0, 0] >= 0.9**2 / 0.01  # 2×2 minor on (m, u) forces σ_mm ≥ σ_mu²/σ_uu


def test_random_twin_is_seeded(fig1):
    cfg, sigma = fig1
    a = equivalent_twin(sigma, cfg.network, seed=1)
    b = equivalent_twin(sigma, cfg.network, seed=1)
    c = equivalent_twin(sigma, cfg.network, seed=2)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.05
    for i, j in VISIBLE:
        assert a[i, j] == sigma[i, j] == c[i, j]
    assert np.linalg.eigvalsh(a)[0] > 0


def test_bad_requests_are_config_errors(fig1):
    cfg, sigma = fig1
    with pytest.raises(of.ConfigError, match="σ_zm is loss-visible"):
        equivalent_twin(sigma, cfg.network, {"zm": 0.3})
    with pytest.raises(of.SigmaError, match="unknown overlap"):
        equivalent_twin(sigma, cfg.network, {"qq": 0.3})
    with pytest.raises(of.ConfigError, match="finite number"):
        equivalent_twin(sigma, cfg.network, {"uu": float("nan")})
    with pytest.raises(of.ConfigError, match="on_infeasible"):
        equivalent_twin(sigma, cfg.network, {"uu": 2.0}, on_infeasible="ignore")
