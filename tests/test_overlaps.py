"""Overlaps: names, named access, validation of Σ and exact realisation by N-dim vectors."""

import numpy as np
import pytest

import overlapflow as of


def test_rank1_names_follow_the_paper():
    spec = of.NetworkSpec(N=10)
    assert set(of.overlap_names(spec)) == {"zm", "zu", "vm", "vu", "mu", "zv", "mm", "uu", "vv", "zz"}


def test_named_access_accepts_prefixes_and_either_order():
    spec = of.NetworkSpec(N=10, rank=2, n_in=1, n_out=2)
    sigma = np.arange(64.0).reshape(8, 8)
    sigma = sigma + sigma.T
    i, j = of.overlap_index(spec, "u1v2")
    assert (i, j) == (1, 4)
    for name in ("u1v2", "v2u1", "sigma_v2u1", "σ_u1v2"):
        assert of.get_overlap(sigma, spec, name) == sigma[1, 4]
    with pytest.raises(of.SigmaError, match="unknown overlap"):
        of.overlap_index(spec, "u3v1")
    with pytest.raises(of.SigmaError, match="unknown overlap"):
        of.overlap_index(spec, "zm")  # z1, z2 exist, not z


@pytest.mark.parametrize("P,r,N,seed", [(4, 4, 4, 0), (6, 3, 3, 1), (8, 5, 200, 2), (10, 10, 500, 3)])
def test_realise_vectors_reproduces_sigma(P, r, N, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(r, P))
    sigma = A.T @ A / r  # rank r, singular when r < P
    X = np.asarray(of.realise_vectors(sigma, N, seed=seed))
    assert X.shape == (N, P)
    np.testing.assert_allclose(X.T @ X / N, sigma, rtol=0, atol=1e-12 * np.max(np.abs(sigma)))
    X2 = np.asarray(of.realise_vectors(sigma, N, seed=seed))
    np.testing.assert_array_equal(X, X2)


def test_realise_vectors_rejects_n_below_rank():
    sigma = np.eye(5)
    with pytest.raises(of.SigmaError, match="smaller than the rank"):
        of.realise_vectors(sigma, 4, seed=0)


def test_check_sigma_errors():
    spec = of.NetworkSpec(N=10)
    good = np.eye(4)
    np.testing.assert_array_equal(of.check_sigma(good, spec), good)
    with pytest.raises(of.SigmaError, match=r"shape \(4, 4\)"):
        of.check_sigma(np.eye(3), spec)
    bad = good.copy()
    bad[0, 1] = np.nan
    with pytest.raises(of.SigmaError, match="NaN"):
        of.check_sigma(bad, spec)
    asym = good.copy()
    asym[0, 1] = 0.5
    with pytest.raises(of.SigmaError, match="not symmetric"):
        of.check_sigma(asym, spec)
    neg = np.diag([1.0, 1.0, 1.0, -0.25])
    with pytest.raises(of.SigmaError, match=r"smallest eigenvalue -0\.25"):
        of.check_sigma(neg, spec)
