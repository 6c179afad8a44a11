"""Conserved quadratic forms, invariants and their drift under each optimiser (docs/theory.md §6)."""

from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import overlapflow as of  # noqa: E402
from overlapflow import (  # noqa: E402
    conserved_forms,
    independent_invariant_count,
    invariant_drift,
    invariants,
    reachable_dimension,
)

FIG1 = Path(__file__).resolve().parents[1] / "examples" / "fig1.toml"
CHUNK = 401  # one chunk length for every exact-mode run below: compiled once


def _decay_kw():
    params = of.task_parameters("impulse_exp")
    return "decay" if "decay" in params else "c"


def _random_sigma(P, seed):
    A = np.random.default_rng(seed).standard_normal((P + 2, P))
    return A.T @ A / (P + 2)


def _loss_gradients(spec, n, seed):
    """n symmetric gradients S of the actual effective loss at random Σ, random data."""
    key = jax.random.PRNGKey(seed)
    grad = jax.jit(of.overlap_gradient, static_argnums=(2, 3))
    out = []
    for k in range(n):
        key, kx, ky = jax.random.split(key, 3)
        x = jax.random.normal(kx, (2, 12, spec.n_in))
        y = jax.random.normal(ky, (2, 12, spec.n_out))
        batch = of.TaskBatch(x, y, jnp.ones_like(y))
        sigma = jnp.asarray(_random_sigma(spec.P, seed + 100 + k))
        out.append(np.asarray(grad(sigma, batch, spec, "sum_dt")[1]))
    return np.array(out)


def _null_dimension(S_list, P):
    """dim{J symmetric : SJ + JS = 0 for every S in S_list}, by brute force on all entries."""
    iu = np.triu_indices(P)
    cols = []
    for c in range(iu[0].size):
        J = np.zeros((P, P))
        J[iu[0][c], iu[1][c]] = J[iu[1][c], iu[0][c]] = 1.0
        cols.append(np.concatenate([(S @ J + J @ S).ravel() for S in S_list]))
    s = np.linalg.svd(np.array(cols).T, compute_uv=False)
    return int(np.sum(s <= 1e-10 * s.max()))


@pytest.mark.parametrize("rank, n_in, n_out", [(1, 1, 1), (3, 1, 2)])
def test_linear_networks_have_one_form_plus_minus_identity(rank, n_in, n_out):
    spec = of.NetworkSpec(N=50, rank=rank, n_in=n_in, n_out=n_out)
    forms = conserved_forms(spec)
    assert forms.shape == (1, spec.P, spec.P)
    expected = np.zeros(spec.P)
    expected[spec.m] = expected[spec.u] = -1.0
    expected[spec.v] = expected[spec.z] = 1.0
    np.testing.assert_allclose(forms[0], np.diag(expected), atol=1e-12)
    # Independent of the visible pattern: gradients of the real loss anticommute with J.
    S = _loss_gradients(spec, 2, seed=rank)
    residual = np.abs(S @ forms[0] + forms[0] @ S).max()
    assert residual <= 1e-12 * np.abs(S).max()
    # P independent invariants cut the P(P+1)/2 overlaps down to P(P−1)/2 reachable ones.
    P = spec.P
    assert independent_invariant_count(spec) == P
    assert reachable_dimension(spec) == P * (P - 1) // 2


def test_erf_rank1_has_no_form():
    spec = of.NetworkSpec(N=50, rank=1, phi="erf")
    assert conserved_forms(spec).shape == (0, spec.P, spec.P)
    # Null space recomputed from actual loss gradients, without the visible pattern.
    assert _null_dimension(_loss_gradients(spec, 4, seed=7), spec.P) == 0
    assert independent_invariant_count(spec) == 0
    assert reachable_dimension(spec) == spec.P * (spec.P + 1) // 2


def test_invariants_match_eigenvalues_of_sigma_J():
    spec = of.NetworkSpec(N=50, rank=2, n_in=1, n_out=2)
    J = conserved_forms(spec)[0]
    sig = np.stack([_random_sigma(spec.P, s) for s in range(3)])
    inv = invariants(sig, J)
    for k in range(3):
        ev = np.linalg.eigvals(sig[k] @ J)
        assert np.abs(ev.imag).max() < 1e-10
        np.testing.assert_allclose(inv.spectrum[k], np.sort(ev.real), rtol=0, atol=1e-11)
        np.testing.assert_allclose(inv.trace[k], np.trace(sig[k] @ J), rtol=1e-13)


@pytest.fixture(scope="module")
def fig1():
    cfg = of.load_config(FIG1)
    X0 = of.initial_vectors(cfg)
    return cfg, np.asarray(of.overlaps(X0)), conserved_forms(cfg.network)


@pytest.fixture(scope="module")
def flow_drift(fig1):
    cfg, sigma0, forms = fig1
    tol = of.FlowTolerances(rtol=1e-10, atol=1e-12)
    run = of.learn_overlaps(sigma0, cfg.task, cfg.network, mode="flow", eta=5e-3,
                            epochs=2000, tol=tol, chunk=2001)
    assert run.diverged_at is None
    assert run.loss[-1] < 1e-9 * run.loss[0]  # the task is learned along the way
    return invariant_drift(run.sigma, forms)


def test_flow_conserves_invariants_over_2000_epochs(flow_drift):
    assert flow_drift.shape == (2001,)
    assert flow_drift[0] == 0.0
    assert np.max(flow_drift) <= 1e-8


def test_exact_map_drift_per_epoch_scales_as_eta_squared(fig1):
    cfg, sigma0, forms = fig1
    drifts = {}
    for eta, epochs in [(1e-2, 200), (5e-3, 400)]:  # the same flow time η·E
        run = of.learn_overlaps(sigma0, cfg.task, cfg.network, mode="exact", eta=eta,
                                epochs=epochs, chunk=CHUNK)
        drifts[eta] = invariant_drift(run.sigma, forms)[-1] / epochs  # per epoch
    assert drifts[5e-3] > 1e-7  # far above rounding
    ratio = drifts[1e-2] / drifts[5e-3]
    assert abs(np.log2(ratio) - 2.0) < 0.05  # measured ratio 3.999


def test_exact_trace_change_is_the_second_order_term(fig1):
    # tr(Σ'J) − tr(ΣJ) = 4η² tr(SΣSJ) exactly, since tr((SJ + JS)Σ) = 0.
    cfg, sigma0, forms = fig1
    eta, J = 1e-2, forms[0]
    run = of.learn_overlaps(sigma0, cfg.task, cfg.network, mode="exact", eta=eta, epochs=20,
                            chunk=CHUNK)
    batch = of.batch_for_epoch(cfg.task, cfg.task_seed, 0)
    grads = jax.jit(jax.vmap(lambda s: of.overlap_gradient(s, batch, cfg.network, "sum_dt")[1]))
    S = np.asarray(grads(jnp.asarray(run.sigma[:-1])))
    predicted = 4 * eta**2 * np.einsum("eij,ejk,ekl,li->e", S, run.sigma[:-1], S, J)
    actual = np.diff(np.einsum("eij,ji->e", run.sigma, J))
    np.testing.assert_allclose(actual, predicted, rtol=1e-7, atol=1e-15)


def test_adam_breaks_invariants_and_theta_gd_matches_exact(fig1, flow_drift):
    cfg, _, forms = fig1
    small = cfg.network.with_N(40)
    X = of.random_vectors(small, seed=1)
    adam = of.train_theta(X, cfg.task, small, optimizer="adam", eta=1e-3, epochs=300)
    d_adam = invariant_drift(adam.sigma, forms)
    assert np.max(d_adam) >= 100 * np.max(flow_drift)
    assert np.max(d_adam) > 1e-2  # measured 0.12
    gd = of.train_theta(X, cfg.task, small, optimizer="gd", eta=5e-3, epochs=300)
    exact = of.learn_overlaps(np.asarray(of.overlaps(X)), cfg.task, small, mode="exact",
                              eta=5e-3, epochs=300, chunk=CHUNK)
    # θ-space GD is X ↦ X(I − 2ηS): the same drift as the exact map (docs/theory.md §4).
    np.testing.assert_allclose(invariant_drift(gd.sigma, forms),
                               invariant_drift(exact.sigma, forms), rtol=1e-6, atol=1e-12)


def test_compare_writes_invariant_drift(tmp_path):
    raw = {
        "network": {"N": 20, "rank": 1},
        "task": {"kind": "impulse_exp", "t_max": 2.0, _decay_kw(): 0.3},
        "train": {"eta": 0.05, "epochs": 30, "modes": ["exact"]},
    }
    comp = of.run_comparison(of.config_from_dict(raw), progress=False)
    summary = of.write_comparison(comp, tmp_path, figure=False)
    with np.load(tmp_path / "results.npz", allow_pickle=False) as data:
        for mode in ("exact",):
            drift = data[f"invariant_drift_{mode}"]
            # reference: J = diag(−1, −1, 1, 1) written out, eigenvalues by a general solver
            sig = data[f"sigma_{mode}"]
            J = np.diag([-1.0, -1.0, 1.0, 1.0])
            vals = [np.r_[np.trace(s @ J), np.sort(np.linalg.eigvals(s @ J).real)] for s in sig]
            vals = np.array(vals)
            ref = np.max(np.abs(vals - vals[0]), axis=1) / np.max(np.abs(vals[0]))
            np.testing.assert_allclose(drift, ref, rtol=1e-8, atol=1e-13)
            assert summary["max_invariant_drift"][mode] == pytest.approx(ref.max(), rel=1e-8)
    raw["network"]["phi"] = "erf"
    raw["train"]["modes"] = ["exact"]
    comp = of.run_comparison(of.config_from_dict(raw), progress=False)
    summary = of.write_comparison(comp, tmp_path / "erf", figure=False)
    assert summary["max_invariant_drift"] == {"exact": None}
    with np.load(tmp_path / "erf" / "results.npz", allow_pickle=False) as data:
        assert np.all(np.isnan(data["invariant_drift_exact"]))
