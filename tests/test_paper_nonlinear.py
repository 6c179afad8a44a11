"""The paper's Figures 4 and 8 (docs/theory.md §7): the balanced start, `[init] balanced = true`, and the
output-trial arrays of `run nonlinear` / `run optimizers`. float64 throughout."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of
from overlapflow.experiments import run_experiment
from overlapflow.experiments.nonlinear import output_trial, rel_rms


def _pairs(sigma):
    """(σ_zu, σ_vm), (σ_mu, σ_zv) of a rank-1 Σ, order [m, u, v, z]."""
    s = np.asarray(sigma)
    return (s[3, 1], s[2, 0]), (s[0, 1], s[3, 2])


def _assert_balanced(sigma, tol=1e-3):
    for a, b in _pairs(sigma):
        assert abs(a - b) < tol, (a, b)
        assert np.sign(a) == np.sign(b) != 0, (a, b)


SPEC = of.NetworkSpec(N=600, rank=1, phi="erf", dt=0.025)


@pytest.mark.parametrize("seed", [0, 7])
def test_balanced_start_meets_the_conditions_and_is_reproducible(seed):
    X, draws = of.balanced_vectors(SPEC, seed=seed)
    assert X.shape == (600, 4) and X.dtype == jnp.float64
    sigma = np.asarray(of.overlaps(X))
    _assert_balanced(sigma)
    np.testing.assert_allclose(np.diag(sigma), 1.0, rtol=1e-12)  # like random_vectors
    assert isinstance(draws, int) and draws >= 1
    X2, draws2 = of.balanced_vectors(SPEC, seed=seed)
    assert draws2 == draws
    np.testing.assert_array_equal(np.asarray(X2), np.asarray(X))


def test_balanced_start_depends_on_the_seed_and_rejects_most_draws():
    (X0, d0), (X1, d1) = (of.balanced_vectors(SPEC, seed=s) for s in (0, 1))
    assert not np.allclose(np.asarray(X0), np.asarray(X1))
    # Two 1e-3 windows on overlaps of sd ≈ 1/√N: about π/(N·tol²) ≈ 5200 draws on average;
    # the seeds used here need hundreds to tens of thousands (measured 4169 and 2370).
    assert d0 > 10 and d1 > 10
    # The first draw of a seed is accepted when the window is wide (a loose tol).
    _, d_loose = of.balanced_vectors(SPEC, seed=0, tol=0.9)
    assert d_loose < d0


def test_balanced_start_caps_the_redraws_with_a_clear_error():
    with pytest.raises(of.ConfigError, match=r"no balanced start.*in 20 draws.*expected"):
        of.balanced_vectors(SPEC, seed=0, tol=1e-8, max_draws=20)


@pytest.mark.parametrize("kwargs, match", [
    (dict(spec=of.NetworkSpec(N=50, rank=2)), "rank 1"),
    (dict(spec=of.NetworkSpec(N=50, n_in=2)), "n_in=2"),
    (dict(spec=of.NetworkSpec(N=50, n_out=3)), "n_out=3"),
    (dict(seed=-1), "seed"),
    (dict(seed=1.5), "seed"),
    (dict(seed=True), "seed"),
    (dict(tol=0.0), "tol"),
    (dict(tol=-1e-3), "tol"),
    (dict(tol=math.nan), "tol"),
    (dict(tol=2.0), "tol"),
    (dict(tol="1e-3"), "tol"),
    (dict(max_draws=0), "max_draws"),
    (dict(max_draws=10.0), "max_draws"),
    (dict(spec="rank1"), "NetworkSpec"),
])
def test_balanced_start_bad_input_is_a_config_error(kwargs, match):
    args = dict(spec=of.NetworkSpec(N=50), seed=0)
    args.update(kwargs)
    spec = args.pop("spec")
    with pytest.raises(of.ConfigError, match=match):
        of.balanced_vectors(spec, **args)


_TOML = """
[network]
N = 200
phi = "erf"
dt = 0.1
{network_extra}
[init]
seed = 3
{init}
[task]
kind = "flip_flop"
t_max = 10.0
[loss]
kind = "masked_mean"
[train]
eta = 0.05
epochs = 1
modes = ["exact"]
"""


def _config(tmp_path, init="balanced = true", network_extra=""):
    path = tmp_path / "balanced.toml"
    path.write_text(_TOML.format(init=init, network_extra=network_extra))
    return of.load_config(path)


def test_init_balanced_reaches_the_compare_start(tmp_path):
    cfg = _config(tmp_path)
    X_ref, _ = of.balanced_vectors(cfg.network, seed=3)
    np.testing.assert_allclose(cfg.init_sigma, np.asarray(of.overlaps(X_ref)), atol=1e-14)
    # θ-space starts from `initial_vectors` (the realisation of that Σ), overlap modes from
    # its overlaps: both are balanced.
    X0 = of.initial_vectors(cfg)
    assert X0.shape == (200, 4)
    _assert_balanced(of.overlaps(X0))
    comp = of.run_comparison(cfg, progress=False)
    sigma0 = comp.runs["exact"].sigma[0]
    _assert_balanced(sigma0)
    np.testing.assert_allclose(sigma0, cfg.init_sigma, atol=1e-12)
    # Without the flag the same seed gives an unbalanced random start.
    plain = _config(tmp_path, init="")
    assert plain.init_sigma is None
    (zu, vm), (mu, zv) = _pairs(of.overlaps(of.initial_vectors(plain)))
    assert abs(zu - vm) > 1e-3 or abs(mu - zv) > 1e-3


@pytest.mark.parametrize("init, extra, match", [
    ("balanced = 1", "", "init.balanced must be true or false"),
    ('balanced = "yes"', "", "init.balanced must be true or false"),
    ('balanced = true\nsigma = "s.npy"', "", "exclusive"),
    ("balanced = true", "rank = 2", "init.balanced = true: .*rank 1"),
    ("balance = true", "", "unknown key 'balance'"),
])
def test_init_balanced_bad_values_are_config_errors(tmp_path, init, extra, match):
    np.save(tmp_path / "s.npy", np.eye(4))
    with pytest.raises(of.ConfigError, match=match):
        _config(tmp_path, init=init, network_extra=extra)


def _quick(tmp_path_factory, name, **overrides):
    """A `--quick` run cut to a few epochs (the arrays, not the learning): (summary, arrays)."""
    out = tmp_path_factory.mktemp(name)
    summary = run_experiment(name, out, quick=True, overrides={"epochs": 3, **overrides},
                             progress=False, figures=False)
    with np.load(out / name / "results.npz", allow_pickle=False) as data:
        return summary, {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def quick_nonlinear(tmp_path_factory):
    return _quick(tmp_path_factory, "nonlinear", modes=["exact", "euler"])


@pytest.fixture(scope="module")
def quick_optimizers(tmp_path_factory):
    return _quick(tmp_path_factory, "optimizers")


@pytest.mark.parametrize("name, factor, keys", [
    ("nonlinear", 4, ("trial_theta", "trial_exact", "trial_euler", "trial_mf_theta")),
    ("optimizers", 3, ("trial_gd_small", "trial_gd_large", "trial_adam", "trial_exact_gd_small",
                       "trial_exact_gd_large")),
])
def test_output_trial_arrays_have_the_trial_length(request, name, factor, keys):
    summary, a = request.getfixturevalue(f"quick_{name}")
    p = summary["params"]
    assert p["trial_factor"] == factor and p["balanced"] is True
    T = round(factor * p["t_max"] / p["dt"])  # 48-s / 30-s trials at --quick (80 / 60 s paper)
    for key in ("trial_time", "trial_input", "trial_target", "trial_mask") + keys:
        assert a[key].shape == (T,), key
        assert np.all(np.isfinite(a[key])), key
    assert a["trial_time"][-1] == pytest.approx(factor * p["t_max"])
    assert np.any(a["trial_input"] != 0) and set(np.unique(a["trial_mask"])) == {0.0, 1.0}
    _assert_balanced(a["sigma_gd_small" if name == "optimizers" else "sigma_theta"][0])


def test_output_trial_recomputed_from_the_saved_arrays(quick_nonlinear):
    summary, a = quick_nonlinear
    p = summary["params"]
    spec = of.NetworkSpec(N=p["N"], rank=1, phi="erf", dt=p["dt"])
    trial = output_trial(p, p["trial_factor"], summary["seeds"]["trial"])
    np.testing.assert_array_equal(np.asarray(trial.x)[0, :, 0], a["trial_input"])
    y_theta = np.asarray(of.network_outputs(jnp.asarray(a["X_final"]), trial.x, spec))[0, :, 0]
    y_exact = np.asarray(of.effective_outputs(a["sigma_exact"][-1], trial.x, spec))[0, :, 0]
    np.testing.assert_allclose(a["trial_theta"], y_theta, atol=1e-12)
    np.testing.assert_allclose(a["trial_exact"], y_exact, atol=1e-12)
    (check,) = [c for c in summary["checks"] if c["name"].startswith("outputs")]
    assert check["value"] == pytest.approx(rel_rms(y_exact, y_theta) * math.sqrt(p["N"]),
                                           rel=1e-9)


def test_optimizers_saves_the_final_vectors_of_each_run(quick_optimizers):
    """The loading histograms of Figure 8 read X_<run>: the final vectors, whose overlaps are
    the run's last Σ."""
    summary, o = quick_optimizers
    N = summary["params"]["N"]
    for r in ("gd_small", "gd_large", "adam"):
        assert o[f"X_{r}"].shape == (N, 4)
        np.testing.assert_allclose(o[f"X_{r}"].T @ o[f"X_{r}"] / N, o[f"sigma_{r}"][-1],
                                   atol=1e-10)
    assert o["X0"].shape == (N, 4)
