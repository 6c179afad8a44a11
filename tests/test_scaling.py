"""`overlapflow scaling`: both errors of the overlap description against N (docs/theory.md §8)."""

import json

import numpy as np
import pytest

import overlapflow as of
from overlapflow.cli import main
from overlapflow.internal import fit_slope


def test_fit_slope_recovers_power_law():
    N = [250, 1000, 4000, 16000]
    vals = np.array([[0.3 * n**-0.5] * 3 for n in N])
    slope, ci = fit_slope(N, vals)
    assert slope == pytest.approx(-0.5, abs=1e-12)
    assert ci == pytest.approx([-0.5, -0.5], abs=1e-12)
    noisy = vals * np.random.default_rng(0).lognormal(0.0, 0.3, vals.shape)
    slope, (lo, hi) = fit_slope(N, noisy)
    assert lo <= slope <= hi and lo < -0.5 < hi


def _write_config(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 12, 1)) / np.sqrt(0.1)
    y = np.tanh(0.5 * np.cumsum(x, axis=1) * 0.1)
    np.savez(tmp_path / "batch.npz", x=x, y=y)
    (tmp_path / "cfg.toml").write_text(
        '[network]\nN = 100\nphi = "erf"\ndt = 0.1\n'
        '[task]\nkind = "arrays"\nfile = "batch.npz"\n'
        '[loss]\nkind = "masked_mean"\n'
        '[train]\neta = 0.2\nepochs = 3\nlimit_nodes = 5\n'
    )
    return tmp_path / "cfg.toml"


def test_scaling_cli_writes_consistent_results(tmp_path):
    cfg = _write_config(tmp_path)
    out = tmp_path / "out"
    rc = main(["scaling", str(cfg), "--N", "200,3200", "--seeds", "0:3", "--out", str(out),
               "--tol", "0.05", "--no-progress"])
    assert rc == 0
    summary = json.loads((out / "scaling.json").read_text())
    assert (out / "scaling.png").stat().st_size > 0
    for key in ("N", "vs_limit_median", "vs_closure_median", "slope_vs_limit", "slope_ci",
                "closure_error", "n_for_tol", "quadrature_error"):
        assert key in summary
    assert summary["N"] == [200, 3200] and summary["seeds"] == [0, 1, 2]
    np.testing.assert_allclose(summary["vs_limit_median"],
                               np.median(summary["vs_limit"], axis=1), rtol=1e-12)
    below = [n for n, v in zip(summary["N"], summary["vs_limit_median"]) if v < 0.05]
    assert summary["n_for_tol"] == (min(below) if below else None)
    # Independent recomputation of one entry: θ-space by train_theta (optax, full network)
    # from the same rows, against the limit from learn_limit.
    config = of.load_config(cfg)
    spec = config.network
    sigma0 = np.eye(spec.P)
    X0 = of.sample_nodes(sigma0, spec, 200, seed=1).X0
    theta = of.train_theta(X0, config.task, spec.with_N(200), loss="masked_mean", eta=0.2,
                           epochs=3)
    lim = of.learn_limit(sigma0, config.task, spec, loss="masked_mean", eta=0.2, epochs=3,
                         nodes=5, check=False)
    clo = of.learn_overlaps(sigma0, config.task, spec, loss="masked_mean", eta=0.2, epochs=3)
    assert summary["vs_limit"][0][1] == pytest.approx(
        np.max(np.abs(theta.loss / lim.loss - 1)), rel=1e-8)
    assert summary["closure_error"] == pytest.approx(
        np.max(np.abs(clo.loss / lim.loss - 1)), rel=1e-8)
    assert summary["closure_error"] > 0
    assert summary["vs_limit_median"][1] < summary["vs_limit_median"][0]
    np.testing.assert_allclose(summary["closure_error_by_epoch"],
                               np.abs(clo.loss / lim.loss - 1), rtol=1e-8, atol=1e-15)
    with np.load(out / "curves.npz", allow_pickle=False) as curves:
        np.testing.assert_allclose(curves["loss_limit"], lim.loss, rtol=1e-10)
        assert curves["loss_theta"].shape == (2, 3, 4)


def test_scaling_cli_rejects_bad_sizes(tmp_path, capsys):
    cfg = _write_config(tmp_path)
    assert main(["scaling", str(cfg), "--N", "10,abc", "--out", str(tmp_path / "o")]) == 2
    assert "--N" in capsys.readouterr().err
