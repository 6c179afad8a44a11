"""The paper's experiments (`overlapflow run NAME --quick`): each runs, writes its files, and its
checks pass; checks are recomputed here from results.npz or against independent oracles."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of
from overlapflow.cli import main
from overlapflow.experiments import EXPERIMENT_NAMES, Check, impulse_task
from overlapflow.experiments.metric import pushforward_metric
from overlapflow.experiments.twins import PhaseRun, random_starts, run_phase, run_phases
from overlapflow.internal import exact_rel_diff

NAMES = ("fig1", "rank2", "degeneracy", "memory", "adam", "nonlinear", "optimizers", "twins",
         "metric", "forgetting", "reveal")


@pytest.fixture(scope="module")
def quick_all(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    code = main(["run", "all", "--out", str(out), "--quick", "--no-progress", "--starts", "6"])
    return out, code


def _summary(out, name):
    return json.loads((out / name / "summary.json").read_text())


def _arrays(out, name):
    with np.load(out / name / "results.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _check(summary, prefix):
    (c,) = [c for c in summary["checks"] if c["name"].startswith(prefix)]
    return c


def test_registry_has_every_experiment():
    assert EXPERIMENT_NAMES == NAMES


def test_run_help_names_every_experiment():
    import argparse

    from overlapflow.cli import build_parser

    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    listed = sub.choices["run"].description.split("Experiments:")[1]
    assert [n.strip(" .") for n in listed.split(",")] == list(EXPERIMENT_NAMES)


def test_run_all_quick_exits_zero_and_writes_index(quick_all):
    out, code = quick_all
    assert code == 0
    page = (out / "index.html").read_text()
    for name in NAMES:
        summary = _summary(out, name)
        assert summary["figures"], name
        for fig in summary["figures"]:
            png = out / name / fig
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert png.stat().st_size > 10_000
            assert f"src='{name}/{fig}'" in page
    assert "http" not in page  # offline: nothing fetched from a network


@pytest.mark.parametrize("name", NAMES)
def test_quick_experiment_checks_pass(quick_all, name):
    out, _ = quick_all
    summary = _summary(out, name)
    assert summary["params"]["quick"] is True
    assert summary["wall_time_s"] > 0
    assert summary["seeds"] and all(isinstance(v, int) for v in summary["seeds"].values())
    assert len(summary["checks"]) >= 3
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]
    assert not failed, failed
    for c in summary["checks"]:  # `passed` agrees with value, relation and threshold
        v, t = c["value"], c["threshold"]
        expect = {"<": v < t, ">": v > t, "=": v == t}[c["relation"]]
        assert c["passed"] == expect
    assert _arrays(out, name)  # plain arrays, loadable without pickle


def test_fig1_checks_recomputed_from_results(quick_all):
    out, _ = quick_all
    a, s = _arrays(out, "fig1"), _summary(out, "fig1")
    value = exact_rel_diff(a["loss_exact"], a["loss_theta"])
    assert value == pytest.approx(_check(s, "exact map vs θ: max relative")["value"], rel=1e-12)
    assert value < 1e-8  # the exact map is θ-space GD, to float64 rounding (docs/theory.md §4)
    # Invariant σ_zz + σ_vv − σ_mm − σ_uu of the flow: exact-map drift is O(η²) per step.
    d = np.diagonal(a["sigma_exact"], axis1=1, axis2=2)
    q = d[:, 2] + d[:, 3] - d[:, 0] - d[:, 1]
    assert np.max(np.abs(q - q[0])) < 1e-3


def test_degeneracy_twins_compute_the_same_function(quick_all):
    out, _ = quick_all
    a, s = _arrays(out, "degeneracy"), _summary(out, "degeneracy")
    y0, y1 = a["y_probe_0"], a["y_probe_1"]
    assert np.max(np.abs(y0 - y1)) / np.max(np.abs(y0)) < 1e-12
    # Oracle: the effective model from Σ alone gives the full networks' outputs (linear: exact).
    p = s["params"]
    spec = of.NetworkSpec(N=p["N"], rank=1, phi="linear", dt=p["dt"])
    for k, key in enumerate(("sigma_original", "sigma_twin")):
        sigma = jnp.asarray(s["info"][key])
        y_eff = np.asarray(of.effective_outputs(sigma, jnp.asarray(a["x_probe"]), spec))
        assert np.max(np.abs(y_eff - a[f"y_probe_{k}"])) < 1e-10 * np.max(np.abs(y0))
    # The twins differ only in invisible overlaps, by the paper's amounts.
    s0, s1 = np.array(s["info"]["sigma_original"]), np.array(s["info"]["sigma_twin"])
    assert s1[1, 1] == pytest.approx(32**2 / 500, abs=1e-12)
    assert s1[0, 1] == pytest.approx(0.8, abs=1e-12)
    vis = a["visible"]
    assert np.max(np.abs(s0 - s1)[a["rows"], a["cols"]][vis]) < 1e-12
    # Learning perturbation (paper Fig. 2): the N-dim outputs after `perturb_epochs` of GD are
    # those of Σ_θ at that epoch of the long run (oracle: the effective model), and they differ.
    n = s["info"]["perturb_epochs"]
    x1 = jnp.asarray(a["x_probe"][:1])
    for k in (0, 1):
        y_eff = np.asarray(of.effective_outputs(jnp.asarray(a[f"sigma_theta_{k}"][n]), x1, spec))
        assert np.max(np.abs(y_eff[0, :, 0] - a[f"y_learned_{k}"])) < 1e-10 * np.max(
            np.abs(y_eff))
    d = s["info"]["relative_output_difference"]
    y_l0, y_l1 = a["y_learned_0"], a["y_learned_1"]
    assert d["after_learning"] == pytest.approx(
        np.max(np.abs(y_l1 - y_l0)) / np.max(np.abs(y_l0)), rel=1e-12)
    # Noise perturbation: the same noise makes the twins differ (and a second realisation of
    # the same Σ as much); a twin sharing m, v, z with the original does not (linear φ).
    yn0 = a["y_noise_0"]
    assert np.max(np.abs(a["y_noise_1"] - yn0)) / np.max(np.abs(yn0)) > 0.05
    assert np.max(np.abs(a["y_noise_control"] - yn0)) / np.max(np.abs(yn0)) > 0.05
    assert np.max(np.abs(a["y_noise_frame"] - yn0)) / np.max(np.abs(yn0)) < 1e-10


def test_memory_first_phase_matches_independent_run(quick_all):
    out, _ = quick_all
    a, s = _arrays(out, "memory"), _summary(out, "memory")
    p = s["params"]
    bounds = a["bounds"]
    assert bounds[-1] == sum(p["phase_epochs"]) and len(a["loss_gd_small"]) == bounds[-1] + 1
    spec = of.NetworkSpec(N=p["N"], rank=1, phi="linear", dt=p["dt"])
    task = impulse_task("impulse_exp", dt=p["dt"], t_max=p["t_max"], decay=p["decays"][0])
    # The paper's memory run starts from the degeneracy twin of the Figure-1 start (docs/theory.md §7).
    assert p["start"] == "twin" and s["info"]["start"] == "twin"
    sigma_fig1 = of.overlaps(of.random_vectors(spec, seed=s["seeds"]["init"]))
    sigma0 = of.equivalent_twin(sigma_fig1, spec, {"uu": p["twin_uu"], "mu": p["twin_mu"]})
    np.testing.assert_allclose(a["sigma_gd_small"][0], sigma0, atol=1e-12)
    ref = of.learn_overlaps(sigma0, task, spec, mode="exact", eta=p["eta"],
                            epochs=int(bounds[1]))
    np.testing.assert_allclose(a["sigma_gd_small"][bounds[1]], ref.sigma[-1], atol=1e-12)
    # The retained-history number is what its definition says, from the stored traces.
    tr = a["trace_inv_gd_small"]
    assert s["info"]["retained"]["gd_small"] == pytest.approx(tr[-1] / tr.max(), rel=1e-12)


def test_twins_batched_runner_matches_learn_overlaps():
    spec = of.NetworkSpec(N=100, rank=1, phi="erf", dt=0.1)
    task = of.make_task("flip_flop", dt=0.1, t_max=10.0, n_in=1, n_out=1, batch_size=4,
                        wait_min=1.0, wait_max=2.0)
    starts = random_starts(2, seed=3, cross_sd=0.4, low=0.5, high=2.0)
    res = run_phase(PhaseRun(starts, task, "masked_mean", 0.05, 11, drop=5.0, below=-1.0), spec,
                    epochs=6, chunk=4, progress=False, desc="")
    assert not res.diverged.any()
    for k in range(2):
        ref = of.learn_overlaps(starts[k], task, spec, loss="masked_mean", mode="exact",
                                eta=0.05, epochs=6, seed=11)
        np.testing.assert_allclose(res.loss[k], ref.loss, rtol=1e-12)
        np.testing.assert_allclose(res.sigma[k], ref.sigma[-1], atol=1e-13)
        # the recorded trajectory: the start, every chunk end, the final state
        np.testing.assert_array_equal(res.trajectory_epochs, [0, 4, 6])
        np.testing.assert_allclose(res.trajectory[k, 1], ref.sigma[4], atol=1e-13)
        np.testing.assert_allclose(res.trajectory[k, -1], ref.sigma[-1], atol=1e-13)


def test_twins_groups_and_threads_do_not_change_the_numbers():
    # Lane groups spread over threads: the same runs as one group on one thread, bit for bit
    # up to the lanes' summation order (1e-13).
    spec = of.NetworkSpec(N=100, rank=1, phi="erf", dt=0.1)
    task = of.make_task("flip_flop", dt=0.1, t_max=6.0, n_in=1, n_out=1, batch_size=4,
                        wait_min=1.0, wait_max=2.0)
    starts = random_starts(5, seed=1, cross_sd=0.4, low=0.5, high=2.0)
    runs = [PhaseRun(starts, task, "mean_t_dt", 0.05, 3, drop=5.0, below=-1.0),
            PhaseRun(starts[:2], task, "masked_mean", 0.1, 4, drop=5.0, below=-1.0)]
    kw = dict(epochs=5, chunk=3, progress=False, desc="")
    one = run_phases(runs, spec, group=8, workers=1, **kw)
    many = run_phases(runs, spec, group=2, workers=2, **kw)
    for a, b in zip(one, many):
        np.testing.assert_allclose(b.loss, a.loss, rtol=1e-13)  # losses (S, E + 1)
        np.testing.assert_allclose(b.sigma, a.sigma, rtol=0, atol=1e-13)  # final Σ
        np.testing.assert_allclose(b.trajectory, a.trajectory, rtol=0, atol=1e-13)
        assert b.loss.shape == (a.sigma.shape[0], 6)


def test_twins_starts_are_psd_and_in_range():
    S = random_starts(20, seed=0, cross_sd=0.4, low=0.5, high=2.0)
    assert S.shape == (20, 4, 4)
    assert np.all(np.linalg.eigvalsh(S)[:, 0] > 0)
    d = np.diagonal(S, axis1=1, axis2=2)
    assert d.min() >= 0.5 and d.max() <= 2.0
    off = S[:, ~np.eye(4, dtype=bool)]
    assert off.min() >= 0


def test_metric_matches_closed_form_and_pushforward():
    P = 4
    A = jax.random.normal(jax.random.PRNGKey(5), (P + 1, P), jnp.float64)
    sigma = np.asarray(A.T @ A / (P + 1))
    G = of.metric(sigma, of.NetworkSpec(N=10, rank=1))
    rows, cols = np.triu_indices(P)
    # Closed form: dσ_ij/dt = −2η (SΣ + ΣS)_ij with S_aa = g_aa, S_ab = S_ba = g_ab / 2.
    ref = np.zeros_like(G)
    for c, (a, b) in enumerate(zip(rows, cols)):
        E = np.zeros((P, P))
        E[a, b] = E[b, a] = 1.0 if a == b else 0.5
        ref[:, c] = (2.0 * (E @ sigma + sigma @ E))[rows, cols]
    np.testing.assert_allclose(G, ref, atol=1e-13)
    X = of.realise_vectors(sigma, 40, seed=1)
    np.testing.assert_allclose(np.asarray(pushforward_metric(X)), G, atol=1e-11)




def cannot_fail(c: dict) -> str | None:
    """Why a check (a summary.json record) is true by construction, or None.

    The rule:
    - ">" with a threshold at or below the lowest value the quantity can take. A quantity
      that declares no `bounds` counts as non-negative (distances, fractions, accuracies,
      ratios of norms), so "> 0" on it cannot fail; a signed quantity says so with
      bounds = [null, ...].
    - "<" with a threshold at or above the highest value the quantity can take (declared).
    - A declared `null` (chance, a shuffled control, a zero output, the initial loss): the
      threshold must lie beyond it on the claim's side by at least 10 % of |null| (0.05 where
      null = 0). "=" claims of being *at* the null (decoding at chance) are exempt.
    - Decoding and learning claims ("decoding ...", "... accuracy", "X learned: ...", "loss
      falls") must declare their null: without it "accuracy > 0" or "MSE < 1" cannot be
      judged.
    """
    rel, t, null = c["relation"], c["threshold"], c.get("null")
    lo, hi = c["bounds"] if c.get("bounds") is not None else (0.0, None)
    name = c["name"].lower()
    claim = name.startswith("decoding") or any(w in name for w in ("accuracy", "learned:",
                                                                      "loss falls"))
    if claim and rel in "<>" and null is None:
        return "a decoding or learning claim without its null (chance, zero output, L₀)"
    if rel == ">" and lo is not None and t <= lo:
        return f"> {t:g} on a quantity that is ≥ {lo:g} by construction"
    if rel == "<" and hi is not None and t >= hi:
        return f"< {t:g} on a quantity that is ≤ {hi:g} by construction"
    if null is not None and rel in "<>":
        margin = 0.1 * abs(null) if null != 0 else 0.05
        beyond = t - null if rel == ">" else null - t
        if beyond < margin - 1e-12:
            return f"threshold {t:g} not beyond the null {null:g} by {margin:g}"
    return None


def test_the_cannot_fail_rule_catches_checks_that_cannot_fail():
    def rec(check):
        return check.as_dict()

    bad = [
        Check.above("decoding after C from the invisible overlaps", 0.56, 0.0, null=0.5,
                    bounds=(0.0, 1.0)),  # the reported one
        Check.above("decoding after C from the invisible overlaps", 0.56, 0.0),  # no null
        Check.above("decoding after A/B", 0.9, 0.52, null=0.5, bounds=(0.0, 1.0)),
        Check.below("phase A learned: median final masked MSE", 0.01, 1.0, null=1.0),
        Check.below("phase A learned: median final masked MSE", 0.01, 0.05),  # no null
        Check.above("invisible overlaps move: max |Δσ|", 0.3, 0.0),
        Check.below("fraction outside the span", 0.3, 1.0, bounds=(0.0, 1.0)),
    ]
    good = [
        Check.above("decoding after A/B", 1.0, 0.9, null=0.5, bounds=(0.0, 1.0)),
        Check.below("phase A learned: median final masked MSE", 0.01, 0.05, null=1.0),
        Check.above("invisible overlaps move: max |Δσ|", 0.3, 1e-2),
        Check.above("smallest eigenvalue (PSD)", 0.1, 0.0, bounds=(None, None)),
        Check.equals("decoding at the start is at chance", 0.5, 0.5, 0.1, null=0.5),
        Check.below("exact vs θ: max relative difference", 1e-12, 1e-6),
    ]
    assert all(cannot_fail(rec(c)) for c in bad), [c.name for c in bad if not cannot_fail(rec(c))]
    assert not any(cannot_fail(rec(c)) for c in good), [cannot_fail(rec(c)) for c in good]


@pytest.mark.parametrize("name", NAMES)
def test_quick_checks_can_fail(quick_all, name):
    out, _ = quick_all
    summary = _summary(out, name)
    trivial = {c["name"]: cannot_fail(c) for c in summary["checks"] if cannot_fail(c)}
    assert not trivial, trivial


@pytest.mark.parametrize("quick", [True, False], ids=["quick", "paper"])
def test_threshold_parameters_can_fail(quick):
    # Thresholds that are parameters, in both modes: "*_above" strictly positive, decoding
    # thresholds above chance (0.5), learning thresholds below the zero-output error they are
    # compared with in the run (here: below 1, the flip-flop's zero-output MSE at target ±1).
    from overlapflow.experiments import get_experiment, resolve_params

    for name in NAMES:
        params = resolve_params(get_experiment(name), quick=quick)
        for key, value in params.items():
            if key.endswith("_above") and isinstance(value, (int, float)):
                assert value > 0, (name, key, value)
    twins = resolve_params(get_experiment("twins"), quick=quick)
    assert twins["invisible_above"] > 0.5
    assert twins["a_learned_below"] <= 0.1 and twins["b_learned_below"] <= 0.2
    assert twins["c_learned_below"] <= 0.9


def test_check_records():
    assert Check.below("x", 0.5, 1.0).passed and not Check.below("x", 2.0, 1.0).passed
    assert not Check.below("x", float("nan"), 1.0).passed
    assert Check.above("x", 2.0, 1.0).passed and not Check.above("x", float("nan"), 1.0).passed
    assert Check.equals("n", 42, 42).passed and not Check.equals("n", 41, 42).passed


def test_cli_bad_input_exit_2(tmp_path):
    assert main(["run", "nope", "--out", str(tmp_path)]) == 2
    assert main(["run", "fig1", "--out", str(tmp_path), "--set", "bogus=1"]) == 2
    assert main(["run", "fig1", "--out", str(tmp_path), "--set", "epochs=many"]) == 2
    assert main(["run", "twins", "--out", str(tmp_path), "--starts", "1"]) == 2


def test_cli_failed_check_exit_1(tmp_path, capsys):
    code = main(["run", "fig1", "--quick", "--no-progress", "--out", str(tmp_path),
                 "--set", "epochs=2", "--set", "modes=exact"])
    assert code == 1
    s = _summary(tmp_path, "fig1")
    assert not _check(s, "loss falls")["passed"]
    assert not s["all_passed"]
    assert "FAIL" in capsys.readouterr().out
