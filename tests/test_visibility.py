"""Visible / invisible overlaps come out of the loss's dependence on Σ as docs/theory.md §5 says."""

import numpy as np

import overlapflow as of


def test_rank1_linear_visibility():
    spec = of.NetworkSpec(N=500, phi="linear")
    assert set(of.visible_overlaps(spec)) == {"zm", "zu", "vm", "vu"}
    assert set(of.invisible_overlaps(spec)) == {"mu", "zv", "mm", "uu", "vv", "zz"}


def test_rank1_erf_visibility():
    spec = of.NetworkSpec(N=500, phi="erf")
    assert set(of.visible_overlaps(spec)) == {"zm", "zu", "vm", "vu", "mu", "mm", "uu"}
    assert set(of.invisible_overlaps(spec)) == {"zv", "vv", "zz"}


def test_linear_visible_blocks_any_architecture():
    # Linear: exactly the Σ_ZM, Σ_ZU, Σ_VM, Σ_VU blocks (docs/theory.md §3) for rank 2, 2 in, 3 out.
    spec = of.NetworkSpec(N=50, rank=2, n_in=2, n_out=3)
    mask = of.visible_mask(spec)
    expected = np.zeros((spec.P, spec.P), bool)
    mu = np.r_[0:spec.n_in, spec.n_in:spec.n_in + spec.rank]
    vz = np.r_[spec.n_in + spec.rank:spec.P]
    expected[np.ix_(vz, mu)] = True
    expected[np.ix_(mu, vz)] = True
    np.testing.assert_array_equal(mask, expected)
