"""`overlapflow inspect`: report, inspect.json and the metric figure (docs/theory.md §4–§6)."""

import json
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import overlapflow as of  # noqa: E402
from overlapflow.cli import main  # noqa: E402

FIG1 = Path(__file__).resolve().parents[1] / "examples" / "fig1.toml"


def _decay_kw():
    return "decay" if "decay" in of.task_parameters("impulse_exp") else "c"


def test_inspect_fig1_writes_json_and_figure(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["inspect", str(FIG1), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "42 of 100 entries structurally zero" in text
    assert "J1 = diag(m: -1, u: -1, v: +1, z: +1)" in text
    report = json.loads((out / "inspect.json").read_text())
    assert report["names"] == ["mm", "mu", "vm", "zm", "uu", "vu", "zu", "vv", "zv", "zz"]
    assert sorted(report["visible"]) == ["vm", "vu", "zm", "zu"]
    assert sorted(report["invisible"]) == ["mm", "mu", "uu", "vv", "zv", "zz"]
    assert report["reachable_dimension"] == 6 and report["metric_structural_zeros"] == 42
    np.testing.assert_array_equal(report["conserved_forms"], [np.diag([-1.0, -1, 1, 1])])
    # Values against an independent computation from the config's initial vectors.
    sigma = np.asarray(of.overlaps(of.initial_vectors(of.load_config(FIG1))))
    assert abs(report["values"]["zm"] - sigma[0, 3]) <= 1e-14
    J = np.diag([-1.0, -1, 1, 1])
    inv = report["invariant_values"][0]
    np.testing.assert_allclose(inv["trace"], np.trace(sigma @ J), atol=1e-13)
    np.testing.assert_allclose(inv["spectrum"], np.sort(np.linalg.eigvals(sigma @ J).real),
                               atol=1e-12)
    G = np.array(report["metric"])
    assert G.shape == (10, 10)
    # dσ_vm/dt = −η (σ_mm + σ_vv) ∂L/∂σ_vm + …;  dσ_mm/dt = −4η σ_mm ∂L/∂σ_mm + …
    assert abs(G[2, 2] - (sigma[0, 0] + sigma[2, 2])) <= 1e-14
    assert abs(G[0, 0] - 4 * sigma[0, 0]) <= 1e-14
    png = (out / "metric.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def _write_vectors(path, X, spec, drop=None):
    M, U, V, Z = (np.asarray(a) for a in of.split_vectors(X, spec))
    arrays = dict(M=M, U=U, V=V, Z=Z)
    if drop:
        arrays.pop(drop)
    np.savez(path, **arrays)


def test_inspect_saved_vectors(tmp_path, capsys):
    cfg = of.load_config(FIG1)
    sigma = np.asarray(of.overlaps(of.initial_vectors(cfg)))
    twin = of.equivalent_twin(sigma, cfg.network, {"uu": 2.05, "mu": 0.8})
    X = of.realise_vectors(twin, 25, seed=0)
    _write_vectors(tmp_path / "net.npz", X, cfg.network)
    assert main(["inspect", str(FIG1), "--vectors", str(tmp_path / "net.npz"),
                 "--out", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "inspect.json").read_text())
    assert report["network"]["N"] == 25
    np.testing.assert_allclose(report["sigma"], twin, atol=1e-12)
    assert "N=25" in capsys.readouterr().out


def test_inspect_bad_inputs_exit_2(tmp_path, capsys):
    cfg = of.load_config(FIG1)
    X = of.random_vectors(cfg.network.with_N(20), seed=0)
    _write_vectors(tmp_path / "noz.npz", X, cfg.network, drop="Z")
    assert main(["inspect", str(FIG1), "--vectors", str(tmp_path / "noz.npz")]) == 2
    assert "missing Z" in capsys.readouterr().err
    np.savez(tmp_path / "wide.npz", M=np.ones((20, 2)), U=np.ones((20, 1)),
             V=np.ones((20, 1)), Z=np.ones((20, 1)))
    assert main(["inspect", str(FIG1), "--vectors", str(tmp_path / "wide.npz")]) == 2
    assert "array M must have shape (N, 1)" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_inspect_erf_reports_no_conserved_form(tmp_path, capsys):
    toml = tmp_path / "erf.toml"
    toml.write_text(
        '[network]\nN = 40\nphi = "erf"\n[task]\nkind = "impulse_exp"\nt_max = 1.0\n'
        f"{_decay_kw()} = 0.2\n[train]\neta = 0.01\nepochs = 10\n"
    )
    assert main(["inspect", str(toml), "--out", str(tmp_path / "o")]) == 0
    assert "conserved quadratic forms: none" in capsys.readouterr().out
    report = json.loads((tmp_path / "o" / "inspect.json").read_text())
    assert report["conserved_forms"] == [] and report["invariant_values"] == []
    assert report["reachable_dimension"] == 10 and report["independent_invariants"] == 0
    assert sorted(report["invisible"]) == ["vv", "zv", "zz"]


def test_inspect_set_changes_the_config_it_inspects(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["inspect", str(FIG1), "--set", "network.phi=erf", "--set", "init.seed=4",
                 "--set", "network.N=60", "--out", str(out)]) == 0
    assert "conserved quadratic forms: none" in capsys.readouterr().out
    report = json.loads((out / "inspect.json").read_text())
    assert report["network"]["N"] == 60 and report["network"]["phi"] == "erf"
    assert report["resolved_config"]["init"]["seed"] == 4
    cfg = of.config_from_dict({"network": {"N": 60, "phi": "erf"}, "init": {"seed": 4},
                               "task": {"kind": "impulse_exp", "t_max": 20.0, "decay": 0.2},
                               "train": {"eta": 5e-3, "epochs": 2000}})
    sigma = np.asarray(of.overlaps(of.initial_vectors(cfg)))
    assert abs(report["values"]["zm"] - sigma[0, 3]) <= 1e-14
    # the rule of --set train.* is the one reported; a key it ignores is refused
    assert main(["inspect", str(FIG1), "--set", "train.optimizer=nesterov",
                 "--set", "train.momentum=0.5", "--set", 'train.modes=["theta", "exact"]']) == 0
    assert "learning rule: nesterov (momentum=0.5)" in capsys.readouterr().out
    assert main(["inspect", str(FIG1), "--set", "train.momentum=0.5"]) == 2
    assert "train.momentum is ignored by optimizer 'gd'" in capsys.readouterr().err
    assert main(["inspect", str(FIG1), "--set", "network.rnak=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("overlapflow: error: unknown key 'rnak' in [network] (did you mean 'rank'?); "
                   "valid: N, dt, n_in, n_out, phi, rank")


def test_inspect_names_an_imported_networks_bias_channel(tmp_path, capsys):
    """`inspect --vectors net.npz` of an imported network with a bias names its overlaps
    σ_v·bias, σ_z·bias (not σ_vm2, σ_zm2)."""
    import numpy as np

    rng = np.random.default_rng(0)
    N = 200
    np.savez(tmp_path / "src.npz", **{k: rng.standard_normal((N, 1)) for k in "muvz"},
             b=rng.standard_normal(N))
    net = tmp_path / "net.npz"
    assert main(["import", str(tmp_path / "src.npz"), "--phi", "linear", "--dt", "0.1",
                 "--out", str(net)]) == 0
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[network]\nN = 200\nrank = 1\nn_in = 2\nn_out = 1\nphi = "linear"\n'
                   'dt = 0.1\n[task]\nkind = "impulse_exp"\nt_max = 5.0\n'
                   '[train]\neta = 0.01\nepochs = 10\n')
    capsys.readouterr()
    assert main(["inspect", str(cfg), "--vectors", str(net)]) == 0
    out = capsys.readouterr().out
    assert "σ_v·bias" in out and "σ_z·bias" in out
    assert "σ_vm2" not in out and "σ_zm2" not in out
