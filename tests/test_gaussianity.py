"""Gaussianity statistics (docs/theory.md §4, §8) on samples of known laws and on weighted nodes."""

import math

import numpy as np
import pytest
import scipy.integrate
from scipy.special import ndtri

import overlapflow as of
from overlapflow import gaussianity_stats, out_of_span_fraction, qq_correlation, vector_moments

N_SAMPLES = 400_000


def _laplace_qq():
    # corr(X, Φ⁻¹(F(X))) for the unit Laplace law, var X = 2, by adaptive quadrature.
    # x ≥ 0 (symmetric law): F(x) = 1 − ½e^{−x}, so Φ⁻¹(F(x)) = −Φ⁻¹(½e^{−x}).
    f = lambda x: 0.5 * math.exp(-x)
    e = 2 * scipy.integrate.quad(lambda x: -x * ndtri(f(x)) * f(x), 0, 60, limit=200)[0]
    return e / math.sqrt(2.0)


# Tolerances are ~4 standard errors at N_SAMPLES (Laplace: SE 0.015 for skewness, 0.08 for
# kurtosis, from its 6th and 8th moments); Q-Q references are exact integrals.
@pytest.mark.parametrize(
    "law, kurt, qq, tol_kurt, tol_skew",
    [("normal", 0.0, 1.0, 0.03, 0.02),
     ("uniform", -1.2, 1 / (2 * math.sqrt(math.pi)) * math.sqrt(12), 0.01, 0.02),
     ("laplace", 3.0, None, 0.3, 0.06)],
)
def test_statistics_of_known_laws(law, kurt, qq, tol_kurt, tol_skew):
    rng = np.random.default_rng(7)
    draw = {"normal": rng.standard_normal, "uniform": lambda n: rng.uniform(-1, 1, n),
            "laplace": lambda n: rng.laplace(size=n)}[law]
    X = np.stack([draw(N_SAMPLES), draw(N_SAMPLES)], axis=1)
    skew, k = vector_moments(X)
    np.testing.assert_allclose(k, kurt, atol=tol_kurt)
    np.testing.assert_allclose(skew, 0.0, atol=tol_skew)
    qq_expected = _laplace_qq() if qq is None else qq
    np.testing.assert_allclose(qq_correlation(X), qq_expected, atol=2e-3)


def test_exponential_skewness():
    X = np.random.default_rng(1).exponential(size=(N_SAMPLES, 1))
    skew, kurt = vector_moments(X)
    np.testing.assert_allclose(skew, 2.0, atol=0.05)
    np.testing.assert_allclose(kurt, 6.0, atol=0.4)


def test_weighted_nodes_equal_repeated_samples():
    # Integer weights are multiplicities: the weighted statistics equal those of the sample
    # with each row repeated (exact, independent of the weighting code path).
    rng = np.random.default_rng(2)
    X = rng.laplace(size=(2000, 3)) + rng.normal(size=(2000, 3)) ** 2
    counts = rng.integers(1, 5, size=2000)
    rep = np.repeat(X, counts, axis=0)
    for a, b in zip(vector_moments(X, counts), vector_moments(rep)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # Q-Q: a repeated value takes one mid-cumulative plotting position instead of one per copy,
    # a difference of O(1/K) in the correlation.
    np.testing.assert_allclose(qq_correlation(X, counts), qq_correlation(rep), atol=1e-3)


def test_gauss_hermite_nodes_are_exactly_gaussian():
    spec = of.NetworkSpec(N=10, phi="erf")
    nodes = of.limit_nodes(np.eye(4), spec, nodes=9)
    skew, kurt = vector_moments(nodes.X0, nodes.weights)
    np.testing.assert_allclose(kurt, 0.0, atol=1e-12)
    np.testing.assert_allclose(skew, 0.0, atol=1e-12)


def test_out_of_span_fraction_exact():
    rng = np.random.default_rng(3)
    N = 500
    X0 = rng.normal(size=(N, 3))
    Q, _ = np.linalg.qr(np.concatenate([X0, rng.normal(size=(N, 1))], axis=1))
    orth = Q[:, 3] * math.sqrt(N)  # orthogonal to span X0, ‖·‖² = N
    inside = X0 @ rng.normal(size=(3, 2))
    X = inside + 0.5 * orth[:, None] * np.array([1.0, 0.0])
    frac, total = out_of_span_fraction(X, X0)
    expected0 = 0.25 * N / (np.sum(inside[:, 0] ** 2) + 0.25 * N)
    np.testing.assert_allclose(frac, [expected0, 0.0], atol=1e-12)
    np.testing.assert_allclose(total, 0.25 * N / np.sum(X**2), rtol=1e-12)
    stats = gaussianity_stats(X, X0)
    np.testing.assert_allclose(stats.out_of_span, frac, rtol=1e-12)
    assert np.all(np.isnan(gaussianity_stats(X).out_of_span))


def test_compare_tracks_gaussianity_of_theta_space_adam():
    # compare with track_every runs θ-space Adam on the node engine (ε scaled by N): the same
    # run as train_theta, plus the statistics.
    import overlapflow as of

    raw = {
        "network": {"N": 40, "rank": 1, "phi": "tanh", "dt": 0.1},
        "task": {"kind": "noise_filter", "t_max": 2.0, "batch_size": 2},
        "loss": {"kind": "masked_mean"},
        "train": {"optimizer": "adam", "eta": 0.01, "epochs": 6, "modes": ["theta"],
                  "track_every": 2},
    }
    cfg = of.config_from_dict(raw)
    comp = of.run_comparison(cfg, progress=False)
    theta = comp.runs["theta"]
    ref = of.train_theta(of.initial_vectors(cfg), cfg.task, cfg.network, loss="masked_mean",
                         optimizer="adam", eta=0.01, epochs=6, seed=cfg.task_seed)
    np.testing.assert_allclose(theta.loss, ref.loss, rtol=1e-10, atol=0)
    track = theta.state.gaussianity
    assert list(track.epochs) == [0, 2, 4, 6]
    kurt = np.asarray(track.stats.kurtosis)
    assert kurt.shape == (4, cfg.network.P) and np.all(np.isfinite(kurt))
