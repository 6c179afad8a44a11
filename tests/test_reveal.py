"""reveal: initial overlaps from observed learning (docs/theory.md §10).

References: θ-space gradient descent of the full network (`train_theta`, autodiff) for the
forward model and the symmetries; the project's own overlap learner (`learn_overlaps`, closed
forms and adjoints, not the autodiff path of the model) and `effective_outputs` for the
synthetic observations; finite differences for the Jacobian; the closed-form impulse response
of a rank-1 linear network for what the untrained outputs fix.
"""

import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of
from overlapflow import RevealSettings, check_observations, observation_model, reveal
from overlapflow.cli import main
from overlapflow.internal import (
    candidate_symmetries,
    confirmed_symmetries,
    coords_from_sym,
    describe_direction,
    fisher_information,
    identifiability,
    random_start,
    sym_from_coords,
    write_json_atomic,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIG1 = ROOT / "examples" / "fig1.toml"
NAMES = ("mm", "mu", "vm", "zm", "uu", "vu", "zu", "vv", "zv", "zz")
CROSS = {"mu", "vm", "zm", "vu", "zu", "zv"}  # the overlaps between {m, z} and {u, v} or m–z


def _fig1():
    cfg = of.load_config(FIG1)
    return cfg.network, cfg.task


def _short(phi="linear", t_max=5.0):
    spec = of.NetworkSpec(N=60, rank=1, phi=phi, dt=0.05)
    task = of.make_task("impulse_exp", dt=0.05, t_max=t_max, n_in=1, n_out=1, decay=0.2)
    return spec, task


def _observations(sigma0, spec, task, epochs, kind, eta):
    """Synthetic observations from the project's overlap learner (not the reveal model)."""
    run = of.learn_overlaps(sigma0, task, spec, mode="exact", eta=eta, epochs=int(epochs[-1]))
    if kind == "loss":
        return np.asarray(run.loss)[epochs]
    x = of.batch_for_epoch(task, 0, 0).x
    return np.stack([np.asarray(of.effective_outputs(run.sigma[e], x, spec)) for e in epochs])


# -- bad input -------------------------------------------------------------------------------


def _good(spec, task):
    return {"epochs": np.array([0, 3, 7]),
            "outputs": np.zeros((3,) + tuple(of.batch_for_epoch(task, 0, 0).y.shape))}


@pytest.mark.parametrize("change, needle", [
    (lambda d: d.pop("epochs"), "missing array 'epochs'"),
    (lambda d: d.update(loss=np.zeros(3)), "exactly one of 'loss'"),
    (lambda d: d.pop("outputs"), "got neither"),
    (lambda d: d.update(epochs=np.array([0, 7, 3])), "strictly increasing"),
    (lambda d: d.update(epochs=np.array([0, 3, 3])), "strictly increasing"),
    (lambda d: d.update(epochs=np.array([0, 1.5, 3])), "integers"),
    (lambda d: d.update(epochs=np.array([-1, 3, 7])), "integers"),
    (lambda d: d.update(outputs=np.zeros((2, 1, 100, 1))), "must have shape (3, 1, 100, 1)"),
    (lambda d: d["outputs"].__setitem__((1, 0, 5, 0), np.nan), "NaN or inf"),
    (lambda d: d.update(sd=np.array(-1.0)), "sd must be > 0"),
    (lambda d: d.update(sd=np.ones(4)), "sd must be a scalar or have the shape"),
    (lambda d: d.update(extra=np.ones(3)), "unknown array(s) extra"),
    (lambda d: d.update(outputs=np.array(["a"] * 3)), "numeric"),
    (lambda d: d.update(probe_x=np.zeros((1, 100, 2))), "probe_x must have shape"),
])
def test_bad_observations_are_one_line_config_errors(change, needle):
    spec, task = _short()
    data = _good(spec, task)
    check_observations(dict(data), spec, task, 0)  # the unchanged data are accepted
    change(data)
    with pytest.raises(of.ConfigError) as err:
        check_observations(data, spec, task, 0)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_loss_observations_refuse_a_probe_input():
    spec, task = _short()
    with pytest.raises(of.ConfigError, match="probe_x belongs to 'outputs'"):
        check_observations({"epochs": np.arange(3), "loss": np.ones(3),
                            "probe_x": np.zeros((1, 100, 1))}, spec, task, 0)


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "obs.npz"
    np.savez(bad, epochs=np.array([0, 5, 3]), loss=np.ones(3))
    out = tmp_path / "out"
    assert main(["reveal", str(FIG1), "--observed", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("overlapflow: error: observations: epochs must be strictly increasing")
    assert len(err.splitlines()) == 1 and not out.exists()
    # plain GD only: weight decay is refused before anything is written
    cfg = tmp_path / "decay.toml"
    cfg.write_text(FIG1.read_text().replace('modes = ["theta", "exact", "flow", "euler", "direct"]',
                                            'modes = ["exact"]\nweight_decay = 0.01'))
    good = tmp_path / "good.npz"
    np.savez(good, epochs=np.array([0, 5]), loss=np.ones(2))
    assert main(["reveal", str(cfg), "--observed", str(good), "--out", str(out)]) == 2
    assert "plain gradient descent" in capsys.readouterr().err and not out.exists()
    # a truth that is not PSD
    truth = tmp_path / "truth.npy"
    np.save(truth, -np.eye(4))
    assert main(["reveal", str(FIG1), "--observed", str(good), "--out", str(out),
                 "--truth", str(truth)]) == 2
    assert "--truth is not positive semi-definite" in capsys.readouterr().err
    assert not out.exists()


SHORT = """\
[network]
N = 60
rank = 1
phi = "linear"
dt = 0.05
[task]
kind = "impulse_exp"
t_max = 5.0
decay = 0.2
[train]
eta = 0.02
epochs = {epochs}
modes = ["exact"]
"""


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_check_observations_refuses_epochs_beyond_the_run_and_negative_losses():
    spec, task = _short()
    ok = check_observations({"epochs": np.array([0, 30]), "loss": np.array([1.0, 0.0])}, spec,
                            task, 0, max_epoch=30)  # epoch 30: the state after the last update
    assert ok.epochs.tolist() == [0, 30]
    with pytest.raises(of.ConfigError) as err:
        check_observations({"epochs": np.array([0, 31]), "loss": np.ones(2)}, spec, task, 0,
                           max_epoch=30)
    assert "epoch 31 is beyond the run of the config ([train] epochs = 30" in str(err.value)
    with pytest.raises(of.ConfigError) as err:
        check_observations({"epochs": np.array([0, 3, 9]), "loss": np.array([1.0, -1e-3, 0.5])},
                           spec, task, 0)
    assert str(err.value) == ("observations: loss must be ≥ 0 (a sum of squared errors), got "
                              "-0.001 at epoch 3")


@pytest.mark.parametrize("arrays, needle", [
    ({"epochs": np.array([0, 5, 41]), "loss": np.ones(3)},
     "observations: epoch 41 is beyond the run of the config ([train] epochs = 40"),
    ({"epochs": np.array([-2, 5, 7]), "loss": np.ones(3)},
     "observations: epochs must be integers in [0, "),
    ({"epochs": np.array([0, 5, 7]), "loss": np.array([1.0, -0.5, 0.1])},
     "observations: loss must be ≥ 0 (a sum of squared errors), got -0.5 at epoch 5"),
    ({"epochs": np.array([0, 5, 7]), "loss": np.array([1.0, np.nan, 0.1])},
     "observations: loss contains NaN or inf"),
    ({"epochs": np.array([0, 5, 7]), "loss": np.array([1.0, np.inf, 0.1])},
     "observations: loss contains NaN or inf"),
    ({"epochs": np.array([0, 5, 7]), "loss": np.ones(3), "sd": np.array(np.nan)},
     "observations: sd contains NaN or inf"),
])
def test_cli_refuses_bad_observations_in_one_line_and_leaves_no_folder(tmp_path, capsys, arrays,
                                                                       needle):
    cfg = tmp_path / "short.toml"
    cfg.write_text(SHORT.format(epochs=40))
    obs = tmp_path / "obs.npz"
    np.savez(obs, **arrays)
    out = tmp_path / "deep" / "out"
    assert main(["reveal", str(cfg), "--observed", str(obs), "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("overlapflow: error: " + needle), line
    assert not (tmp_path / "deep").exists()


@pytest.mark.parametrize("option", ["--observed", "--truth"])
@pytest.mark.parametrize("damage, needle", [
    (lambda b: b"", "is empty (0 bytes)"),
    (lambda b: b[: len(b) // 2], "is truncated or corrupt"),
])
def test_cli_refuses_empty_or_truncated_files_in_one_line(tmp_path, capsys, option, damage,
                                                          needle):
    cfg = tmp_path / "short.toml"
    cfg.write_text(SHORT.format(epochs=40))
    good = tmp_path / "good.npz"
    np.savez(good, epochs=np.array([0, 5]), loss=np.ones(2))
    truth = tmp_path / "truth.npy"
    np.save(truth, np.eye(4))
    bad = tmp_path / ("bad.npz" if option == "--observed" else "bad.npy")
    bad.write_bytes(damage((good if option == "--observed" else truth).read_bytes()))
    args = {"--observed": good, "--truth": truth, option: bad}
    out = tmp_path / "out"
    assert main(["reveal", str(cfg), "--observed", str(args["--observed"]), "--out", str(out),
                 "--truth", str(args["--truth"])]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"overlapflow: error: {option} file {str(bad)!r} {needle}"), line
    assert not out.exists()


# -- words for directions ----------------------------------------------------------------------


def test_directions_are_described_in_words():
    values = np.array([1.0, 0.3, 0.5, 0.9, 1.2, -0.4, 2.0, 0.8, 0.1, 1.1])
    vm, zu, mm, uu = 2, 6, 0, 4

    def vec(pairs):
        v = np.zeros(10)
        for i, c in pairs:
            v[i] = c
        return v

    # σ_vm·σ_zu constant: dσ_zu/dσ_vm = −σ_zu/σ_vm
    prod = describe_direction(vec([(vm, 1.0), (zu, -values[zu] / values[vm])]), NAMES, values)
    assert prod["text"] == "only the product σ_vm·σ_zu is fixed"
    ratio = describe_direction(vec([(vm, 1.0), (zu, values[zu] / values[vm])]), NAMES, values)
    assert ratio["text"] == "only the ratio σ_vm/σ_zu is fixed"
    assert describe_direction(vec([(mm, 1.0), (uu, -1.0)]), NAMES, values)["text"] == \
        "only the sum σ_mm + σ_uu is fixed"
    assert describe_direction(vec([(mm, 1.0), (uu, 1.0)]), NAMES, values)["text"] == \
        "only the difference σ_mm − σ_uu is fixed"
    assert describe_direction(vec([(uu, 2.0)]), NAMES, values)["text"] == "σ_uu is not fixed"
    three = describe_direction(vec([(mm, 1.0), (uu, 1.0), (zu, -0.5)]), NAMES, values)
    assert three["overlaps"] == {"mm": 1.0, "uu": 1.0, "zu": -0.5}
    assert "σ_mm, σ_uu, σ_zu" in three["text"]


# -- the forward model against θ-space gradient descent ----------------------------------------


def test_model_equals_theta_space_gd():
    """The observations of the reveal model are those of the full network trained by GD."""
    spec, task = _short(t_max=3.0)
    X0 = of.random_vectors(spec, seed=3)
    eta, epochs = 0.02, np.array([0, 4, 11, 20])
    theta = of.train_theta(X0, task, spec, eta=eta, epochs=int(epochs[-1]))
    x = of.batch_for_epoch(task, 0, 0).x
    # linear: the outputs of the network are those of its overlaps Σ_e, exactly
    wants = {"loss": np.asarray(theta.loss)[epochs][:, None],
             "outputs": np.stack([np.asarray(of.effective_outputs(theta.sigma[e], x, spec)).ravel()
                                  for e in epochs])}
    for kind, want in wants.items():
        f = jax.jit(observation_model(spec, task, loss_kind="sum_dt", eta=eta, seed=0,
                                      epochs=epochs, kind=kind, probe_x=x))
        np.testing.assert_allclose(np.asarray(f(of.overlaps(X0))), want, rtol=1e-9, atol=1e-12)
        # the first rows alone (a continuation prefix) are the same numbers
        np.testing.assert_allclose(np.asarray(f(of.overlaps(X0), 2))[:2], want[:2], rtol=1e-9,
                                   atol=1e-12)


def test_fisher_jacobian_equals_finite_differences():
    spec, task = _short("erf")
    sigma0 = random_start(4, 11, 0)
    epochs = np.array([0, 6, 15])
    f = observation_model(spec, task, loss_kind="sum_dt", eta=0.02, seed=0, epochs=epochs,
                          kind="outputs", probe_x=of.batch_for_epoch(task, 0, 0).x)
    w = np.full((3, task.n_steps), 2.0)
    F, J = fisher_information(f, sigma0, w)
    fj = jax.jit(lambda c: f(sym_from_coords(c, 4)).ravel() * 2.0)
    c0 = coords_from_sym(jnp.asarray(sigma0))
    h = 1e-5
    fd = np.stack([(np.asarray(fj(c0 + h * e)) - np.asarray(fj(c0 - h * e))) / (2 * h)
                   for e in np.eye(10)], axis=1)
    assert np.max(np.abs(J - fd)) <= 1e-7 * np.max(np.abs(J))
    np.testing.assert_allclose(F, J.T @ J, rtol=1e-12)


# -- what the untrained outputs fix, and the exact symmetries ---------------------------------


def test_untrained_outputs_fix_only_zm_vu_and_the_product_zu_vm():
    """Epoch 0 only: y_t = σ_zm αᵗ + σ_zu σ_vm (dᵗ − αᵗ)/σ_vu (docs/theory.md §3.1)."""
    spec, task = _fig1()
    sigma0 = random_start(4, 7, 0)
    x = of.batch_for_epoch(task, 0, 0).x
    f = observation_model(spec, task, loss_kind="sum_dt", eta=5e-3, seed=0, epochs=[0],
                          kind="outputs", probe_x=x)
    _, J = fisher_information(f, sigma0, np.ones((1, task.n_steps)))
    # independent: the closed-form impulse response and its derivatives
    dt = spec.dt
    alpha, t = 1 - dt, np.arange(task.n_steps)  # readout t follows update t (§1.2)

    def closed(zm, vu, zu, vm):
        d = alpha + dt * vu
        return zm * alpha**t + zu * vm * (d**t - alpha**t) / vu

    s = {n: sigma0[of.overlap_index(spec, n)] for n in ("zm", "vu", "zu", "vm")}
    y_closed = closed(s["zm"], s["vu"], s["zu"], s["vm"])
    np.testing.assert_allclose(np.asarray(jax.jit(f)(sigma0))[0], y_closed, rtol=1e-9,
                               atol=1e-12)
    info = identifiability(J, NAMES)
    assert info["rank"] == 3
    assert {n for n, ok in zip(NAMES, info["identifiable"]) if ok} == {"zm", "vu"}
    texts = [describe_direction(v, NAMES, coords_from_sym(sigma0))["text"] for v in info["null"]]
    assert "only the product σ_vm·σ_zu is fixed" in texts
    for n in ("mm", "mu", "uu", "vv", "zv", "zz"):  # the invisible ones: no observation at all
        assert f"σ_{n} is not fixed" in texts
    # its standard errors are the Cramér–Rao bounds of the 3-parameter closed form
    sd = 1e-3
    Jc = np.stack([(closed(*[s[k] + h * (k == n) for k in ("zm", "vu", "zu", "vm")])
                    - closed(*[s[k] - h * (k == n) for k in ("zm", "vu", "zu", "vm")])) / (2 * h)
                   for n, h in [("zm", 1e-6), ("vu", 1e-6)]], axis=1)
    prod = (closed(s["zm"], s["vu"], s["zu"] * (1 + 1e-6), s["vm"])
            - closed(s["zm"], s["vu"], s["zu"] * (1 - 1e-6), s["vm"])) / (2e-6 * s["zu"] * s["vm"])
    A = np.column_stack([Jc, prod]) / sd  # columns: σ_zm, σ_vu, p = σ_zu σ_vm
    cov = np.linalg.inv(A.T @ A)
    se = identifiability(J / sd, NAMES)["stderr"]
    np.testing.assert_allclose(se[NAMES.index("zm")], math.sqrt(cov[0, 0]), rtol=1e-5)
    np.testing.assert_allclose(se[NAMES.index("vu")], math.sqrt(cov[1, 1]), rtol=1e-5)


@pytest.mark.parametrize("phi, expected", [("linear", {"sign_uv", "duality"}),
                                           ("erf", {"sign_uv"})])
def test_exact_symmetries_against_theta_space(phi, expected):
    """Confirmed symmetries map θ-space GD trajectories onto each other; rejected ones do not."""
    spec, task = _short(phi, t_max=3.0)
    sigma0 = random_start(4, 5, 1)
    eta, epochs = 0.02, np.array([0, 10, 20])
    x = of.batch_for_epoch(task, 0, 0).x
    f = jax.jit(observation_model(spec, task, loss_kind="sum_dt", eta=eta, seed=0,
                                  epochs=epochs, kind="outputs", probe_x=x))
    assert {s["name"] for s in confirmed_symmetries(spec, f, sigma0)} == expected
    X0 = np.asarray(of.realise_vectors(sigma0, spec.N, seed=0))
    ref = of.train_theta(X0, task, spec, eta=eta, epochs=20)
    y_ref = np.asarray(of.network_outputs(ref.state[0], x, spec))
    assert {name for name, _, _ in candidate_symmetries(spec)} == {"sign_uv", "duality"}
    for name, _, A in candidate_symmetries(spec):
        run = of.train_theta(X0 @ A, task, spec, eta=eta, epochs=20)  # the vectors of AᵀΣ₀A
        y = np.asarray(of.network_outputs(run.state[0], x, spec))  # the trained network
        if name in expected:
            np.testing.assert_allclose(np.asarray(run.sigma),
                                       np.einsum("ji,ejk,kl->eil", A, np.asarray(ref.sigma), A),
                                       atol=1e-10)
            np.testing.assert_allclose(y, y_ref, atol=1e-10)
        else:  # erf: the gain reads σ_mm, σ_uu, which the duality exchanges with σ_zz, σ_vv
            assert np.max(np.abs(y - y_ref)) > 1e-3


# -- recovery, identifiability, coverage (slow: whole fits and many Jacobians) ---------------


def test_cli_reveals_figure1_network_from_noise_free_outputs(tmp_path, capsys):
    """Rank-1 linear Figure 1, a random PSD Σ₀, outputs at 20 epochs over the first 500."""
    spec, task = _fig1()
    truth = random_start(4, 7, 0)
    epochs = np.arange(0, 500, 25)
    np.savez(tmp_path / "obs.npz", epochs=epochs,
             outputs=_observations(truth, spec, task, epochs, "outputs", 5e-3))
    np.save(tmp_path / "truth.npy", truth)
    out = tmp_path / "out"
    assert main(["reveal", str(FIG1), "--observed", str(tmp_path / "obs.npz"), "--out", str(out),
                 "--truth", str(tmp_path / "truth.npy")]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["reveal.json", "reveal.png"]
    assert (out / "reveal.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rep = json.loads((out / "reveal.json").read_text())
    assert rep["names"] == ["m", "u", "v", "z"] and rep["overlap_names"] == list(NAMES)
    assert rep["fisher_rank"] == 10 and all(rep["locally_identifiable"].values())
    # the outputs of a single-input single-output linear network are those of its dual
    # (m ↔ z, u ↔ v) too: only σ_zm and σ_vu, which no exact symmetry changes, are fixed
    # globally; the others only up to the duality and the sign of (u, v)
    assert {n for n, ok in rep["identifiable"].items() if ok} == {"zm", "vu"}
    dual = truth[np.ix_([3, 2, 1, 0], [3, 2, 1, 0])]
    for n in set(NAMES) - {"zm", "vu"}:
        assert "duality" in {e["symmetry"] for e in rep["determined_up_to"][n]}
    est = rep["truth"]["aligned_estimate"]  # the estimate's image closest to the truth
    np.testing.assert_allclose(np.asarray(est), truth, atol=1e-6 * np.max(np.abs(truth)))
    assert not np.allclose(dual, truth, atol=1e-3)
    # every locally identifiable overlap to 1e-6 of the truth (up to the exact symmetries)
    scale = float(np.max(np.abs(truth)))
    assert rep["truth"]["max_error_locally_identifiable"] <= 1e-6 * scale
    assert rep["truth"]["max_error_identifiable"] <= 1e-6 * scale
    assert {s["name"] for s in rep["symmetries"]} == {"sign_uv", "duality"}
    # in words: the two fixed outright, the eight others with their alternatives
    printed = capsys.readouterr().out.splitlines()
    fixed = next(line for line in printed if line.startswith("identifiable"))
    assert "σ_zm = " in fixed and "σ_vu = " in fixed and "σ_mu" not in fixed
    assert any(line.startswith("determined only up to exact symmetries") for line in printed)
    mu = rep["determined_up_to"]["mu"]
    line = next(line for line in printed if line.startswith("  σ_mu = "))
    for e in mu:
        assert f"{e['value']:.6g} ({e['symmetry']})" in line
    sign = next(s for s in rep["symmetries"] if s["name"] == "sign_uv")
    assert set(sign["changes"]) == {"mu", "vm", "zu", "zv"}
    # the weakest direction is the conserved-form shift (σ_mm + σ_uu − σ_vv − σ_zz)
    weak = rep["weak_directions"]
    assert len(weak) == 1 and "conserved form" in weak[0]["text"]
    assert set(weak[0]["overlaps"]) >= {"mm", "uu", "vv", "zz"}
    assert 1 <= len(rep["restarts"]) <= 8 and rep["sd_source"] == "estimated"
    assert set(rep["stderr"]) == set(NAMES)


def _jacobian(spec, task, sigma0, epochs, kind, eta=5e-3):
    f = observation_model(spec, task, loss_kind="sum_dt", eta=eta, seed=0, epochs=epochs,
                          kind=kind, probe_x=of.batch_for_epoch(task, 0, 0).x)
    m = 1 if kind == "loss" else task.n_steps
    return fisher_information(f, sigma0, np.ones((len(epochs), m)))[1]


def _identified(J, sd, scale):
    info = identifiability(J / sd, NAMES, max_sd=0.1 * scale)
    return {n for n, ok in zip(NAMES, info["identifiable"]) if ok}, info


def test_loss_curve_and_outputs_reveal_different_overlaps():
    """What the loss curve alone reveals against the outputs (rank-1 linear, Figure 1).

    Numbers found (Σ₀ = random_start(4, 7, 0), η = 5e-3; identified = Cramér–Rao standard
    error ≤ 0.1·√(mean σ_aa²)):
    - outputs at 20 epochs (0, 25, …, 475): Fisher rank 10; the weakest direction is the
      conserved-form shift (σ_mm + σ_uu − σ_vv − σ_zz), 2.6e-6 of the strongest; output noise
      sd 1e-4 identifies the 6 cross overlaps only, sd 1e-5 all 10;
    - (the loss at the same 20 epochs: rank 9, a tenth direction at 2.7e-9 < 1e-8, so no
      single overlap is identified at any noise; not asserted, being that close to the bound);
    - the loss at all 500 epochs: rank 10 (conserved-form shift at 8.6e-8); sd 1e-5 identifies
      the 6 cross overlaps (the invisible σ_mu, σ_zv included), sd 1e-6 all 10.
    """
    spec, task = _fig1()
    truth = random_start(4, 7, 0)
    scale = float(np.sqrt(np.mean(np.diag(truth) ** 2)))
    conserved = np.array([-0.5, 0, 0, 0, -0.5, 0, 0, 0.5, 0, 0.5])

    J = _jacobian(spec, task, truth, np.arange(0, 500, 25), "outputs")
    ident, info = _identified(J, 1e-4, scale)
    assert info["rank"] == 10 and ident == CROSS
    assert info["singular"][-1] / info["singular"][0] < 1e-5
    assert abs(abs(info["eigenvectors"][:, -1] @ conserved) - 1) < 1e-4
    assert _identified(J, 1e-5, scale)[0] == set(NAMES)

    J = _jacobian(spec, task, truth, np.arange(500), "loss")
    ident, info = _identified(J, 1e-5, scale)
    assert info["rank"] == 10 and ident == CROSS
    assert abs(abs(info["eigenvectors"][:, -1] @ conserved) - 1) < 1e-3
    assert _identified(J, 1e-6, scale)[0] == set(NAMES)


def test_95_percent_intervals_cover_the_truth():
    """Coverage of σ̂ ± 1.96·se over 100 noisy repetitions (Figure 1, outputs, sd 1e-5).

    The estimator is two Gauss–Newton steps from the truth (the model is smooth, so these
    reach the least-squares estimate; docs/theory.md §10): the first with the Jacobian at the
    truth, shared by all repetitions (one matrix product for all of them), the second with
    each repetition's own Jacobian — the compiled one `reveal` uses — whose Cramér–Rao errors
    are the se reported. The residuals of all repetitions are one `vmap` of the model.
    """
    spec, task = _fig1()
    truth = random_start(4, 7, 0)
    epochs, sd, reps = np.arange(0, 500, 25), 1e-5, 100
    f = observation_model(spec, task, loss_kind="sum_dt", eta=5e-3, seed=0, epochs=epochs,
                          kind="outputs", probe_x=of.batch_for_epoch(task, 0, 0).x)
    w = np.full((epochs.size, task.n_steps), 1.0 / sd)
    flat = jax.jit(jax.vmap(lambda c: f(sym_from_coords(c, 4)).ravel() / sd))
    c_true = np.asarray(coords_from_sym(truth))
    y = np.asarray(flat(c_true[None]))[0] + np.random.default_rng(0).standard_normal(
        (reps, epochs.size * task.n_steps))
    J0 = fisher_information(f, truth, w)[1]
    r0 = y - np.asarray(flat(c_true[None]))[0]
    c = c_true + r0 @ J0 @ identifiability(J0, NAMES)["covariance"]  # step 1, every repetition
    r = y - np.asarray(flat(jnp.asarray(c)))
    se = np.empty_like(c)
    for k in range(reps):
        Jk = fisher_information(f, np.asarray(sym_from_coords(jnp.asarray(c[k]), 4)), w)[1]
        info = identifiability(Jk, NAMES)
        c[k] += info["covariance"] @ (Jk.T @ r[k])
        se[k] = info["stderr"]
    covered = np.abs(c - c_true) <= 1.96 * se
    per_overlap = covered.mean(axis=0)
    assert 0.90 <= covered.mean() <= 0.99, per_overlap
    assert np.all(per_overlap >= 0.88), per_overlap


def test_reveal_erf_network_through_the_closure():
    """Rank-1 erf (Gaussian closure): noise-free outputs at 20 epochs of a short impulse task.

    The global search is exercised on the linear network; here the fit starts within 0.05 of
    the truth (one restart) and must reach it to 1e-9 of its scale (reached: 5e-15; from random
    starts the second restart reaches it too, 44 s, too slow for the suite).
    """
    spec, task = _short("erf", t_max=3.0)
    truth = random_start(4, 7, 2)
    epochs = np.arange(0, 100, 5)
    y = _observations(truth, spec, task, epochs, "outputs", 0.05)
    obs = check_observations({"epochs": epochs, "outputs": y}, spec, task, 0)
    bump = np.random.default_rng(1).standard_normal((4, 4)) * 0.03
    start = truth + bump + bump.T
    assert np.linalg.eigvalsh(start)[0] > 0
    res = reveal(spec, task, obs, loss_kind="sum_dt", eta=0.05, settings=RevealSettings(restarts=1),
                 starts=[start])
    assert res.info["rank"] == 10 and all(res.locally_identifiable.values())
    assert {s["name"] for s in res.symmetries} == {"sign_uv"}  # no duality for erf
    # the sign of (u, v) is a convention the observations cannot fix
    assert {n for n, ok in res.identifiable.items() if not ok} == {"mu", "vm", "zu", "zv"}
    assert res.weak_directions == [] and res.null_directions == []
    err = np.max(np.abs(res.aligned(truth) - truth))
    assert err <= 1e-9 * np.max(np.abs(truth)), err


# -- local is not global: exact symmetries of the observations ---------------------------------


def _dual(sigma):
    """Σ of the dual network, m ↔ z and u ↔ v: rows and columns [m u v z] → [z v u m]."""
    order = [3, 2, 1, 0]
    return np.asarray(sigma)[np.ix_(order, order)]


def _sign(sigma):
    """Σ of the network with u, v → −u, −v."""
    s = np.array([1.0, -1.0, -1.0, 1.0])
    return np.asarray(sigma) * np.outer(s, s)


def _values(sigma):
    return dict(zip(NAMES, np.asarray(sigma)[np.triu_indices(4)]))


@pytest.mark.slow
def test_loss_curve_fixes_what_the_duality_changes_only_up_to_the_duality(tmp_path):
    """A random rank-1 linear start seen through its loss curve; the fit returns the dual image.

    The dual network (m ↔ z, u ↔ v) has the same loss curve, exactly: the overlaps the
    duality changes are determined only up to it, whatever the Fisher information says
    locally, and the alternative reported is the other network's value.
    """
    spec, task = _short()
    truth = random_start(4, 7, 0)
    eta, epochs = 0.02, np.arange(60)
    y = _observations(truth, spec, task, epochs, "loss", eta)
    # independent of reveal: the dual network and the sign-flipped one learn with the same loss
    for other in (_dual(truth), _sign(truth)):
        np.testing.assert_allclose(_observations(other, spec, task, epochs, "loss", eta), y,
                                   rtol=1e-10)
    obs = check_observations({"epochs": epochs, "loss": y}, spec, task, 0)
    res = reveal(spec, task, obs, loss_kind="sum_dt", eta=eta,
                 settings=RevealSettings(restarts=1), starts=[_dual(truth)])
    scale = float(np.max(np.abs(truth)))
    assert res.fit_loss <= 1e-20 * 0.5 * float(np.sum(y**2))  # an exact fit
    # the estimate is the dual network (or its sign image: the same network)
    image = min((_dual(truth), _sign(_dual(truth))), key=lambda s: np.max(np.abs(s - res.sigma0)))
    assert np.max(np.abs(image - res.sigma0)) <= 1e-8 * scale
    est, true, other = _values(res.sigma0), _values(truth), _values(_dual(image))
    changed = {n for n in NAMES if abs(true[n] - _values(_dual(truth))[n]) > 1e-6}
    assert changed == {"mm", "uu", "vv", "zz", "mu", "vm", "zu", "zv"}
    assert {s["name"] for s in res.symmetries} == {"sign_uv", "duality"}
    assert all(res.locally_identifiable.values())  # locally, every overlap is pinned down …
    for n in NAMES:
        entries = res.determined_up_to[n]
        if n in changed:  # … but globally not: the dual network fits exactly as well
            assert not res.identifiable[n]
            dual_value = [e["value"] for e in entries if e["symmetry"] == "duality"]
            assert len(dual_value) == 1
            assert abs(dual_value[0] - other[n]) <= 1e-8 * scale, (n, dual_value, other[n])
        else:
            assert entries == [] and res.identifiable[n], (n, entries)
            assert abs(est[n] - true[n]) <= 1e-8 * scale
            assert res.stderr[n] is not None
    flipped = {n for n in NAMES if any(e["symmetry"] == "sign_uv"
                                       for e in res.determined_up_to[n])}
    assert flipped == {"mu", "vm", "zu", "zv"}
    for n in flipped:
        value = next(e["value"] for e in res.determined_up_to[n] if e["symmetry"] == "sign_uv")
        assert abs(value + est[n]) <= 1e-12 * scale
    # the alternative network, assembled here, fits the observations as well as the estimate
    np.testing.assert_allclose(_observations(_dual(image), spec, task, epochs, "loss", eta), y,
                               rtol=1e-9)
    write_json_atomic(tmp_path / "reveal.json", of.reveal_summary(res, truth=truth))
    rep = json.loads((tmp_path / "reveal.json").read_text())
    assert rep["identifiable"] == {n: n not in changed for n in NAMES}
    assert rep["locally_identifiable"] == {n: True for n in NAMES}
    assert rep["determined_up_to"]["zm"] == [] and rep["determined_up_to"]["vu"] == []
    assert {e["symmetry"] for e in rep["determined_up_to"]["mu"]} == {
        "sign_uv", "duality", "sign_uv+duality"}
    assert rep["truth"]["max_error_identifiable"] <= 1e-8 * scale  # σ_zm, σ_vu
    assert rep["truth"]["max_error_locally_identifiable"] <= 1e-8 * scale  # aligned image
    assert "not assessed" not in json.dumps(rep) and rep["interrupted"] is False


@pytest.mark.slow
def test_loss_curve_of_an_erf_network_has_no_duality_to_hide_behind():
    """erf breaks the duality (the gain reads σ_mm, σ_uu): the self-overlaps are identifiable,
    and only the sign of (u, v) is left, on σ_mu, σ_vm, σ_zu, σ_zv."""
    spec, task = _short("erf", t_max=3.0)
    truth = random_start(4, 7, 0)
    eta, epochs = 0.02, np.arange(60)
    y = _observations(truth, spec, task, epochs, "loss", eta)
    assert np.max(np.abs(_observations(_dual(truth), spec, task, epochs, "loss", eta) - y)) \
        > 1e-6 * np.max(y)
    obs = check_observations({"epochs": epochs, "loss": y}, spec, task, 0)
    res = reveal(spec, task, obs, loss_kind="sum_dt", eta=eta,
                 settings=RevealSettings(restarts=1), starts=[truth])
    assert {s["name"] for s in res.symmetries} == {"sign_uv"}
    assert all(res.locally_identifiable.values())
    sign = {"mu", "vm", "zu", "zv"}
    assert {n for n, ok in res.identifiable.items() if ok} == set(NAMES) - sign
    est = _values(res.sigma0)
    for n in NAMES:
        entries = res.determined_up_to[n]
        if n in sign:
            assert [e["symmetry"] for e in entries] == ["sign_uv"]
            assert abs(entries[0]["value"] + est[n]) <= 1e-12
        else:
            assert entries == []


# -- Ctrl-C ------------------------------------------------------------------------------------


def _spawn_reveal(args):
    return subprocess.Popen([sys.executable, "-m", "overlapflow", "reveal", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))


def _noisy_loss_file(tmp_path):
    spec, task = _short()
    truth = random_start(4, 7, 0)
    epochs = np.arange(60)
    y = _observations(truth, spec, task, epochs, "loss", 0.02)
    y = np.abs(y + 1e-4 * np.random.default_rng(0).standard_normal(y.shape))
    cfg = tmp_path / "short.toml"
    cfg.write_text(SHORT.format(epochs=60))
    obs = tmp_path / "obs.npz"
    np.savez(obs, epochs=epochs, loss=y, sd=np.array(1e-4))
    return cfg, obs


@pytest.mark.slow
def test_ctrl_c_before_anything_is_fitted_leaves_nothing(tmp_path):
    cfg, obs = _noisy_loss_file(tmp_path)
    out = tmp_path / "new" / "out"
    proc = _spawn_reveal([cfg, "--observed", obs, "--out", out])
    start = time.monotonic()
    while not out.is_dir():  # the inputs are checked; the model is being compiled
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - start < 180
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130
    assert _one_line(err) == "overlapflow: interrupted; no result files were written or changed"
    assert not (tmp_path / "new").exists()  # the folders this run created are gone again


@pytest.mark.slow
def test_ctrl_c_after_a_restart_keeps_the_best_fit_so_far(tmp_path):
    cfg, obs = _noisy_loss_file(tmp_path)
    out = tmp_path / "out"
    proc = _spawn_reveal([cfg, "--observed", obs, "--out", out, "--restarts", "8"])
    lines = []
    for line in proc.stderr:  # one progress line per finished restart
        lines.append(line)
        if line.startswith("reveal: restart 1 of at most 8 finished"):
            proc.send_signal(signal.SIGINT)
            break
    else:
        pytest.fail(f"no progress line: {''.join(lines)}{proc.communicate()}")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    line = _one_line(err)
    assert line.startswith("overlapflow: reveal interrupted after "), line
    assert f"{out}/reveal.json holds that fit" in line and line.endswith("marked interrupted")
    assert sorted(p.name for p in out.iterdir()) == ["reveal.json"]
    rep = json.loads((out / "reveal.json").read_text())
    assert rep["interrupted"] is True and rep["assessed"] is False
    assert rep["restarts_completed"] >= 1 and rep["iterations"] > 0
    finished = [r for r in rep["restarts"] if not r["interrupted"]]
    assert finished[0]["restart"] == 0 and finished[0]["polished"] is True
    assert rep["fit_loss"] == min(r["fit_loss"] for r in rep["restarts"])
    sigma = np.asarray(rep["sigma0"])
    assert sigma.shape == (4, 4) and np.linalg.eigvalsh(sigma)[0] > -1e-12
    assert "identifiable" not in rep and "not assessed" in rep["note"]
    assert rep["overlap_names"] == list(NAMES) and rep["provenance"]["argv"][1] == "reveal"
