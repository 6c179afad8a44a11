"""The forgetting experiment (`overlapflow run forgetting`, docs/theory.md §9.12): learning rules
and the history kept by the invisible overlaps. Its protocol loop is checked against θ-space
training of the full network, its retained fraction against the memory experiment's, and its
decay-rate prediction against a rate recomputed here from the saved overlaps."""

import json

import numpy as np
import pytest

from overlapflow import ConfigError, LearningRule, NetworkSpec, linearise_exact_map, train_theta
from overlapflow.cli import main
from overlapflow.experiments import get_experiment, impulse_task, resolve_params, run_experiment
from overlapflow.experiments import memory as memory_exp
from overlapflow.experiments.forgetting import (
    build_rules,
    fit_rate,
    late_window,
    run_protocol,
)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("forgetting")
    summary = run_experiment("forgetting", out, quick=True, progress=False)
    with np.load(out / "forgetting" / "results.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return summary, arrays


def _sigma(distinct, rows, cols, P):
    S = np.zeros((P, P))
    S[rows, cols] = distinct
    S[cols, rows] = distinct
    return S


def test_quick_checks_pass_and_weight_decay_rate_matches_the_linearisation(quick):
    summary, a = quick
    assert summary["all_passed"], [c["name"] for c in summary["checks"] if not c["passed"]]
    assert len(summary["checks"]) >= 3
    assert set(summary["figures"]) == {"forgetting.png", "forgetting_rates.png"}
    keys = list(a["rule_keys"])
    vis = a["visible"].astype(bool)
    # retained, recomputed from the saved overlaps with memory's definition
    trace = np.abs(a["sigma_hist"] - a["sigma_ctrl"])[:, :, ~vis].max(axis=2)
    np.testing.assert_allclose(trace, a["trace"], rtol=0, atol=0)
    for k, key in enumerate(keys):
        assert summary["info"]["table"][key]["retained"] == pytest.approx(
            trace[-1, k] / trace[:, k].max(), rel=1e-12)
    # the weight-decay run: a two-point rate over the fit window against the slowest mode of
    # the linearised exact map at the final Σ, recomputed here (tolerance 10%)
    k = keys.index("decay_0.3")
    t_w, t_e = (int(v) for v in a["window"][k])
    assert t_e - t_w >= 100
    measured = np.log(trace[t_w, k] / trace[t_e - 1, k]) / (t_e - 1 - t_w)
    p = summary["params"]
    spec = NetworkSpec(N=p["N"], rank=1, phi="linear", dt=p["dt"])
    sigma_end = _sigma(a["sigma_hist"][-1, k], a["rows"], a["cols"], spec.P)
    task_a = impulse_task("impulse_exp", dt=p["dt"], t_max=p["t_max"], decay=p["decays"][-1])
    lin = linearise_exact_map(sigma_end, task_a, spec, rule=LearningRule(weight_decay=0.3),
                              eta=p["eta"] * p["eta_factors"][-1])
    w, V = np.linalg.eig(lin.jacobian)
    weight = np.linalg.norm(V[lin.invisible], axis=0) / np.linalg.norm(V, axis=0)
    predicted = np.min(-np.log(np.abs(w[weight >= 0.1])))
    assert abs(measured - predicted) / predicted < 0.1
    assert a["rate_predicted"][k] == pytest.approx(predicted, rel=1e-9)
    # plain GD keeps the history: its trace changes by < 1e-9 across its window
    g = keys.index("gd")
    t_w, t_e = (int(v) for v in a["window"][g])
    assert abs(trace[t_e - 1, g] / trace[t_w, g] - 1.0) < 1e-9
    assert trace[-1, g] > 1e-4


def test_fit_rate_and_late_window_on_a_known_exponential():
    t = np.arange(400.0)
    trace = 0.3 * np.exp(-0.02 * t) + 1e-3 * np.exp(-0.5 * t)
    rate, resid = fit_rate(trace, 200, 400)
    assert rate == pytest.approx(0.02, rel=1e-9) and resid < 1e-9
    assert np.isnan(fit_rate(np.zeros(10), 0, 10)[0])
    # the loss changes by 5% per epoch for 100 epochs, then by 1e-6 of itself
    loss = np.concatenate([np.exp(-0.05 * np.arange(100)),
                           np.exp(-5.0) * (1 + 1e-6 * np.arange(300))])
    t_s, t_w, t_e = late_window(loss, trace, 0)
    assert t_s == 100 and t_e == 400 and t_w == (t_s + t_e) // 2
    floor = np.where(t < 300, 1.0, 0.0)  # the trace reaches 0: the window ends there
    assert late_window(loss, floor, 0)[2] == 300


def test_protocol_loop_equals_theta_space_training_under_decay_and_momentum():
    """run_protocol (exact maps of the rules, history and control) against θ-space training of
    the N-dimensional network with each rule's optax chain, phase by phase (a fresh optimiser
    each phase), float64: max |ΔΣ| ≤ 1e-10·max|Σ|."""
    spec = NetworkSpec(N=16, rank=1, phi="linear", dt=0.1)
    params = dict(memory_exp.DEFAULTS, N=16, start="fig1")
    X0, sigma0 = memory_exp.start_vectors(params, spec, seed=3)
    task_a, task_b = (impulse_task("impulse_exp", dt=spec.dt, t_max=4.0, decay=c)
                      for c in (0.2, 0.4))
    rules = [LearningRule(weight_decay=0.2), LearningRule(optimizer="momentum", momentum=0.6)]
    plan = [(task_a, 25, 0.01), (task_b, 25, 0.01), (task_a, 25, 0.02)]
    run = run_protocol(rules, sigma0, spec, [(t, task_a, e, eta) for t, e, eta in plan], chunk=16)
    for k, rule in enumerate(rules):
        for group in ("hist", "ctrl"):
            X, sig = X0, []
            for task, epochs, eta in plan:
                res = train_theta(X, task if group == "hist" else task_a, spec, rule=rule,
                                  eta=eta, epochs=epochs)
                X = res.state[0]
                sig.append(res.sigma[:-1])
            sig = np.concatenate(sig + [res.sigma[-1:]])
            ours = run[f"sigma_{group}"][:, k]
            assert ours.shape == sig.shape
            assert np.max(np.abs(ours - sig)) <= 1e-10 * np.max(np.abs(sig))
    assert np.max(np.abs(run["sigma_hist"] - run["sigma_ctrl"])) > 1e-3  # B left a trace


def test_plain_gd_retained_is_memory_small_step_gd():
    """The same protocol, start and step as memory's gd_small variant: the same retained
    fraction (memory runs the closed-form loss, forgetting the stepped adjoint: 1e-8)."""
    short = dict(N=32, phase_epochs=[300, 100, 100, 100, 600])
    mem = memory_exp.compute(resolve_params(get_experiment("memory"),
                                            overrides=dict(short, variants=["gd_small"])),
                             seed=0, progress=False)
    forget = get_experiment("forgetting").compute(
        resolve_params(get_experiment("forgetting"), overrides=dict(short, rules=["gd"])),
        seed=0, progress=False)
    ours = forget.info["table"]["gd"]["retained"]
    assert ours == pytest.approx(mem.info["retained"]["gd_small"], rel=1e-8, abs=1e-12)
    np.testing.assert_allclose(forget.arrays["trace"][:, 0], mem.arrays["trace_inv_gd_small"],
                               rtol=0, atol=1e-9)


def test_bad_rules_are_one_line_config_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="rules must be among"):
        build_rules(dict(rules=["adam"], momenta=[0.5], weight_decays=[0.1],
                         temperatures=[1e-3]))
    with pytest.raises(ConfigError, match="momenta must be in"):
        build_rules(dict(rules=["momentum"], momenta=[1.5], weight_decays=[0.1],
                         temperatures=[1e-3]))
    with pytest.raises(ConfigError, match="listed twice"):
        build_rules(dict(rules=["decay"], momenta=[0.5], weight_decays=[0.1, 0.1],
                         temperatures=[1e-3]))
    code = main(["run", "forgetting", "--quick", "--out", str(tmp_path), "--no-progress",
                 "--set", "rules=gd,adam"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "adam" in err[0]
    assert not (tmp_path / "forgetting" / "summary.json").exists()


def test_summary_is_plain_json(quick):
    summary, _ = quick
    json.dumps(summary)  # every number a plain float, every array a list
    table = summary["info"]["table"]
    assert set(table) == {"gd", "decay_0.3"}
    assert table["gd"]["retained"] > table["decay_0.3"]["retained"]
