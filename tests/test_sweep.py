"""Sweeps: grid × seeds, batched runs equal single runs, resume, failures, Dask, CLI."""

import csv
import json
import os
import signal
import sys

import numpy as np
import pytest

import overlapflow as of
from overlapflow import run_sweep
from overlapflow.cli import main
from overlapflow.internal import learn_batched as _batched
from overlapflow.internal import parse_grid, parse_seeds
from overlapflow.internal import sweep_scheduling as _scheduling

CONFIG = """
[network]
N = 30
rank = 1
dt = 0.1
[init]
seed = 0
[task]
kind = "{kind}"
t_max = 2.0
[loss]
kind = "sum_dt"
[train]
eta = 2e-2
epochs = 12
"""

GRID = ["task.decay=0.2,0.5"]


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.format(kind="impulse_exp"))
    return path


def _read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _runs(out):
    with np.load(out / "runs.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_parsing_and_validation(config, tmp_path):
    assert parse_grid(["train.eta=1e-3,5e-3", "network.phi=erf"]) == [
        ("train.eta", (1e-3, 5e-3)), ("network.phi", ("erf",))]
    assert parse_seeds("3:7") == (3, 4, 5, 6)
    for bad in ["5:2", "a:b", "-1:3"]:
        with pytest.raises(of.ConfigError, match="seeds"):
            parse_seeds(bad)
    with pytest.raises(of.ConfigError, match="table.key"):
        parse_grid(["train.eta"])
    with pytest.raises(of.ConfigError, match=r"unknown key 'lr' in \[train\]; valid: .*eta"):
        run_sweep(config, tmp_path / "o", grid=["train.lr=1"], progress=False)
    with pytest.raises(of.ConfigError, match=r"unknown key 'omega' in \[task\]; valid: .*decay"):
        run_sweep(config, tmp_path / "o", grid=["task.omega=1"], progress=False)
    with pytest.raises(of.ConfigError, match="unknown table 'optim'"):
        run_sweep(config, tmp_path / "o", grid=["optim.eta=1"], progress=False)
    with pytest.raises(of.ConfigError, match=r"grid point train.eta=-1.*eta must be"):
        run_sweep(config, tmp_path / "o", grid=["train.eta=1e-2,-1"], progress=False)
    assert main(["sweep", str(config), "--grid", "train.lr=1", "--out", str(tmp_path / "o")]) == 2
    with pytest.raises(of.ConfigError, match=r"grid key 'train.epoch': unknown key 'epoch' in "
                       r"\[train\] \(did you mean 'epochs'\?\)"):
        run_sweep(config, tmp_path / "o", grid=["train.epoch=3"], progress=False)
    # --set applies before the grid, checked like the config file
    with pytest.raises(of.ConfigError, match=r"unknown key 'epoch' in \[train\] \(did you mean"):
        run_sweep(config, tmp_path / "o", settings={"train.epoch": 3}, progress=False)
    assert main(["sweep", str(config), "--set", "train.momentum=0.5", "--out",
                 str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_sweep_equals_single_runs_and_theta(config, tmp_path):
    out = tmp_path / "s"
    res = run_sweep(config, out, grid=["train.eta=1e-2,3e-2"], seeds=range(3, 8),
                    modes=("exact", "theta", "direct"), chunk_size=3, progress=False)
    assert res.complete and not res.failed and res.n_runs == 10 and res.n_chunks == 4
    rows = _read_csv(out / "sweep.csv")
    runs = _runs(out)
    assert len(rows) == 10 and runs["loss_exact"].shape == (10, 13)
    assert runs["sigma_final_theta"].shape == (10, 4, 4)
    # runs against independent single, unbatched runs (θ-space: the full network)
    for i in (0, 9):
        eta, decay, seed = float(rows[i]["train.eta"]), 0.2, int(rows[i]["seed"])
        spec = of.NetworkSpec(N=30, rank=1, dt=0.1)
        task = of.make_task("impulse_exp", dt=0.1, t_max=2.0, n_in=1, n_out=1, decay=decay)
        X0 = of.random_vectors(spec, seed=seed)
        theta = of.train_theta(X0, task, spec, eta=eta, epochs=12)
        direct = of.learn_overlaps(X0.T @ X0 / 30, task, spec, mode="direct", eta=eta, epochs=12)
        np.testing.assert_allclose(runs["loss_theta"][i], theta.loss, rtol=1e-13)
        np.testing.assert_allclose(runs["loss_exact"][i], theta.loss, rtol=1e-10)
        np.testing.assert_allclose(runs["sigma_final_exact"][i], theta.sigma[-1], atol=1e-10)
        np.testing.assert_allclose(runs["loss_direct"][i], direct.loss, rtol=1e-12)
        assert float(rows[i]["final_loss_exact"]) == pytest.approx(theta.loss[-1], rel=1e-10)
        assert float(rows[i]["max_rel_loss_diff_exact"]) < 1e-10
        drift = float(rows[i]["invariant_drift_theta"])  # σ_zz + σ_vv − σ_mm − σ_uu, O(η²)/epoch
        inv = theta.sigma[:, 3, 3] + theta.sigma[:, 2, 2] - theta.sigma[:, 0, 0] - theta.sigma[:, 1, 1]
        assert drift == pytest.approx(np.max(np.abs(inv - inv[0])), rel=1e-9)
    thr = [r["epochs_to_1e-02_exact"] for r in rows]
    loss = runs["loss_exact"]
    for r, curve in zip(thr, loss):
        hit = np.nonzero(curve <= 1e-2)[0]
        assert r == (str(hit[0]) if hit.size else "")


def test_noise_task_stepping_path_and_interrupt_resume(tmp_path):
    cfg = tmp_path / "n.toml"
    cfg.write_text(CONFIG.format(kind="noise_filter").replace('t_max = 2.0', 't_max = 1.0\nbatch_size = 2'))
    ref_out, out = tmp_path / "ref", tmp_path / "int"
    kw = dict(grid=["train.eta=1e-2,2e-2"], seeds=range(4), modes=("exact",), chunk_size=2, progress=False)
    ref = run_sweep(cfg, ref_out, **kw)
    assert ref.complete

    def stop(chunk_id, done, total):
        if done == 1:
            raise KeyboardInterrupt

    first = run_sweep(cfg, out, on_chunk=stop, **kw)
    assert first.interrupted and not first.complete and len(first.ran) == 1
    assert not (out / "sweep.csv").exists()
    second = run_sweep(cfg, out, **kw)
    assert second.complete and len(second.ran) == 3 and first.ran[0] not in second.ran
    np.testing.assert_array_equal(_runs(out)["loss_exact"], _runs(ref_out)["loss_exact"])
    # a batched noise-task run equals the single, unbatched run
    spec = of.NetworkSpec(N=30, rank=1, dt=0.1)
    task = of.make_task("noise_filter", dt=0.1, t_max=1.0, n_in=1, n_out=1, batch_size=2)
    X0 = of.random_vectors(spec, seed=2)
    single = of.learn_overlaps(X0.T @ X0 / 30, task, spec, eta=1e-2, epochs=12)
    np.testing.assert_allclose(_runs(out)["loss_exact"][2], single.loss, rtol=1e-12)
    with pytest.raises(of.ConfigError, match="different sweep"):
        run_sweep(cfg, out, **{**kw, "seeds": range(5)})


def test_failing_chunk_is_reported_and_others_kept(config, tmp_path, monkeypatch):
    real = _scheduling.run_sweep_chunk

    def flaky(raw, base_dir, point, seeds, modes, **kw):
        if point["task.decay"] == 0.5 and 2 in seeds:
            raise RuntimeError("boom")
        return real(raw, base_dir, point, seeds, modes, **kw)

    monkeypatch.setattr(_scheduling, "run_sweep_chunk", flaky)
    out = tmp_path / "f"
    res = run_sweep(config, out, grid=GRID, seeds=range(4), chunk_size=2, progress=False)
    assert not res.complete and len(res.failed) == 1 and len(res.ran) == 3
    where, error = res.failed[0]
    assert "task.decay=0.5" in where and "seeds 2…3" in where and "boom" in error
    monkeypatch.setattr(_scheduling, "run_sweep_chunk", real)
    again = run_sweep(config, out, grid=GRID, seeds=range(4), chunk_size=2, progress=False)
    assert again.complete and len(again.ran) == 1
    rows = _read_csv(out / "sweep.csv")
    assert len(rows) == 8 and [r["task.decay"] for r in rows] == ["0.2"] * 4 + ["0.5"] * 4


def test_cli_sweep(config, tmp_path):
    out = tmp_path / "cli"
    rc = main(["sweep", str(config), "--grid", "train.eta=1e-2,3e-2", "--seeds", "0:3",
               "--modes", "exact,euler", "--out", str(out), "--no-progress"])
    assert rc == 0
    rows = _read_csv(out / "sweep.csv")
    assert len(rows) == 6 and {"final_loss_exact", "final_loss_euler", "seed"} <= set(rows[0])
    assert main(["sweep", str(config), "--modes", "exact,bogus", "--out", str(tmp_path / "x")]) == 2


def test_dask_local_cluster_equals_in_process_and_survives_killed_worker(config, tmp_path):
    from dask import distributed  # required: install overlapflow[test,dask]

    kw = dict(grid=["train.eta=1e-2,3e-2"], seeds=range(8), modes=("exact",), chunk_size=2,
              progress=False)
    ref = run_sweep(config, tmp_path / "ref", **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        # the tcp://HOST:PORT path, against the in-process numbers
        res = run_sweep(config, tmp_path / "d", scheduler=cluster.scheduler_address, **kw)
        assert res.complete and not res.failed
        np.testing.assert_array_equal(_runs(tmp_path / "d")["loss_exact"],
                                      _runs(tmp_path / "ref")["loss_exact"])
        with distributed.Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
            killed = []

            def kill_one(chunk_id, done, total):
                if not killed:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(chunk_id)

            first = run_sweep(config, tmp_path / "k", client=client, on_chunk=kill_one, **kw)
            assert killed
            second = run_sweep(config, tmp_path / "k", client=client, **kw)
    assert second.complete
    assert len(first.ran) + len(second.ran) == ref.n_chunks
    np.testing.assert_array_equal(_runs(tmp_path / "k")["loss_exact"],
                                  _runs(tmp_path / "ref")["loss_exact"])
    assert ref.ran and res.ran


@pytest.mark.parametrize("kind", ["impulse_exp", "noise_filter"])
def test_lane_groups_and_threads_equal_one_group(kind):
    # closed form (impulse) and stepped loss alike: 7 runs in groups of 3 (the last padded)
    # on 2 threads give the numbers of all 7 in one group on one thread.
    spec = of.NetworkSpec(N=40, rank=1, dt=0.1)
    task = of.make_task(kind, dt=0.1, t_max=2.0, n_in=1, n_out=1)
    sig = np.stack([(lambda X: X.T @ X / 40)(np.asarray(of.random_vectors(spec, seed=s)))
                    for s in range(7)])
    kw = dict(spec=spec, task=task, loss_kind="sum_dt", mode="exact", epochs=15)
    one = _batched.batched_overlap_runs(sig, 2e-2, 0, lanes=7, threads=1, **kw)
    grouped = _batched.batched_overlap_runs(sig, 2e-2, 0, lanes=3, threads=2, **kw)
    assert [a.shape for a in grouped] == [(16, 7), (16, 4, 4, 7), (16, 7)]
    np.testing.assert_allclose(grouped[0], one[0], rtol=1e-13, atol=0)
    np.testing.assert_allclose(grouped[1], one[1], rtol=0, atol=1e-13)
    assert not grouped[2].any()
    assert one[0][-1].max() < 0.9 * one[0][0].min()  # the runs learn
    with pytest.raises(of.ConfigError, match="lanes must be a positive integer"):
        _batched.batched_overlap_runs(sig, 2e-2, 0, lanes=0, **kw)


def test_lanes_per_group_fits_the_closed_form_in_cache():
    spec1 = of.NetworkSpec(N=40, rank=1, dt=0.1)
    exp = of.make_task("impulse_exp", dt=0.1, t_max=2.0, n_in=1, n_out=1)
    assert _batched.lanes_per_group(spec1, exp, "sum_dt") == 128  # K̃ = 3: 8·27·128 = 27 KiB
    spec2 = of.NetworkSpec(N=40, rank=2, dt=0.1)
    cos = of.make_task("impulse_damped_cos", dt=0.1, t_max=2.0, n_in=1, n_out=1)
    assert _batched.lanes_per_group(spec2, cos, "sum_dt") == 32  # K̃ = 5: 8·125·32 = 31 KiB
    assert _batched.lanes_per_group(spec1, exp, "masked_mean") == _batched.STEPPED_LANES


def _drawn_figures(monkeypatch) -> list:
    """The matplotlib Figures saved while the test runs (each one also written as usual)."""
    from matplotlib.figure import Figure

    saved, save = [], Figure.savefig

    def capture(fig, *args, **kwargs):
        saved.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    return saved


def test_sweep_figure_shows_final_loss_against_each_grid_key(config, tmp_path, monkeypatch):
    figures = _drawn_figures(monkeypatch)
    out = tmp_path / "s"
    run_sweep(config, out, grid=["task.decay=0.2,0.5", "train.eta=1e-2,4e-2"], seeds=range(3),
              modes=("exact", "euler"), progress=False)
    assert (out / "sweep.png").stat().st_size > 10_000
    (fig,) = figures
    axes = fig.axes
    assert [ax.get_xlabel() for ax in axes] == [
        "target decay rate (task.decay, 1 / time unit)", "learning rate η (train.eta)",
        "final loss (sum_dt, after 12 epochs)"]
    assert [ax.get_ylabel() for ax in axes] == ["final loss (sum_dt, after 12 epochs)"] * 2 + ["runs"]
    assert "12 runs (task.decay × train.eta; 3 seeds per point)" in fig.get_suptitle()
    assert axes[0].get_title() == "median and 10–90 % range over seeds and the other keys"
    # the line of a mode is the median, over seeds and the other key, of sweep.csv's final loss
    rows = _read_csv(out / "sweep.csv")
    for ax, key in zip(axes, ("task.decay", "train.eta")):
        levels = sorted({float(r[key]) for r in rows})
        line = next(ln for ln in ax.get_lines() if ln.get_label() == "overlap: exact map")
        np.testing.assert_allclose(line.get_xdata(), levels)
        want = [np.median([float(r["final_loss_exact"]) for r in rows if float(r[key]) == v])
                for v in levels]
        np.testing.assert_allclose(line.get_ydata(), want, rtol=1e-12)
    legend = [t.get_text() for t in axes[2].get_legend().get_texts()]
    assert legend == ["overlap: exact map", "overlap: Euler step"]


def test_sweep_figure_without_a_grid_is_the_histogram_and_needs_matplotlib(
        config, tmp_path, monkeypatch, capsys):
    figures = _drawn_figures(monkeypatch)
    out = tmp_path / "s"
    run_sweep(config, out, seeds=range(5), modes=("exact",), progress=False)
    (fig,) = figures
    (ax,) = fig.axes
    assert ax.get_xlabel() == "final loss (sum_dt, after 12 epochs)" and ax.get_ylabel() == "runs"
    assert "5 runs (no grid; 5 seeds per point)" in fig.get_suptitle()
    (hist,) = ax.patches  # one step histogram: its outline rises and falls over the 5 runs
    assert 1 <= hist.get_xy()[:, 1].max() <= 5
    # the same sweep again (nothing to compute) without matplotlib: the numbers, and a note
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    assert main(["sweep", str(config), "--seeds", "0:5", "--out", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert (out / "sweep.csv").is_file() and not (out / "sweep.png").exists()
    assert ("sweep.png not drawn: matplotlib is not installed (pip install "
            "\"overlapflow[plots]\")") in captured.err
    assert captured.out.strip().endswith("wrote " + str(out) + "/sweep.csv, runs.npz")


def test_sweep_refuses_keys_every_grid_point_ignores(config, tmp_path):
    config.write_text(config.read_text().replace("epochs = 12", "epochs = 12\nmomentum = 0.5"))
    with pytest.raises(of.ConfigError, match="train.momentum is ignored by optimizer 'gd'"):
        run_sweep(config, tmp_path / "a", seeds=range(1), progress=False)
    with pytest.raises(of.ConfigError, match="at every grid point, train.momentum is ignored"):
        run_sweep(config, tmp_path / "b", grid=['train.optimizer="gd","colnorm"'],
                  seeds=range(1), progress=False)
    # a grid that uses it at some points: the others leave it out
    result = run_sweep(config, tmp_path / "c", grid=['train.optimizer="gd","momentum"'],
                       seeds=range(2), progress=False)
    rows = _read_csv(tmp_path / "c" / "sweep.csv")
    assert result.complete and [r["train.optimizer"] for r in rows] == ["gd"] * 2 + ["momentum"] * 2
    plan = json.loads((tmp_path / "c" / "plan.json").read_text())["resolved_configs"]
    assert [p["config"]["train"]["momentum"] for p in plan] == [0.9, 0.5]  # gd: the default
