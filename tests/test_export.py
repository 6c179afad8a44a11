"""Exporting networks (docs/theory.md §11.1): a network written in an import preset's
convention comes back from `import_network` with the same preset; the torch-rnn state dict
loaded into torch.nn.RNN + Linear gives overlapflow's outputs (float64); what a preset cannot
hold is refused in one line, with nothing written."""

import numpy as np
import pytest

import overlapflow as of
from overlapflow import ConfigError, export_network, import_network, load_network, network_inputs

torch = pytest.importorskip("torch")


def _network(N, R, seed, phi="tanh", dt=1.0, bias=True, n_in=2, n_out=2):
    """A random network imported from overlapflow's own arrays (a bias channel if asked)."""
    rng = np.random.default_rng(seed)
    arrays = {"m": rng.standard_normal((N, n_in)), "u": rng.standard_normal((N, R)),
              "v": rng.standard_normal((N, R)), "z": rng.standard_normal((N, n_out))}
    if bias:
        arrays["b"] = 0.3 * rng.standard_normal(N)
    return import_network(arrays, phi=phi, dt=dt)


def _outputs(net, x):
    return np.asarray(of.network_outputs(net.X, network_inputs(net, x), net.spec))


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("N, R, seed", [(30, 1, 0), (80, 3, 1)])
@pytest.mark.parametrize("preset", ["overlapflow", "paper"])
def test_round_trip_gives_the_same_network(tmp_path, preset, N, R, seed):
    net = _network(N, R, seed, phi="erf", dt=0.1)
    path = tmp_path / "model.pt"
    written = export_network(net, preset=preset, path=path)
    state = torch.load(path, weights_only=True)
    assert set(state) == set(written)
    assert all(v.dtype == torch.float64 for v in state.values() if isinstance(v, torch.Tensor))
    kw = {"phi": "erf", "dt": 0.1} if preset == "paper" else {}
    back = import_network(path, fmt="torch", preset=preset, **kw)
    assert back.spec == net.spec and back.channels == net.channels
    assert np.max(np.abs(back.X - net.X)) <= 1e-12 * np.max(np.abs(net.X))
    assert back.output_lead == (1 if preset == "paper" else 0)
    # .npz works the same way
    export_network(net, preset=preset, path=tmp_path / "model.npz")
    again = import_network(tmp_path / "model.npz", preset=preset, **kw)
    np.testing.assert_array_equal(again.X, back.X)


@pytest.mark.parametrize("N, R, seed, phi", [(30, 1, 2, "tanh"), (80, 3, 3, "relu")])
def test_torch_rnn_export_runs_in_torch_and_comes_back(tmp_path, N, R, seed, phi):
    net = _network(N, R, seed, phi=phi, dt=1.0)
    path = tmp_path / "rnn.pt"
    export_network(net, preset="torch-rnn", path=path)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.RNN(2, N, nonlinearity=phi, batch_first=True, dtype=torch.float64)
            self.readout = torch.nn.Linear(N, 2, dtype=torch.float64)

        def forward(self, x):
            return self.readout(self.rnn(x)[0])

    model = Model()
    model.load_state_dict(torch.load(path, weights_only=True))  # strict: every key matches
    x = np.random.default_rng(seed).standard_normal((3, 40, 2))
    with torch.no_grad():
        y_torch = model(torch.from_numpy(x)).numpy()
    assert _rel(_outputs(net, x), y_torch) <= 1e-12
    back = import_network(path, fmt="torch", preset="torch-rnn", rank=R, phi=phi)
    assert back.spec == net.spec and back.channels == net.channels
    spec = net.spec
    for part in (spec.m, spec.z):
        np.testing.assert_allclose(back.X[:, part], net.X[:, part], rtol=0, atol=1e-12)
    W = net.X[:, spec.u] @ net.X[:, spec.v].T
    W_back = back.X[:, spec.u] @ back.X[:, spec.v].T
    assert np.max(np.abs(W_back - W)) <= 1e-12 * np.max(np.abs(W))
    assert _rel(_outputs(back, x), y_torch) <= 1e-12


def test_export_refuses_what_the_preset_cannot_hold(tmp_path, capsys):
    from overlapflow.cli import main

    out = tmp_path / "model.pt"
    with pytest.raises(ConfigError, match="torch-rnn needs dt = 1 .* this network has dt = 0.1"):
        export_network(_network(10, 1, 0, dt=0.1), preset="torch-rnn", path=out)
    with pytest.raises(ConfigError, match="torch-rnn needs φ = tanh or relu .* φ = erf"):
        export_network(_network(10, 1, 0, phi="erf"), preset="torch-rnn", path=out)
    rng = np.random.default_rng(5)
    with_h0 = import_network({k: rng.standard_normal(10) for k in ("m", "u", "v", "z", "h0")},
                             phi="tanh", dt=0.5)
    assert with_h0.channels[-1] == "h0"
    for preset in ("overlapflow", "paper", "torch-rnn"):
        with pytest.raises(ConfigError, match="has an h0 channel"):
            export_network(with_h0, preset=preset, path=out)
    with pytest.raises(ConfigError, match="unknown export preset 'keras'"):
        export_network(_network(10, 1, 0), preset="keras")
    assert not out.exists()
    # the command line: one line, exit 2, nothing written; --overwrite as for import
    of.write_network(tmp_path / "net.npz", with_h0)
    of.write_network(tmp_path / "ok.npz", _network(12, 2, 6))
    for args, message in (
        (["net.npz", "--out", "model.pt"], "has an h0 channel"),
        (["ok.npz", "--preset", "torch-rnn", "--out", "model.onnx"], "must end in .pt, .pth"),
        (["missing.npz", "--out", "model.pt"], "network file"),
        (["ok.npz", "--out", "nofolder/model.pt"], "does not exist"),
    ):
        argv = ["export", *[str(tmp_path / a) if a.endswith((".npz", ".pt", ".onnx")) else a
                            for a in args]]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
        assert not out.exists() and not (tmp_path / "model.onnx").exists()
    argv = ["export", str(tmp_path / "ok.npz"), "--preset", "torch-rnn", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}: rnn.weight_ih_l0 (12, 2), rnn.weight_hh_l0 (12, 12)" in text
    assert "--preset torch-rnn --rank 2 --phi tanh" in text
    assert main(argv) == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    back = import_network(out, fmt="torch", preset="torch-rnn", rank=2)
    assert back.spec == load_network(tmp_path / "ok.npz").spec
