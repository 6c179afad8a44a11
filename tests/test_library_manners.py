"""How the library behaves as a library: Ctrl-C stops the caller, a failed flow solve is not a
divergence, float64-only computations check the 64-bit mode through one function, and φ has
one list (its NumPy form included)."""

import contextlib
import json
import math
import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of
from overlapflow.cli import main
from overlapflow.internal import interrupt, learn_loop

SRC = Path(__file__).resolve().parents[1] / "src" / "overlapflow"


def _setup(N=20, T=1.0):
    spec = of.NetworkSpec(N=N, rank=1, dt=0.05)
    task = of.make_task("impulse_exp", dt=0.05, t_max=T, n_in=1, n_out=1, decay=0.3)
    return spec, task, of.random_vectors(spec, seed=1)


@pytest.fixture
def ctrl_c_at_third_chunk(monkeypatch):
    """Ctrl-C (KeyboardInterrupt) raised by the loop's progress bar as it counts the third chunk."""

    class Bar:
        calls = 0

        def update(self, n=1):
            Bar.calls += 1
            if Bar.calls == 3:
                raise KeyboardInterrupt

    @contextlib.contextmanager
    def fake_bar(**kwargs):
        Bar.calls = 0
        yield Bar()

    monkeypatch.setattr(learn_loop, "progress_bar", fake_bar)


@pytest.mark.parametrize("learner", ["learn_overlaps", "train_theta"])
def test_ctrl_c_propagates_from_the_learners_in_library_use(learner, ctrl_c_at_third_chunk):
    spec, task, X0 = _setup()
    run = {"learn_overlaps": lambda: of.learn_overlaps(of.overlaps(X0), task, spec, eta=0.01,
                                                        epochs=60, chunk=8),
           "train_theta": lambda: of.train_theta(X0, task, spec, eta=0.01, epochs=60, chunk=8)}
    assert not interrupt.active()
    with pytest.raises(KeyboardInterrupt):
        run[learner]()
    # Under a command of the command line the same Ctrl-C returns what was computed.
    with interrupt.handling():
        res = run[learner]()
        assert interrupt.requested()
    assert res.interrupted_at == 24  # three chunks of 8 epochs were computed
    assert np.all(np.isfinite(res.loss[:24])) and np.all(np.isnan(res.loss[24:]))
    assert res.diverged_at is None and res.solver_failed_at is None


def test_ctrl_c_propagates_from_run_comparison_in_library_use(ctrl_c_at_third_chunk):
    config = of.config_from_dict({
        "network": {"N": 20, "rank": 1, "dt": 0.05},
        "task": {"kind": "impulse_exp", "t_max": 1.0, "decay": 0.3},
        "train": {"eta": 0.01, "epochs": 5000, "modes": ["exact"]},  # 5 chunks of the closed
    })  # form's 1024 epochs
    with pytest.raises(KeyboardInterrupt):
        of.run_comparison(config, progress=False)


def _flow(spec, task, sigma0, max_steps, epochs=40):
    tol = of.FlowTolerances(rtol=1e-10, atol=1e-12, max_steps=max_steps)
    return of.learn_overlaps(sigma0, task, spec, mode="flow", eta=0.05, epochs=epochs, tol=tol)


def test_a_failed_flow_solve_is_reported_as_the_solver_stopping_not_divergence():
    spec, task, X0 = _setup()
    sigma0 = of.overlaps(X0)
    ref = _flow(spec, task, sigma0, 100_000)
    assert ref.solver_failed_at is None and ref.diverged_at is None
    # One adaptive solve spans a chunk of epochs: with too few steps it stops inside it.
    run = _flow(spec, task, sigma0, 60)
    k = run.solver_failed_at
    assert isinstance(k, int) and 0 < k < 40, k
    assert run.diverged_at is None  # not a divergence
    assert np.all(np.isnan(run.loss[k + 1:])) and np.all(np.isnan(run.sigma[k + 1:]))
    # The entries it did compute are the reference's (the same steps up to the failure).
    np.testing.assert_allclose(run.sigma[: k + 1], ref.sigma[: k + 1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(run.loss[: k + 1], ref.loss[: k + 1], rtol=1e-12)
    # A stochastic task solves each epoch on its own: the same report.
    noisy = of.make_task("noise_filter", dt=0.05, t_max=1.0, n_in=1, n_out=1, batch_size=2)
    run = _flow(spec, noisy, sigma0, 3, epochs=5)
    assert run.solver_failed_at == 0 and run.diverged_at is None
    assert np.isfinite(run.loss[0]) and np.all(np.isnan(run.loss[1:]))
    # The summary of a comparison says so, and does not list it as diverged.
    config = of.config_from_dict({
        "network": {"N": 20, "rank": 1, "dt": 0.05},
        "task": {"kind": "impulse_exp", "t_max": 1.0, "decay": 0.3},
        "train": {"eta": 0.05, "epochs": 40, "modes": ["flow"]},
    })
    comp = of.Comparison(config=config, epochs=np.arange(41), names=spec.vector_names,
                         runs={"flow": _flow(spec, task, sigma0, 60)})
    summary = of.comparison_summary(comp)
    assert summary["solver_failed"] == {"flow": k} and summary["diverged"] == {"flow": None}


def test_compare_prints_what_stopped_the_flow_solver(tmp_path, monkeypatch, capsys):
    # The command line's flow tolerances, with max_steps lowered as FlowTolerances(max_steps=…)
    # would from Python.
    defaults = of.FlowTolerances.__init__.__defaults__
    monkeypatch.setattr(of.FlowTolerances.__init__, "__defaults__", defaults[:-1] + (60,))
    cfg = tmp_path / "c.toml"
    cfg.write_text('[network]\nN = 20\nrank = 1\ndt = 0.05\n[task]\nkind = "impulse_exp"\n'
                   't_max = 1.0\ndecay = 0.3\n[train]\neta = 0.05\nepochs = 40\n'
                   'modes = ["exact", "flow"]\nflow_rtol = 1e-10\nflow_atol = 1e-12\n')
    assert main(["compare", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    k = json.loads((tmp_path / "o" / "summary.json").read_text())["solver_failed"]["flow"]
    assert isinstance(k, int)
    assert (f"overlapflow: warning: mode flow: the flow solver stopped: max_steps reached at "
            f"epoch {k}") in err
    assert "diverged" not in err


def test_float64_only_paths_check_the_mode_through_one_function():
    # Every function that computes in float64 whatever dtype it is given calls the one check
    # (`require_float64`, `check_float64` for a dtype argument); with the mode on they run.
    spec, _, X0 = _setup()
    assert of.visible_mask(spec).shape == (spec.P, spec.P)
    assert of.sample_nodes(of.overlaps(X0), spec, 8, seed=0).X0.dtype == jnp.float64
    text = {p.relative_to(SRC).as_posix(): p.read_text(encoding="utf-8")
            for p in SRC.rglob("*.py")}
    for path in ("_analysis/visibility.py", "_limit/quadrature.py", "_inference/fisher.py",
                 "_model/overlaps.py"):
        assert "require_float64(" in text[path], path
    # `jax_enable_x64` is read in one place, `_support/precision.py` (and set by the sweep's
    # Dask workers to the caller's mode).
    readers = sorted(p for p, t in text.items() if re.search(r"config\.jax_enable_x64\b", t))
    assert readers == ["_support/precision.py"], readers


def test_nonlinearity_numpy_is_phi_in_float64_numpy():
    x = np.linspace(-6.0, 6.0, 1201)
    for name, nl in of.NONLINEARITIES.items():
        y = nl.numpy(x)
        assert y.dtype == np.float64 and y.shape == x.shape
        np.testing.assert_allclose(y, np.asarray(nl.phi(jnp.asarray(x))), rtol=1e-14,
                                   atol=1e-15, err_msg=name)
    # erf is overlapflow's erf(√π x/2), to rounding against the C library's erf
    ref = np.array([math.erf(math.sqrt(math.pi) / 2 * v) for v in x])
    assert np.max(np.abs(of.get_nonlinearity("erf").numpy(x) - ref)) <= 1e-15
    assert of.get_nonlinearity("relu").numpy(np.array([-1.0, 2.0])).tolist() == [0.0, 2.0]
    custom = of.Nonlinearity.from_function(jnp.sin, name="sin", odd=True)
    with pytest.raises(of.ConfigError, match=r"^nonlinearity 'sin' has no NumPy form"):
        custom.numpy(x)
    sin = of.Nonlinearity.from_function(jnp.sin, name="sin", odd=True, numpy=np.sin)
    np.testing.assert_array_equal(sin.numpy(x), np.sin(x))


def test_the_interop_layer_has_no_phi_of_its_own():
    # The NumPy simulation of imported networks uses `Nonlinearity.numpy`: no second list.
    for path in (SRC / "_interop").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in (r"np\.tanh", r"logaddexp", r"math\.erf", r"frompyfunc", r"_phi_numpy"):
            assert not re.search(pattern, text), (path.name, pattern)


def _toy_loop(epochs, *, record_bytes=None, blow_up_at=None, chunk=7):
    """run_epochs on Σ ← 0.99 Σ (P = 2; from `blow_up_at` on the update is inf)."""
    import jax

    def step(sigma, epoch):
        factor = jnp.where(epoch + 1 == (blow_up_at or -1), jnp.inf, 0.99)
        return factor * sigma, learn_loop.EpochRecords(jnp.sum(sigma), sigma)

    runner = jax.jit(learn_loop.make_chunk_runner(step, chunk))
    return learn_loop.run_epochs(runner, jnp.eye(2), epochs, chunk, progress=False, P=2,
                                 record_bytes=record_bytes)


def test_records_are_thinned_to_their_budget_and_unchanged_when_they_fit():
    E = 100
    full = _toy_loop(E)
    assert full.recorded_epochs is None and full.loss.shape == (E + 1,)
    np.testing.assert_allclose(full.loss, 2 * 0.99 ** np.arange(E + 1), rtol=1e-13)
    entry = (1 + 2 * 2) * 8  # bytes of one epoch's loss and Σ (float64)
    assert _toy_loop(E, record_bytes=(E + 1) * entry).recorded_epochs is None  # exactly fits
    thin = _toy_loop(E, record_bytes=12 * entry)  # room for 12 entries
    k = learn_loop.record_every(E, entry, 12 * entry)
    assert k == 10
    np.testing.assert_array_equal(thin.recorded_epochs, np.r_[0:E + 1:10])
    np.testing.assert_array_equal(thin.loss, full.loss[thin.recorded_epochs])
    np.testing.assert_array_equal(thin.sigma, full.sigma[thin.recorded_epochs])
    assert thin.loss.nbytes + thin.sigma.nbytes <= 12 * entry
    # E not a multiple of k: the last epoch is recorded as well
    odd = _toy_loop(E + 3, record_bytes=12 * entry)
    assert odd.recorded_epochs[-1] == E + 3 and len(odd.loss) <= 12
    # divergence between two recorded epochs is still found at its epoch
    bad = _toy_loop(E, record_bytes=12 * entry, blow_up_at=37)
    assert bad.diverged_at == 37
    at = bad.recorded_epochs
    assert np.all(np.isfinite(bad.loss[at <= 30])) and np.all(np.isnan(bad.loss[at > 37]))
    with pytest.raises(of.ConfigError, match="does not hold the first and the last"):
        _toy_loop(E, record_bytes=entry)


def test_compare_says_when_its_records_are_thinned(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(learn_loop, "RECORD_BYTES", 11 * (1 + 16) * 8)  # 11 entries of P = 4
    cfg = tmp_path / "c.toml"
    cfg.write_text('[network]\nN = 20\nrank = 1\ndt = 0.05\n[task]\nkind = "impulse_exp"\n'
                   't_max = 1.0\ndecay = 0.3\n[train]\neta = 0.05\nepochs = 40\n'
                   'modes = ["theta", "exact"]\n')
    assert main(["compare", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    assert "records: one epoch in 4 and the last" in capsys.readouterr().out
    with np.load(tmp_path / "o" / "results.npz") as r:
        np.testing.assert_array_equal(r["epochs"], np.r_[0:41:4])
        assert r["loss_theta"].shape == (11,) and r["sigma_exact"].shape == (11, 4, 4)
        np.testing.assert_allclose(r["sigma_exact"], r["sigma_theta"], rtol=0, atol=1e-12)
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["record_every"] == 4


def test_ctrl_c_stops_a_run_of_any_length_within_two_seconds(monkeypatch):
    # 10⁸ epochs of θ-space training at N = 200: SIGINT once the epochs run (compiled) stops
    # it within 2 s (a chunk of epochs is short whatever the epoch count).
    import os
    import signal
    import threading
    import time

    spec = of.NetworkSpec(N=200, rank=1, dt=0.05)
    task = of.make_task("impulse_exp", dt=0.05, t_max=2.0, n_in=1, n_out=1, decay=0.3)
    sent = {}

    class Bar:
        def update(self, n=1):
            if "timer" not in sent:  # the first chunk is done: Ctrl-C in half a second
                def fire():
                    sent["at"] = time.monotonic()
                    os.kill(os.getpid(), signal.SIGINT)

                sent["timer"] = threading.Timer(0.5, fire)
                sent["timer"].start()

    @contextlib.contextmanager
    def bar(**kwargs):
        yield Bar()

    def watchdog():  # no chunk done in 60 s (a chunk ∝ the epoch count): stop the test
        if "timer" not in sent:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(learn_loop, "progress_bar", bar)
    # Python's own handler (a process started in the background of a shell inherits SIGINT
    # ignored); restored after the test
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    dog = threading.Timer(60.0, watchdog)
    dog.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            of.train_theta(of.random_vectors(spec, seed=0), task, spec, eta=0.01,
                           epochs=10**8)
        stopped = time.monotonic()
    finally:
        dog.cancel()
        if "timer" in sent:
            sent["timer"].join()
        signal.signal(signal.SIGINT, previous)
    assert "at" in sent, "no chunk of epochs finished within 60 s"
    assert stopped - sent["at"] < 2.0, stopped - sent["at"]
