"""Mode `limit`: the N → ∞ learning dynamics on quadrature nodes (docs/theory.md §8)."""

import numpy as np
import pytest

import overlapflow as of
from overlapflow import ConfigError, learn_limit, learn_particles, limit_nodes, sample_nodes

SIGMA0 = np.array([[1.0, 0.3, 0.5, 0.6], [0.3, 1.2, 0.9, 0.4],
                   [0.5, 0.9, 1.5, 0.2], [0.6, 0.4, 0.2, 1.0]])


def _noise_task(t_max=2.0, dt=0.1, batch=2):
    return of.make_task("noise_filter", dt=dt, t_max=t_max, n_in=1, n_out=1, batch_size=batch,
                        noise_sd=1.5)


def _max_rel(a, b):
    return float(np.max(np.abs(a / b - 1.0)))


@pytest.mark.parametrize("rank, nodes", [(1, 3), (2, 2)])
def test_limit_equals_exact_for_linear_networks(rank, nodes):
    # Linear: L depends on Σ = Σ_k w_k X_kᵀX_k only and node-wise GD is X ↦ X(I − 2ηS), so any
    # rule exact for quadratics gives the exact map (rank 2: the scalable 2³·3³ rule).
    spec = of.NetworkSpec(N=10, rank=rank, phi="linear", dt=0.1)
    rng = np.random.default_rng(rank)
    A = rng.normal(size=(spec.P, spec.P))
    sigma0 = A @ A.T / spec.P + 0.2 * np.eye(spec.P)
    task = _noise_task()
    lim = learn_limit(sigma0, task, spec, loss="sum_dt", eta=0.02, epochs=8, nodes=nodes,
                      check=False)
    ex = of.learn_overlaps(sigma0, task, spec, loss="sum_dt", mode="exact", eta=0.02, epochs=8)
    assert lim.state.X.shape[0] == (nodes ** (spec.P) if rank == 1 else nodes**3 * 3**3)
    assert _max_rel(lim.loss, ex.loss) < 1e-10
    np.testing.assert_allclose(lim.sigma, ex.sigma, rtol=0, atol=1e-10)
    assert ex.loss[-1] < ex.loss[0]


def test_nodes_reproduce_sigma0_including_singular():
    spec = of.NetworkSpec(N=10, phi="erf")
    v = np.array([1.0, 0.5, -0.3, 0.8])
    singular = np.outer(v, v) + np.diag([0.5, 0.0, 0.0, 0.0])
    for sigma0 in (SIGMA0, singular):
        nodes = limit_nodes(sigma0, spec, nodes=4)
        X, w = np.asarray(nodes.X0), np.asarray(nodes.weights)
        np.testing.assert_allclose((w[:, None] * X).T @ X, sigma0, atol=1e-12)
        np.testing.assert_allclose(w.sum(), 1.0, atol=1e-14)
    with pytest.raises(ConfigError, match="nodes"):
        limit_nodes(SIGMA0, spec, nodes=1)


def test_particles_with_equal_weights_are_theta_space_gd():
    # Independent oracle: train_theta (optax SGD with step N·η on the full network).
    spec = of.NetworkSpec(N=60, phi="erf", dt=0.1)
    task = _noise_task()
    X0 = of.random_vectors(spec, seed=4)
    th = of.train_theta(X0, task, spec, loss="masked_mean", eta=0.3, epochs=5)
    pa = learn_particles(of.theta_nodes(X0), task, spec, loss="masked_mean", eta=0.3, epochs=5)
    assert _max_rel(pa.loss, th.loss) < 1e-10
    np.testing.assert_allclose(pa.sigma, th.sigma, rtol=0, atol=1e-10)
    np.testing.assert_allclose(pa.state.X, th.state[0], rtol=0, atol=1e-10)


def test_particles_with_scaled_eps_are_theta_space_adam():
    # θ-space Adam (train_theta: optax.adam on ∂L/∂X) = node-wise Adam on N·∂L/∂X with ε·N.
    spec = of.NetworkSpec(N=60, phi="tanh", dt=0.1)
    task = _noise_task()
    X0 = of.random_vectors(spec, seed=5)
    th = of.train_theta(X0, task, spec, loss="masked_mean", optimizer="adam", eta=0.01,
                        epochs=6)
    pa = learn_particles(of.theta_nodes(X0), task, spec, loss="masked_mean", optimizer="adam",
                         eta=0.01, epochs=6, adam_eps=1e-8 * spec.N)
    assert _max_rel(pa.loss, th.loss) < 1e-10
    np.testing.assert_allclose(pa.state.X, th.state[0], rtol=0, atol=1e-10)
    assert np.max(np.abs(pa.state.X - np.asarray(X0))) > 1e-3


def _fixed_task():
    # One fixed batch (deterministic): white noise in, a squashed leaky integral out.
    nf = _noise_task(t_max=1.5, batch=2)
    b = of.batch_for_epoch(nf, 0, 0)
    return of.make_task("arrays", dt=0.1, n_in=1, n_out=1, x=np.asarray(b.x),
                        y=np.tanh(2 * np.asarray(b.y)))


def test_limit_converges_as_nodes_are_added():
    spec = of.NetworkSpec(N=10, phi="tanh", dt=0.1)
    task = _fixed_task()
    kw = dict(loss="masked_mean", eta=0.1, epochs=4)
    L3 = learn_limit(SIGMA0, task, spec, nodes=3, check=False, **kw).loss
    L7 = learn_limit(SIGMA0, task, spec, nodes=7, check=False, **kw).loss
    checked = learn_limit(SIGMA0, task, spec, nodes=5, check=True, **kw)
    L5 = checked.loss
    assert L7[-1] < L7[0]
    d3, d5 = _max_rel(L3, L7), _max_rel(L5, L7)
    assert d3 > 5 * d5 > 0  # measured: 3.4e-2 vs 2.2e-3 for erf
    # The run's own error report: the coarser rule (5 → 2 points per direction).
    assert checked.state.coarse_nodes == 2**4
    L2 = learn_limit(SIGMA0, task, spec, nodes=2, check=False, **kw).loss
    assert checked.state.quadrature_error == pytest.approx(_max_rel(L2, L5), rel=1e-8)


def test_large_network_closer_to_limit_than_small():
    spec = of.NetworkSpec(N=10, phi="erf", dt=0.1)
    task = _fixed_task()
    kw = dict(loss="masked_mean", eta=0.1, epochs=4)
    lim = learn_limit(SIGMA0, task, spec, nodes=7, check=False, **kw)  # ~2e-4 from the limit
    err = {}
    for N in (1000, 16000):
        err[N] = np.median([
            _max_rel(learn_particles(sample_nodes(SIGMA0, spec, N, seed=s), task, spec, **kw).loss,
                     lim.loss) for s in range(3)])
    # Expected ratio √16 = 4 for 1/√N fluctuations (measured 8e-2 vs 3e-3); demand 2.
    assert err[16000] < err[1000] / 2


def test_gaussianity_tracking_starts_gaussian_and_in_span():
    spec = of.NetworkSpec(N=10, phi="erf", dt=0.1)
    res = learn_limit(SIGMA0, _noise_task(), spec, loss="masked_mean", eta=0.5, epochs=5,
                      nodes=5, check=False, track_every=2)
    track = res.state.gaussianity
    np.testing.assert_array_equal(track.epochs, [0, 2, 4, 5])
    np.testing.assert_allclose(track.stats.kurtosis[0], 0.0, atol=1e-10)  # 5-pt GH: degree ≤ 9
    np.testing.assert_allclose(track.stats.out_of_span_total[0], 0.0, atol=1e-12)
    # Q-Q of the interpolated node map at 4096 Gaussian points: a Gaussian sample's value
    # (the node values alone, 5 atoms per coordinate, give 0.97–0.99).
    assert np.all(track.stats.qq_corr[0] > 0.999)
    assert track.stats.out_of_span_total[-1] > 0


def test_node_map_interpolation_is_exact_for_polynomials():
    from overlapflow.internal import QQ_SAMPLES, interpolate_nodes, qq_bases

    nodes = limit_nodes(SIGMA0, of.NetworkSpec(N=10, phi="erf"), nodes=5)
    xi_nodes = np.stack(np.meshgrid(*nodes.grid, indexing="ij"), -1).reshape(-1, 4)
    F = lambda xi: np.stack([xi[:, 0] ** 3 * xi[:, 1], xi[:, 2] ** 4, xi[:, 3], xi[:, 0]], 1)
    xi = np.random.default_rng(0).standard_normal((QQ_SAMPLES, 4))  # the documented draw
    out = interpolate_nodes(of.theta_nodes(F(xi_nodes)).X0, qq_bases(nodes.grid))
    np.testing.assert_allclose(out, F(xi), rtol=1e-10, atol=1e-10)


def test_compare_runs_limit_mode_and_reports_closure_error(tmp_path):
    raw = {"network": {"N": 50, "phi": "linear", "dt": 0.1},
           "task": {"kind": "impulse_exp", "t_max": 2.0}, "loss": {"kind": "sum_dt"},
           "train": {"eta": 0.01, "epochs": 3, "modes": ["exact", "limit"], "limit_nodes": 3}}
    comp = of.run_comparison(of.config_from_dict(raw), progress=False)
    summary = of.write_comparison(comp, tmp_path, figure=False)
    assert summary["closure_error"]["exact"] < 1e-10
    assert summary["limit_nodes"] == 81 and summary["limit_check_nodes"] == 16
    from overlapflow.internal import closure_warning

    assert closure_warning(summary) is None
    assert "0.05" in closure_warning({"closure_error": {"exact": 0.05}})


@pytest.mark.parametrize("phi, rank, n_in, n_out", [("tanh", 1, 1, 1), ("softplus", 2, 2, 1)])
def test_latent_adjoint_gradient_equals_autodiff(phi, rank, n_in, n_out):
    import jax

    from overlapflow.internal import particle_loss, particle_value_and_grad

    spec = of.NetworkSpec(N=10, phi=phi, rank=rank, n_in=n_in, n_out=n_out, dt=0.1)
    rng = np.random.default_rng(0)
    A = rng.normal(size=(spec.P, spec.P))
    nodes = limit_nodes(A @ A.T / spec.P + 0.2 * np.eye(spec.P), spec, nodes=3, nodes_rest=2)
    X = nodes.X0 + 0.1 * rng.normal(size=nodes.X0.shape)  # off the symmetric start
    task = of.make_task("noise_filter", dt=0.1, t_max=2.0, n_in=n_in, n_out=n_out, batch_size=3)
    batch = of.batch_for_epoch(task, 0, 1)
    ref_loss, ref = jax.value_and_grad(particle_loss)(X, nodes.weights, batch, spec, "sum_dt")
    loss, G = particle_value_and_grad(X, nodes.weights, batch, spec, "sum_dt",
                                      block_elements=300)  # several time blocks
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-12)
    np.testing.assert_allclose(G * np.asarray(nodes.weights)[:, None], ref, rtol=0,
                               atol=1e-10 * float(np.max(np.abs(ref))))


@pytest.mark.parametrize("phi, optimizer", [("erf", "gd"), ("tanh", "adam")])
def test_mirror_fold_gives_the_unfolded_run(phi, optimizer):
    # Odd φ: simulating half of a symmetric rule (weights doubled) is the full rule's run.
    from overlapflow.internal import mirror_half

    spec = of.NetworkSpec(N=10, phi=phi, dt=0.1)
    task = _noise_task(batch=3)
    rule = limit_nodes(SIGMA0, spec, nodes=5)
    K = rule.weights.shape[0]
    assert mirror_half(rule.X0, rule.weights, spec) == K // 2
    kw = dict(loss="masked_mean", optimizer=optimizer, eta=0.05 if optimizer == "adam" else 0.5,
              epochs=6, track_every=3)
    folded = learn_particles(rule, task, spec, fold=True, **kw)
    full = learn_particles(rule, task, spec, fold=False, **kw)
    assert _max_rel(folded.loss, full.loss) < 1e-12
    np.testing.assert_allclose(folded.sigma, full.sigma, rtol=0, atol=1e-12)
    np.testing.assert_allclose(folded.state.X, full.state.X, rtol=0, atol=1e-12)
    assert np.max(np.abs(full.state.X - full.state.X0)) > 1e-3  # the nodes did move
    for a, b in zip(folded.state.gaussianity.stats, full.state.gaussianity.stats):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-11)


def test_mirror_fold_needs_odd_phi_and_a_symmetric_rule():
    from overlapflow.internal import mirror_half

    for phi, expected in (("relu", None), ("softplus", None), ("linear", 2**4 // 2)):
        spec = of.NetworkSpec(N=10, phi=phi)
        rule = limit_nodes(SIGMA0, spec, nodes=2)
        assert mirror_half(rule.X0, rule.weights, spec) == expected
    spec = of.NetworkSpec(N=10, phi="erf")
    mc = sample_nodes(SIGMA0, spec, 64, seed=0)  # random rows: no mirror pairs
    assert mirror_half(mc.X0, mc.weights, spec) is None


@pytest.mark.parametrize("optimizer, eta", [("gd", 0.3), ("adam", 0.01)])
def test_train_theta_adjoint_is_train_theta(optimizer, eta):
    # The experiments' fast θ-space path against the autodiff reference, for both optimizers.
    spec = of.NetworkSpec(N=50, rank=2, phi="erf", dt=0.1)
    task = _noise_task()
    X0 = of.random_vectors(spec, seed=6)
    th = of.train_theta(X0, task, spec, loss="masked_mean", optimizer=optimizer, eta=eta,
                        epochs=5, seed=2)
    fast = of.train_theta_adjoint(X0, task, spec, loss="masked_mean", optimizer=optimizer,
                                  eta=eta, epochs=5, seed=2)
    assert _max_rel(fast.loss, th.loss) < 1e-10
    np.testing.assert_allclose(fast.sigma, th.sigma, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fast.state.X, th.state[0], rtol=0, atol=1e-10)
    assert np.max(np.abs(fast.state.X - np.asarray(X0))) > 1e-3
