"""`overlapflow compare`: files written, bad input → one-line error and exit 2, divergence and
interruption leave valid files."""

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import overlapflow as of
from overlapflow.cli import main
from overlapflow.internal import learn_loop as _loop

BASE = {
    "network": "N = 40\nrank = 1\nphi = \"linear\"\ndt = 0.1",
    "init": "seed = 3",
    "task": "kind = \"impulse_exp\"\nt_max = 3.0\ndecay = 0.3",
    "loss": "kind = \"sum_dt\"",
    "train": "eta = 0.01\nepochs = 30\nmodes = [\"theta\", \"exact\", \"euler\", \"direct\"]",
}


def write_config(tmp_path, name="cfg.toml", **tables):
    parts = {**BASE, **tables}
    text = "\n".join(f"[{k}]\n{textwrap.dedent(v)}\n" for k, v in parts.items() if v is not None)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_compare_writes_results_summary_and_figure(tmp_path):
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    assert main(["compare", str(cfg), "--out", str(out), "--no-progress"]) == 0
    with np.load(out / "results.npz", allow_pickle=False) as r:
        assert list(r["names"]) == ["m", "u", "v", "z"]
        np.testing.assert_array_equal(r["epochs"], np.arange(31))
        for mode in ("theta", "exact", "euler", "direct"):
            assert r[f"loss_{mode}"].shape == (31,)
            assert r[f"sigma_{mode}"].shape == (31, 4, 4)
        np.testing.assert_allclose(r["sigma_exact"], r["sigma_theta"], rtol=0, atol=1e-12)
        s0 = r["sigma_theta"][0]
    np.testing.assert_allclose(np.diag(s0), 1.0, atol=1e-14)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == {"init": 3, "task": 0}
    assert summary["config"]["task"]["decay"] == 0.3
    assert summary["max_rel_loss_diff"]["exact"] < 1e-10
    assert summary["max_rel_loss_diff"]["direct"] > 1e-4
    assert summary["diverged"] == {m: None for m in ("theta", "exact", "euler", "direct")}
    assert set(summary["compiled_time_s"]) == {"theta", "exact", "euler", "direct"}
    assert all(v is None for v in summary["compiled_time_s"].values())
    assert (out / "compare.png").stat().st_size > 10_000


def test_init_sigma_from_file_is_realised_exactly(tmp_path):
    sigma = np.array([[1.0, 0.2, 0.1, 0.0], [0.2, 1.5, 0.3, 0.1],
                      [0.1, 0.3, 0.8, 0.2], [0.0, 0.1, 0.2, 1.1]])
    np.save(tmp_path / "s.npy", sigma)
    cfg = write_config(tmp_path, init='sigma = "s.npy"\nseed = 1',
                       train='eta = 0.01\nepochs = 5\nmodes = ["theta", "exact"]')
    out = tmp_path / "o"
    assert main(["compare", str(cfg), "--out", str(out), "--no-progress"]) == 0
    with np.load(out / "results.npz") as r:
        np.testing.assert_allclose(r["sigma_theta"][0], sigma, rtol=0, atol=1e-13)


def _arrays_file(tmp_path, x, y, mask=None):
    arrays = {"x": x, "y": y} if mask is None else {"x": x, "y": y, "mask": mask}
    np.savez(tmp_path / "d.npz", **arrays)
    return 'kind = "arrays"\nfile = "d.npz"'


BAD = [
    ({"task": 'kind = "nope"\nt_max = 3.0'}, "unknown task kind 'nope'"),
    ({"train": "eta = 0.01\nepochs = 0"}, r"train.epochs must be >= 1 \(got 0\)"),
    ({"train": "eta = -0.1\nepochs = 5"}, r"train.eta must be > 0 \(got -0.1\)"),
    ({"train": "eta = 0.1\nepochs = 5\nmodes = [\"theta\", \"warp\"]"}, "unknown mode 'warp'"),
    ({"network": "N = 40\nrank = 1\nspeed = 3"}, "unknown key 'speed' in \\[network\\]; valid: N, dt"),
    ({"loss": 'kind = "l1"'}, "unknown loss kind 'l1'"),
    ({"task": 'kind = "flip_flop"'}, "flip_flop: t_max is required"),
    ({"init": 'sigma = "missing.npy"'}, "does not exist"),
]


@pytest.mark.parametrize("tables,message", BAD)
def test_bad_config_one_line_error_exit_2(tmp_path, capsys, tables, message):
    cfg = write_config(tmp_path, **tables)
    out = tmp_path / "out"
    assert main(["compare", str(cfg), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("overlapflow: error:")
    assert re.search(message, err), err
    assert not (out / "results.npz").exists()


@pytest.mark.parametrize(
    "sigma,message",
    [(np.eye(3), r"shape \(4, 4\)"),
     (np.array([[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]), "not symmetric"),
     (np.diag([1.0, 1.0, -0.5, 1.0]), r"not positive semi-definite \(smallest eigenvalue -0.5\)"),
     (np.diag([1.0, np.inf, 1.0, 1.0]), "NaN or inf")],
)
def test_bad_sigma_file(tmp_path, capsys, sigma, message):
    np.save(tmp_path / "s.npy", sigma)
    cfg = write_config(tmp_path, init='sigma = "s.npy"')
    assert main(["compare", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize(
    "make,message",
    [(lambda: (np.zeros((10, 2)), np.zeros((10, 1))), "x has 2 input channels but n_in=1"),
     (lambda: (np.zeros((10, 1)), np.zeros((9, 1))), r"x and y must share \(B, T\)"),
     (lambda: (np.full((10, 1), np.nan), np.zeros((10, 1))), "x contains NaN or inf"),
     (lambda: (np.zeros((10, 1)), np.full((10, 1), np.inf)), "y contains NaN or inf")],
)
def test_bad_arrays_task(tmp_path, capsys, make, message):
    x, y = make()
    task = _arrays_file(tmp_path, x, y)
    cfg = write_config(tmp_path, task=task)
    assert main(["compare", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1


def test_arrays_task_runs_and_matches(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 25, 1))
    y = np.cumsum(x, axis=1) * 0.05
    task = _arrays_file(tmp_path, x, y)
    cfg = write_config(tmp_path, task=task, loss='kind = "masked_mean"',
                       train='eta = 0.2\nepochs = 20\nmodes = ["theta", "exact"]')
    out = tmp_path / "o"
    assert main(["compare", str(cfg), "--out", str(out), "--no-progress"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["max_rel_loss_diff"]["exact"] < 1e-10


def test_divergence_is_reported_and_files_valid(tmp_path):
    cfg = write_config(tmp_path, train='eta = 40.0\nepochs = 50\nmodes = ["theta", "exact"]')
    out = tmp_path / "o"
    assert main(["compare", str(cfg), "--out", str(out), "--no-progress"]) == 0
    s = json.loads((out / "summary.json").read_text())
    d = s["diverged"]["exact"]
    assert isinstance(d, int) and 0 < d < 50
    with np.load(out / "results.npz") as r:
        loss = r["loss_exact"]
        assert np.all(np.isfinite(loss[:d])) and np.all(np.isnan(loss[d + 1:]))


def test_interrupted_run_keeps_computed_epochs(tmp_path, monkeypatch):
    class InterruptingBar:
        calls = 0

        def update(self, n=1):
            InterruptingBar.calls += 1
            if InterruptingBar.calls == 3:
                raise KeyboardInterrupt

    import contextlib

    @contextlib.contextmanager
    def fake_bar(**kwargs):
        yield InterruptingBar()

    monkeypatch.setattr(_loop, "progress_bar", fake_bar)
    # 4000 epochs: four chunks of the closed-form exact mode (1024 each), Ctrl-C in the third
    cfg = write_config(tmp_path, train='eta = 0.01\nepochs = 4000\nmodes = ["exact", "theta"]')
    out = tmp_path / "o"
    assert main(["compare", str(cfg), "--out", str(out)]) == 130
    s = json.loads((out / "summary.json").read_text())
    stop = s["interrupted"]["exact"]
    assert stop is not None and 0 < stop < 4001
    assert s["modes"] == ["exact"]  # the comparison stops at the interrupted mode
    with np.load(out / "results.npz") as r:
        assert np.all(np.isfinite(r["loss_exact"][:stop]))
        assert np.all(np.isnan(r["loss_exact"][stop:]))


def test_cli_subprocess_exit_code_and_no_traceback(tmp_path):
    cfg = write_config(tmp_path, train="eta = 0.0\nepochs = 5")
    proc = subprocess.run([sys.executable, "-m", "overlapflow", "compare", str(cfg), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "overlapflow: error: train.eta must be > 0 (got 0.0)"


def test_config_from_dict_unknown_table():
    with pytest.raises(of.ConfigError, match="unknown key 'optim' in \\[top level\\]"):
        of.config_from_dict({"optim": {}})


def test_every_example_config_loads():
    # The shipped configs pass the boundary validation (files they name exist, keys valid).
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "examples"
    configs = sorted(root.rglob("*.toml"))
    assert len(configs) >= 7
    for path in configs:
        cfg = of.load_config(path)
        assert cfg.train.epochs >= 1 and cfg.network.P >= 4, path


def test_compare_set_replaces_and_adds_config_keys(tmp_path):
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    assert main(["compare", str(cfg), "--out", str(out), "--no-progress",
                 "--set", "train.epochs=4", "--set", "task.decay=0.5",
                 "--set", 'train.modes=["theta", "exact"]', "--set", "train.optimizer=momentum",
                 "--set", "train.momentum=0.25"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["task"]["decay"] == 0.5 and summary["config"]["train"]["epochs"] == 4
    assert summary["config"]["train"]["momentum"] == 0.25
    assert summary["modes"] == ["theta", "exact"]
    with np.load(out / "results.npz", allow_pickle=False) as r:
        assert r["loss_exact"].shape == (5,)
        np.testing.assert_allclose(r["loss_exact"], r["loss_theta"], rtol=1e-10)


SET_BAD = [
    (["--set", "train.epoch=4"], "unknown key 'epoch' in [train] (did you mean 'epochs'?); valid: "),
    (["--set", "trian.eta=0.1"], "--set trian.eta: unknown table [trian] (did you mean 'train'?); "
     "valid: network, init, task, loss, train"),
    (["--set", "eta=0.1"], "--set 'eta=0.1' must look like table.key=value (e.g. train.eta=0.01)"),
    (["--set", "train.eta="], "must look like table.key=value"),
    (["--set", "train.eta=0.1", "--set", "train.eta=0.2"], "--set train.eta is given twice"),
    (["--set", "train.eta=-1"], "train.eta must be > 0 (got -1)"),
    (["--set", "train.momentum=0.5"], "train.momentum is ignored by optimizer 'gd' (only "
     "'momentum' and 'nesterov' use it)"),
]


@pytest.mark.parametrize("args,message", SET_BAD)
def test_compare_set_errors_are_one_line_exit_2(tmp_path, capsys, args, message):
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    assert main(["compare", str(cfg), "--out", str(out), "--no-progress", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("overlapflow: error:")
    assert message in err, err
    assert not out.exists()


CONFIG_BAD = [
    # a misspelt key is reported as such, not as the key it stands for
    ({"train": "eta = 0.01\nepoch = 10"},
     "unknown key 'epoch' in [train] (did you mean 'epochs'?); valid: clip_norm, dtype, epochs, "),
    ({"train": "eta = 0.01\nepochs = 10\nepoch = 10\nlimit_node = 3"},
     "unknown keys 'epoch', 'limit_node' in [train] (did you mean 'epochs' for 'epoch', "
     "'limit_nodes' for 'limit_node'?)"),
    ({"task": 'knd = "impulse_exp"\nt_max = 3.0'}, "unknown key 'knd' in [task] (did you mean 'kind'?)"),
    ({"task": 'kind = "impulse_exp"\nt_max = 3.0\ndecya = 0.3'},
     "unknown key 'decya' in [task] (did you mean 'decay'?); valid: amplitude, decay, kind, "),
    # keys that the chosen rule or start ignores
    ({"train": "eta = 0.01\nepochs = 5\nmomentum = 0.5"},
     "train.momentum is ignored by optimizer 'gd' (only 'momentum' and 'nesterov' use it): "
     "remove it or choose one of those optimizers"),
    ({"train": 'eta = 0.01\nepochs = 5\noptimizer = "adam"\nmodes = ["theta"]\nmomentum = 0.5'},
     "train.momentum is ignored by optimizer 'adam'"),
    ({"train": 'eta = 0.01\nepochs = 5\noptimizer = "colnorm"\nmomentum = 0.9'},
     "train.momentum is ignored by optimizer 'colnorm'"),
    ({"train": "eta = 0.01\nepochs = 5\nnoise_seed = 3"},
     "train.noise_seed is ignored without weight noise (noise_temperature = 0)"),
]


@pytest.mark.parametrize("tables,message", CONFIG_BAD)
def test_config_errors_name_the_key_the_user_wrote(tmp_path, capsys, tables, message):
    cfg = write_config(tmp_path, **tables)
    assert main(["compare", str(cfg), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err


def test_config_refuses_a_seed_beside_init_vectors(tmp_path):
    rng = np.random.default_rng(0)
    net = of.import_network({k: rng.standard_normal((20, 1)) for k in "muvz"}, phi="linear", dt=0.1)
    of.write_network(tmp_path / "net.npz", net)
    raw = {"init": {"vectors": "net.npz", "seed": 1},
           "task": {"kind": "impulse_exp", "t_max": 2.0}, "train": {"eta": 0.01, "epochs": 3}}
    with pytest.raises(of.ConfigError, match="init.seed is ignored by an init.vectors start"):
        of.config_from_dict(raw, tmp_path)
    del raw["init"]["seed"]
    assert of.config_from_dict(raw, tmp_path).network.N == 20
    # the rule's own keys are accepted where they are used
    raw["train"].update(optimizer="nesterov", momentum=0.5, noise_temperature=0.01, noise_seed=2)
    rule = of.config_from_dict(raw, tmp_path).train.rule
    assert (rule.momentum, rule.noise_seed) == (0.5, 2)


_HELP_IMPORTS = """
import sys
from overlapflow.cli import main
for argv in ([], ["--help"], ["--version"], *[[c, "--help"] for c in sys.argv[1:]]):
    try:
        main(argv)
    except SystemExit:
        pass
print("heavy modules imported:", [m for m in ("jax", "jaxlib", "optax", "diffrax", "matplotlib", "numpy",
                                            "scipy") if m in sys.modules])
"""


def test_help_and_version_import_neither_jax_nor_matplotlib():
    import argparse

    from overlapflow.cli import build_parser

    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    proc = subprocess.run([sys.executable, "-c", _HELP_IMPORTS, *sub.choices],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: overlapflow compare" in proc.stdout and "--set TABLE.KEY=VALUE" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "heavy modules imported: []"
