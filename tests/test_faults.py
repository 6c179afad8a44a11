"""Nothing lost, nothing misleading: every user-reported fault ends in one line on stderr,
exit 2 (bad input) or 130 (Ctrl-C), and earlier complete results stay intact.

Interrupts are real SIGINTs sent to `python -m overlapflow` subprocesses, at moments the test
can observe (the output folder or the sweep's lock file appearing: by then the command has
checked its input and starts computing). Everything else runs in-process (`main([...])`).
"""

import errno
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import overlapflow as of
from overlapflow.cli import main
from overlapflow.internal import sweep_scheduling as _scheduling

SMALL = """\
[network]
N = 40
rank = 1
phi = "linear"
dt = 0.1
[task]
kind = "impulse_exp"
t_max = 3.0
decay = 0.3
[train]
eta = {eta}
epochs = 30
modes = {modes}
"""

# θ-space at N = 200, T = 200: its first block of epochs (compilation + 10 001 epochs) takes
# seconds, so a SIGINT half a second after the folder appears lands before any epoch is saved.
BIG = """\
[network]
N = 200
rank = 1
phi = "linear"
dt = 0.1
[task]
kind = "impulse_exp"
t_max = 20.0
decay = 0.3
[train]
eta = 0.001
epochs = 400000
modes = ["theta", "exact"]
"""


def small_config(tmp_path, name="cfg.toml", eta=0.01, modes='["exact"]', text=None):
    path = tmp_path / name
    path.write_text(text if text is not None else SMALL.format(eta=eta, modes=modes))
    return path


def one_line(err: str) -> str:
    """The single line a fault must print (no traceback, nothing else)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def earlier_result(folder: Path, names=("results.npz", "summary.json", "compare.png")) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(f"earlier complete {name}".encode())
    return snapshot(folder)


# -- subprocesses and signals --------------------------------------------------------------


def spawn(args, env=None):
    return subprocess.Popen([sys.executable, "-m", "overlapflow", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def wait_until(predicate, proc, timeout=180.0):
    start = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process ended early ({proc.returncode}): {out}{err}")
        if time.monotonic() - start > timeout:
            proc.kill()
            pytest.fail("timed out waiting")
        time.sleep(0.02)


def interrupt(proc, delay=0.0):
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def test_ctrl_c_during_compilation_compare_saves_empty_record(tmp_path):
    cfg = small_config(tmp_path, text=BIG)
    out = tmp_path / "out"
    proc = spawn(["compare", cfg, "--out", out, "--no-progress"])
    wait_until(out.is_dir, proc)
    code, stdout, err = interrupt(proc, 0.5)
    assert code == 130
    line = one_line(err)
    assert line.startswith("overlapflow: interrupted before the first epochs of mode theta")
    assert "summary.json records the interruption" in line
    s = json.loads((out / "summary.json").read_text())
    assert s["interrupted_at"] == {"mode": "theta", "epoch": 0, "epochs": 400000}
    with np.load(out / "results.npz") as r:  # nothing computed: epoch 0 alone, NaN (the
        # records end at the last entry computed, so Ctrl-C never writes 400001 NaN entries)
        np.testing.assert_array_equal(r["epochs"], [0])
        for key in r.files:
            if key.startswith("loss_"):
                assert r[key].shape == (1,) and np.isnan(r[key]).all()
    assert (out / "compare.png").stat().st_size > 1000


def test_ctrl_c_run_all_quick_keeps_what_exists(tmp_path):
    out = tmp_path / "runs"
    proc = spawn(["run", "all", "--quick", "--out", out, "--no-progress"])
    wait_until(out.is_dir, proc)
    code, stdout, err = interrupt(proc, 1.0)
    assert code == 130
    line = one_line(err)
    assert line.startswith("overlapflow: fig1 interrupted") and "fig1 holds" in line
    s = json.loads((out / "fig1" / "summary.json").read_text())
    assert s["interrupted"] is not None and s["checks"] == [] and not s["all_passed"]
    assert s["provenance"]["argv"][:3] == ["overlapflow", "run", "all"]
    assert (out / "index.html").is_file()
    assert not (out / "rank2" / "summary.json").exists()


def test_sweep_interrupted_three_times_exits_130_and_resumes(tmp_path):
    cfg = small_config(tmp_path)
    out = tmp_path / "sweep"
    env = {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax-cache"),  # later starts are quick
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    args = ["sweep", cfg, "--seeds", "0:480", "--chunk-size", "8", "--modes", "exact", "--out",
            out, "--no-progress"]
    lock = out / ".lock"

    def locked_by(proc):
        return lambda: lock.is_file() and lock.read_text().split()[:1] == [str(proc.pid)]

    def chunks():  # finished chunk files (not the hidden temporary file of one being written)
        return len([p for p in (out / "chunks").glob("*.npz") if not p.name.startswith(".")])

    for moment in ("start", "compiling", "after a chunk"):
        proc = spawn(args, env)
        wait_until(locked_by(proc), proc)
        if moment == "after a chunk":
            before = chunks()
            wait_until(lambda n=before: chunks() > n, proc)
        code, stdout, err = interrupt(proc, 1.0 if moment == "compiling" else 0.0)
        assert code == 130, (moment, err)  # never 139: no XLA thread outlives the exit
        assert "run the same command to resume" in one_line(err)
        assert not lock.exists()
    assert 0 < chunks() < 60
    proc = spawn(args, env)  # the same plan resumes without --overwrite
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "480 runs in 60 chunks" in stdout
    assert len((out / "sweep.csv").read_text().splitlines()) == 481


def test_long_theta_sweep_is_announced_and_ctrl_c_stops_it_within_seconds(tmp_path):
    # 64 θ-space runs of 400 000 epochs at N = 200: hours of work in one chunk. The estimate
    # is printed before any work, and Ctrl-C stops the runs between pieces of epochs, not at
    # the end of the chunk.
    cfg = small_config(tmp_path, text=BIG)
    out = tmp_path / "sweep"
    proc = spawn(["sweep", cfg, "--seeds", "0:64", "--modes", "theta", "--out", out])
    wait_until(lambda: (out / "plan.json").is_file(), proc)
    time.sleep(4.0)  # into the θ-space runs (compilation and the first pieces)
    start = time.monotonic()
    code, _, err = interrupt(proc)
    assert code == 130, err
    assert time.monotonic() - start < 20.0
    assert "Traceback" not in err
    announce = [ln for ln in err.splitlines() if "θ-space runs are estimated at about" in ln]
    assert len(announce) == 1, err
    minutes = float(re.search(r"about (\d+) min", announce[0]).group(1))
    assert minutes > 60
    assert "run the same command to resume" in err.strip().splitlines()[-1]


# -- an earlier result is never replaced unasked ---------------------------------------------


def test_used_out_folder_is_refused_and_left_intact(tmp_path, capsys):
    cfg = small_config(tmp_path)
    cases = [
        (["compare", cfg], tmp_path / "c", tmp_path / "c"),
        (["inspect", cfg], tmp_path / "i", tmp_path / "i"),
        (["scaling", cfg, "--quick"], tmp_path / "s", tmp_path / "s"),
        (["run", "fig1", "--quick"], tmp_path / "r", tmp_path / "r" / "fig1"),
        (["sweep", cfg], tmp_path / "w", tmp_path / "w"),
    ]
    for args, out, folder in cases:
        before = earlier_result(folder)
        extra = [] if args[0] == "inspect" else ["--no-progress"]
        assert main([*map(str, args), "--out", str(out), *extra]) == 2
        line = one_line(capsys.readouterr().err)
        assert "already holds" in line and "--overwrite" in line, line
        assert snapshot(folder) == before


def test_overwrite_with_divergence_everywhere_draws_and_removes_stale_figures(tmp_path, capsys):
    # No [network] table: the defaults (N = 500, dt = 0.05) apply and summary.json says so.
    text = SMALL.format(eta=200.0, modes='["exact", "euler"]').split("[task]")[1]
    cfg = small_config(tmp_path, text="[task]" + text)
    out = tmp_path / "o"
    before = earlier_result(out, ("results.npz", "summary.json", "compare.png", "gaussianity.png"))
    assert main(["compare", str(cfg), "--out", str(out), "--no-progress", "--overwrite"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "exact" in captured.out and "epoch" in captured.out  # the table, with divergence
    s = json.loads((out / "summary.json").read_text())
    assert all(isinstance(s["diverged"][m], int) for m in ("exact", "euler"))
    png = (out / "compare.png").read_bytes()
    assert png != before["compare.png"] and png[:4] == b"\x89PNG"
    assert not (out / "gaussianity.png").exists()  # stale figure of the earlier run removed
    # provenance: the resolved configuration (defaults applied), versions, argv, date, machine
    assert "network" not in s["config"]
    net = s["resolved_config"]["network"]
    assert net == {"N": 500, "rank": 1, "n_in": 1, "n_out": 1, "phi": "linear", "dt": 0.05}
    assert s["resolved_config"]["train"]["dtype"] == "float64"
    assert s["resolved_config"]["task"]["amplitude"] == 1.0
    prov = s["provenance"]
    assert set(prov["versions"]) >= {"overlapflow", "jax", "jaxlib", "numpy", "python"}
    assert prov["argv"][:2] == ["overlapflow", "compare"] and prov["date_utc"]
    assert prov["machine"]["cpu_count"] >= 1
    assert platform.node() not in json.dumps(prov["machine"])


def test_figure_survives_huge_and_non_finite_values(tmp_path):
    from overlapflow import Comparison, LoopResult, visible_mask
    from overlapflow.internal import plot_comparison

    cfg = of.load_config(small_config(tmp_path, modes='["exact", "euler", "direct"]'))
    E = cfg.train.epochs

    def run(value, at=3):
        loss = np.full(E + 1, np.nan)
        loss[:at] = np.logspace(0, 3, at)
        loss[at] = value
        sig = np.full((E + 1, 4, 4), np.nan)
        sig[:at] = np.eye(4)
        sig[at] = value
        sig[at, 0, 1] = -value
        return LoopResult(loss, sig, at, None, None)

    for k, value in enumerate([1.7e308, -1.7e308, np.inf]):
        comp = Comparison(cfg, np.arange(E + 1), cfg.network.vector_names,
                          runs={m: run(value) for m in cfg.train.modes}, interrupted=True,
                          interrupted_at={"mode": "direct", "epoch": 4, "epochs": E})
        plot_comparison(comp, tmp_path / f"f{k}.png", visible=visible_mask(cfg.network))
        assert (tmp_path / f"f{k}.png").stat().st_size > 1000
    empty = Comparison(cfg, np.arange(E + 1), cfg.network.vector_names)
    plot_comparison(empty, tmp_path / "empty.png", visible=visible_mask(cfg.network))


# -- bad --out, bad input --------------------------------------------------------------------


def test_bad_out_is_found_before_computing(tmp_path, capsys):
    cfg = small_config(tmp_path)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere it may chmod; sysfs refuses even root
        readonly = Path("/sys/kernel") if Path("/sys/kernel").is_dir() else None
    outs = [(a_file, "is a file, not a folder"), (a_file / "sub", "is a file, not a folder"),
            (Path("/proc"), "not writable"), (Path("/proc/overlapflow-x"), "cannot create")]
    if readonly is not None:
        outs.append((readonly / "x" if os.geteuid() != 0 else readonly, "not writable|cannot"))
    commands = [["compare", cfg], ["inspect", cfg], ["scaling", cfg, "--quick"],
                ["run", "fig1", "--quick"], ["sweep", cfg]]
    for k, (out, message) in enumerate(outs):
        for args in commands if k == 0 else commands[:1] + commands[3:]:
            extra = [] if args[0] == "inspect" else ["--no-progress"]
            assert main([*map(str, args), "--out", str(out), *extra]) == 2, (args, out)
            line = one_line(capsys.readouterr().err)
            assert re.search(message, line), line
    assert a_file.read_text() == "x"


def test_non_utf8_config(tmp_path, capsys):
    cfg = tmp_path / "latin1.toml"
    cfg.write_bytes(SMALL.format(eta=0.01, modes='["exact"]').encode() + b"# d\xe9cay\n")
    for args in (["compare", cfg, "--out", tmp_path / "o"], ["sweep", cfg, "--out", tmp_path / "s"]):
        assert main([str(a) for a in args]) == 2
        assert "is not UTF-8 text" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "o").exists() and not (tmp_path / "s").exists()


def test_disk_full_leaves_earlier_files_intact(tmp_path, capsys, monkeypatch):
    cfg = small_config(tmp_path)
    out = tmp_path / "o"
    before = earlier_result(out, ("inspect.json", "metric.png"))
    real_fsync = os.fsync

    def full(fd):
        if os.fstat(fd).st_size > 64:  # the probe file passes; result files do not fit
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    assert main(["inspect", str(cfg), "--out", str(out), "--overwrite"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "No space left on device" in line and "was changed" in line
    assert snapshot(out) == before  # neither file replaced, no temporary file left


def test_run_set_values_are_checked_like_toml(tmp_path, capsys):
    out = tmp_path / "r"
    for args, message in [
        (["run", "fig1", "--set", "epochs=-5"], "fig1: parameter epochs must be >= 1"),
        (["run", "fig1", "--set", "eta=nan"], "fig1: parameter eta must be finite"),
        (["run", "fig1", "--set", "N=0"], "fig1: parameter N must be >= 1"),
        (["run", "all", "--set", "bogus=1"], "--set bogus: not a parameter of any experiment"),
    ]:
        assert main([*args, "--quick", "--out", str(out), "--no-progress"]) == 2
        assert message in one_line(capsys.readouterr().err)
    assert not out.exists()  # refused before anything was created


def test_seed_ranges_are_bounded(tmp_path, capsys):
    cfg = small_config(tmp_path)
    assert main(["sweep", str(cfg), "--seeds", "0:100000000000", "--out", str(tmp_path / "s")]) == 2
    assert "at most 1000000" in one_line(capsys.readouterr().err)
    assert main(["scaling", str(cfg), "--seeds", "0:100000000000", "--out", str(tmp_path / "c")]) == 2
    assert "at most" in one_line(capsys.readouterr().err)


# -- sweep folders ---------------------------------------------------------------------------


def sweep_cli(cfg, out, *extra):
    return main(["sweep", str(cfg), "--seeds", "0:4", "--chunk-size", "2", "--modes", "exact",
                 "--out", str(out), "--no-progress", *extra])


def test_sweep_folder_faults(tmp_path, capsys, monkeypatch):
    cfg = small_config(tmp_path)
    out = tmp_path / "s"
    # modes are checked before anything is created
    assert main(["sweep", str(cfg), "--modes", "limit", "--out", str(out)]) == 2
    assert "unknown mode 'limit'" in one_line(capsys.readouterr().err)
    assert not out.exists()
    # an unreachable scheduler: refused before the plan is written, the folder stays usable
    pytest.importorskip("dask.distributed")
    monkeypatch.setattr(_scheduling, "CONNECT_TIMEOUT_S", 1)
    assert sweep_cli(cfg, out, "--scheduler", "tcp://127.0.0.1:9") == 2
    assert "cannot reach Dask scheduler" in one_line(capsys.readouterr().err)
    assert not out.exists()
    assert sweep_cli(cfg, out) == 0
    capsys.readouterr()
    plan = json.loads((out / "plan.json").read_text())
    assert plan["provenance"]["versions"]["jax"] and plan["resolved_configs"][0]["config"]
    complete = snapshot(out)
    # the same plan resumes (nothing to do) without --overwrite; a different one is refused
    assert sweep_cli(cfg, out) == 0
    capsys.readouterr()
    assert main(["sweep", str(cfg), "--seeds", "0:6", "--chunk-size", "2", "--modes", "exact",
                 "--out", str(out), "--no-progress"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "holds a different sweep" in line and "--overwrite" in line
    assert snapshot(out) == complete
    # a truncated chunk: named, to delete; deleting it recomputes it
    chunk = out / "chunks" / "g0000_s0000002-0000003.npz"
    chunk.write_bytes(chunk.read_bytes()[:50])
    assert sweep_cli(cfg, out) == 2
    line = one_line(capsys.readouterr().err)
    assert str(chunk) in line and "delete it" in line
    chunk.unlink()
    assert sweep_cli(cfg, out) == 0
    capsys.readouterr()
    # a corrupt plan.json: named, to delete
    (out / "plan.json").write_text("{not json")
    assert sweep_cli(cfg, out) == 2
    line = one_line(capsys.readouterr().err)
    assert str(out / "plan.json") in line and "delete" in line
    # --overwrite starts afresh
    assert sweep_cli(cfg, out, "--overwrite") == 0


def test_sweep_folder_lock(tmp_path, capsys):
    cfg = small_config(tmp_path)
    out = tmp_path / "s"
    out.mkdir()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".lock").write_text(f"{live.pid}\n")
        assert sweep_cli(cfg, out) == 2  # a second sweep into a folder in use
        line = one_line(capsys.readouterr().err)
        assert f"in use by another sweep (pid {live.pid}" in line
        assert not (out / "plan.json").exists()
    finally:
        live.kill()
        live.wait()
    # the lock of a process that is gone is taken over
    assert sweep_cli(cfg, out) == 0
    assert not (out / ".lock").exists()


# -- provenance and the invariants API -------------------------------------------------------


def test_invariants_accepts_one_form_or_the_stack():
    spec = of.NetworkSpec(N=50, rank=1)
    S = of.overlaps(of.random_vectors(spec, seed=0))
    forms = of.conserved_forms(spec)
    assert forms.shape == (1, 4, 4)
    stack = of.invariants(S, forms)
    one = of.invariants(S, forms[0])
    assert stack.trace.shape == (1,) and stack.spectrum.shape == (1, 4)
    np.testing.assert_allclose(stack.trace[0], one.trace)
    np.testing.assert_allclose(stack.spectrum[0], one.spectrum)
    batched = of.invariants(np.stack([S, S, S]), forms)  # (k, epochs) values
    assert batched.trace.shape == (1, 3) and batched.spectrum.shape == (1, 3, 4)
    none = of.invariants(S, np.zeros((0, 4, 4)))
    assert none.trace.shape == (0,)
    with pytest.raises(of.ConfigError, match=r"J must be one form \(P, P\) = \(4, 4\)"):
        of.invariants(S, np.eye(3))


# ------------------------------------------------------------------------------ optional extras

_WITHOUT = r"""
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # as if not installed
from overlapflow.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run_without(blocked, args):
    code = _WITHOUT.format(blocked=list(blocked))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300)


def test_compare_without_matplotlib_writes_numbers_and_says_so(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[network]\nN = 20\n[task]\nkind = "impulse_exp"\nt_max = 1.0\n'
                   '[train]\neta = 0.01\nepochs = 5\nmodes = ["exact"]\n')
    res = _run_without(["matplotlib"], ["compare", str(cfg), "--out", str(tmp_path / "o")])
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "o" / "results.npz").is_file()
    assert not (tmp_path / "o" / "compare.png").exists()
    assert 'overlapflow[plots]' in res.stderr and "Traceback" not in res.stderr


def test_run_without_the_experiments_extra_is_one_line_exit_2(tmp_path):
    res = _run_without(["matplotlib", "scipy"], ["run", "fig1", "--quick", "--out", str(tmp_path / "o")])
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "overlapflow[plots]" in res.stderr
    assert not (tmp_path / "o").exists()


def test_ctrl_c_during_an_experiment_keeps_the_epochs_done(tmp_path, capsys, monkeypatch):
    # A real SIGINT during the fifth compiled chunk of `run forgetting --quick` (chunks of
    # 200 epochs, phases of 600, 200, ...): the four chunks done (A, then B) are saved,
    # marked interrupted, nothing is checked.
    import overlapflow.experiments.forgetting as forgetting

    real, calls = forgetting._protocol_chunk, []

    def chunk(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 5:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)  # the handler raises here, in the main thread
        return out

    monkeypatch.setattr(forgetting, "_protocol_chunk", chunk)
    out = tmp_path / "out"
    code = main(["run", "forgetting", "--quick", "--no-progress", "--out", str(out)])
    assert code == 130
    line = one_line(capsys.readouterr().err)
    assert line.startswith("overlapflow: forgetting interrupted at epoch 800 of 3200")
    assert "holds the arrays computed so far" in line
    s = json.loads((out / "forgetting" / "summary.json").read_text())
    assert s["interrupted"] == {"where": "forgetting", "epoch": 800, "epochs": 3200}
    assert s["checks"] == [] and not s["all_passed"]
    with np.load(out / "forgetting" / "results.npz") as r:
        K = len(r["rule_keys"])
        assert r["loss_hist"].shape == (800, K) and r["sigma_hist"].shape[:2] == (800, K)
        assert np.all(np.isfinite(r["loss_hist"])) and np.all(np.isfinite(r["trace"]))
        assert r["trace"][:600].max() == 0.0 < r["trace"][-1].min()  # A, then B begun


def test_ctrl_c_during_shutdown_changes_neither_exit_code_nor_output(tmp_path):
    # A SIGINT during the interpreter's teardown, after the command finished (here from the
    # last atexit hook, which runs after JAX's): exit 0, nothing on stderr.
    cfg = small_config(tmp_path)
    code = ("import atexit, os, runpy, signal, sys\n"
            "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
            f"sys.argv = ['overlapflow', 'compare', {str(cfg)!r}, '--out', "
            f"{str(tmp_path / 'out')!r}, '--no-progress']\n"
            "runpy.run_module('overlapflow', run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert (tmp_path / "out" / "summary.json").is_file()


def test_ctrl_c_between_the_loops_of_an_experiment_keeps_the_finished_ones(tmp_path, capsys,
                                                                         monkeypatch):
    # fig1: θ-space finished, Ctrl-C as the first overlap mode starts: results.npz holds the
    # θ run, complete; the summary says interrupted and checks nothing.
    import overlapflow.experiments.fig1 as fig1

    real = fig1.theta_and_mode_runs

    def runs(spec, task, params, **kwargs):  # the θ run (kept), then Ctrl-C before the modes
        real(spec, task, {**params, "modes": []}, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1.0)  # the handler raises here, in the main thread
        raise AssertionError("SIGINT did not arrive")

    monkeypatch.setattr(fig1, "theta_and_mode_runs", runs)
    out = tmp_path / "out"
    code = main(["run", "fig1", "--quick", "--no-progress", "--out", str(out),
                 "--set", "epochs=20"])
    assert code == 130
    line = one_line(capsys.readouterr().err)
    assert "holds the arrays computed so far" in line
    s = json.loads((out / "fig1" / "summary.json").read_text())
    assert s["interrupted"] is not None and s["checks"] == []
    with np.load(out / "fig1" / "results.npz") as r:
        assert sorted(r.files) == ["loss_theta", "sigma_theta"]
        assert r["loss_theta"].shape == (21,) and np.all(np.isfinite(r["loss_theta"]))
        assert r["loss_theta"][-1] < r["loss_theta"][0]
