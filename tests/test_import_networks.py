"""Importing networks (docs/theory.md §11): every built-in mapping checked against the source
network run in torch itself (float64), with biases and h₀ ≠ 0; the network file round trip;
bad input refused with one line."""

import math
import re

import numpy as np
import pytest

import overlapflow as of
from overlapflow import (
    ConfigError,
    SourceChannelsTask,
    import_network,
    load_network,
    network_inputs,
    write_network,
)
from overlapflow.internal import check_task_for

torch = pytest.importorskip("torch")

REL = 1e-10  # outputs of the imported network vs the source run in torch, relative to max |y|


def _phi_torch(name):
    return {
        "linear": lambda x: x,
        "tanh": torch.tanh,
        "erf": lambda x: torch.erf(0.5 * math.sqrt(math.pi) * x),
        "softplus": torch.nn.functional.softplus,
        "relu": torch.relu,
    }[name]


def _of_outputs(net, x):
    """overlapflow's own network (JAX, float64) on the source's inputs x (B, T, n)."""
    return np.asarray(of.network_outputs(net.X, network_inputs(net, x), net.spec))


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


class PaperRNN(torch.nn.Module):
    """The paper's RNN: h ← h + (dt/τ)(−h + u vᵀφ(h)/N + m x [+ b]), readout z·φ(h_t)/N BEFORE
    the update; h starts at h0 (a buffer-free extra parameter here, 0 in the paper)."""

    def __init__(self, N, phi, dt, tau, bias=False, h0=False, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        for name in "muvz":
            setattr(self, name, torch.nn.Parameter(torch.randn(N, 1, generator=g, dtype=torch.float64)))
        if bias:
            self.b = torch.nn.Parameter(0.5 * torch.randn(N, generator=g, dtype=torch.float64))
        if h0:
            self.h0 = torch.nn.Parameter(torch.randn(N, generator=g, dtype=torch.float64))
        self.N, self.phi, self.alpha = N, _phi_torch(phi), dt / tau

    def forward(self, x):  # x (B, T, 1) → outputs o_0 … o_T (B, T + 1, 1)
        B, T, _ = x.shape
        h = self.h0.expand(B, self.N) if hasattr(self, "h0") else torch.zeros(B, self.N, dtype=x.dtype)
        b = self.b if hasattr(self, "b") else 0.0
        outs = []
        for t in range(T):
            r = self.phi(h)
            outs.append(r @ self.z / self.N)
            h = h + self.alpha * (-h + (r @ self.v) @ self.u.T / self.N + x[:, t] @ self.m.T + b)
        outs.append(self.phi(h) @ self.z / self.N)
        return torch.stack(outs, dim=1)


@pytest.mark.parametrize("phi, bias, h0", [("erf", True, True), ("softplus", True, True),
                                           ("linear", False, False)])
def test_paper_preset_equals_the_source_run_in_torch(tmp_path, phi, bias, h0):
    N, dt, tau = 40, 0.1, 0.4
    model = PaperRNN(N, phi, dt, tau, bias=bias, h0=h0, seed=1)
    path = tmp_path / "paper.pt"
    torch.save(model.state_dict(), path)
    x = torch.randn(3, 25, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        o = model(x).numpy()
    net = import_network(path, fmt="torch", preset="paper", phi=phi, dt=dt, tau=tau)
    assert net.spec.dt == pytest.approx(dt / tau, rel=1e-15)
    assert net.output_lead == 1
    assert net.channels == ("input:0",) + (("bias",) if bias else ()) + (("h0",) if h0 else ())
    # The paper reads out before the update: its output at step t + 1 is overlapflow's at t.
    assert _rel(_of_outputs(net, x.numpy()), o[:, 1:]) <= REL
    assert net.check_error <= REL
    # m, u, v, z are the paper's vectors unchanged (same scaling convention)
    for name, part in (("m", net.spec.m), ("u", net.spec.u), ("v", net.spec.v), ("z", net.spec.z)):
        got = net.X[:, part][:, :1]
        np.testing.assert_array_equal(got, getattr(model, name).detach().numpy())


class GenericRNN(torch.nn.Module):
    """A low-rank RNN with its own conventions: W = −UVᵀ/√N, drive 0.5·M x + b1 + b2, readout
    Zᵀφ(h_{t+1})/√N after the update, τ = 1.5, M and Z stored as torch.nn.Linear weights ((N, n_in) and (n_out, N))."""

    def __init__(self, N, R, n_in, n_out, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)

        def p(*shape, s=1.0):
            return torch.nn.Parameter(s * torch.randn(*shape, generator=g, dtype=torch.float64))

        self.inp = torch.nn.Linear(n_in, N, bias=False).double()
        self.inp.weight = p(N, n_in)
        self.out = torch.nn.Linear(N, n_out, bias=False).double()
        self.out.weight = p(n_out, N)
        self.rec_U, self.rec_V = p(N, R), p(N, R)
        self.bias_a, self.bias_b, self.state0 = p(N, s=0.3), p(N, s=0.3), p(N)
        self.N = N

    def forward(self, x, alpha):
        h = self.state0.expand(x.shape[0], self.N)
        ys = []
        for t in range(x.shape[1]):
            r = torch.tanh(h)
            rec = -(r @ self.rec_V) @ self.rec_U.T / math.sqrt(self.N)
            h = h + alpha * (-h + rec + 0.5 * self.inp(x[:, t]) + self.bias_a + self.bias_b)
            ys.append(self.out(torch.tanh(h)) / math.sqrt(self.N))
        return torch.stack(ys, dim=1)


def test_generic_map_equals_the_source_run_in_torch(tmp_path):
    N, R, n_in, n_out = 30, 2, 2, 3
    model = GenericRNN(N, R, n_in, n_out, seed=3)
    path = tmp_path / "generic.pt"
    torch.save({"epoch": 7, "model_state_dict": model.state_dict()}, path)  # a checkpoint
    (tmp_path / "map.toml").write_text(
        'm = "inp.weight"\nu = "rec_U"\nv = "rec_V"\nz = "out.weight"\n'
        'b = ["bias_a", "bias_b"]\nh0 = "state0"\ntranspose = ["z"]\n'
        'scale_w = "-1/sqrt(N)"\nscale_in = 0.5\nscale_out = "1/sqrt(N)"\n'
        'readout = "after"\nphi = "tanh"\ndt = 0.3\ntau = 1.5\n')
    x = torch.randn(4, 30, n_in, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with torch.no_grad():
        y = model(x, 0.3 / 1.5).numpy()
    net = import_network(path, fmt="torch", map=tmp_path / "map.toml")
    assert (net.spec.n_in, net.spec.rank, net.spec.n_out) == (n_in + 2, R, n_out)
    assert net.output_lead == 0
    assert _rel(_of_outputs(net, x.numpy()), y) <= REL
    # the same map given as a dict, and a lower rank: the truncation is reported, not hidden
    net1 = import_network(path, fmt="torch", map={
        "m": "inp.weight", "u": "rec_U", "v": "rec_V", "z": "out.weight", "transpose": ["z"],
        "scale_w": "-1/sqrt(N)", "scale_in": 0.5, "scale_out": "1/sqrt(N)", "phi": "tanh",
        "alpha": 0.2, "b": ["bias_a", "bias_b"], "h0": "state0"}, rank=1)
    assert net1.spec.rank == 1
    x_check = torch.from_numpy(np.random.default_rng(0).standard_normal((4, 50, n_in)))
    with torch.no_grad():
        err = _rel(_of_outputs(net1, x_check.numpy()), model(x_check, 0.2).numpy())
    assert err > 1e-3
    assert net1.check_error == pytest.approx(err, rel=1e-8)


def _torch_rnn(N, n_in, n_out, R, *, cell=False, nonlinearity="tanh", seed=0):
    """nn.RNN / nn.RNNCell with an exactly rank-R W_hh and a readout Linear without bias."""
    torch.manual_seed(seed)
    rnn = (torch.nn.RNNCell(n_in, N, nonlinearity=nonlinearity) if cell
           else torch.nn.RNN(n_in, N, nonlinearity=nonlinearity, batch_first=True)).double()
    readout = torch.nn.Linear(N, n_out, bias=False).double()
    if R is not None:
        with torch.no_grad():
            a = torch.randn(N, R, dtype=torch.float64)
            b = torch.randn(N, R, dtype=torch.float64)
            (rnn.weight_hh if cell else rnn.weight_hh_l0).copy_(2.0 * a @ b.T / N)
    return rnn, readout


def _run_rnn(rnn, readout, x, h0, cell):
    with torch.no_grad():
        if cell:
            h, outs = h0, []
            for t in range(x.shape[1]):
                h = rnn(x[:, t], h)
                outs.append(h)
            return readout(torch.stack(outs, 1)).numpy()
        out, _ = rnn(x, h0[None])
        return readout(out).numpy()


@pytest.mark.parametrize("cell, nonlinearity", [(False, "tanh"), (True, "relu")])
def test_torch_rnn_preset_equals_torch(tmp_path, cell, nonlinearity):
    N, n_in, n_out, R = 36, 2, 2, 3
    rnn, readout = _torch_rnn(N, n_in, n_out, R, cell=cell, nonlinearity=nonlinearity, seed=5)
    g = torch.Generator().manual_seed(6)
    h0 = 0.5 * torch.randn(4, N, generator=g, dtype=torch.float64)
    h0[:] = h0[0]  # one initial state for the batch (it is a property of the network here)
    state = {**{f"rnn.{k}": v for k, v in rnn.state_dict().items()},
             **{f"readout.{k}": v for k, v in readout.state_dict().items()}, "h0": h0[0].clone()}
    path = tmp_path / "rnn.pt"
    torch.save(state, path)
    x = torch.randn(4, 20, n_in, generator=g, dtype=torch.float64)
    y = _run_rnn(rnn, readout, x, h0, cell)
    net = import_network(path, fmt="torch", preset="torch-rnn", rank=R, phi=nonlinearity)
    assert net.spec.dt == 1.0 and net.spec.rank == R
    assert net.channels == ("input:0", "input:1", "bias", "h0")
    assert _rel(_of_outputs(net, x.numpy()), y) <= REL


def test_torch_rnn_truncation_error_is_reported_and_full_rank_is_exact(tmp_path):
    N, n_in, n_out = 24, 1, 1
    rnn, readout = _torch_rnn(N, n_in, n_out, None, seed=7)  # full-rank W_hh
    path = tmp_path / "rnn.pt"
    torch.save({**{f"rnn.{k}": v for k, v in rnn.state_dict().items()},
                "readout.weight": readout.weight.detach().clone()}, path)
    net = import_network(path, fmt="torch", preset="torch-rnn", rank=2)
    # independent: torch's full network against overlapflow's truncated one, on the inputs
    # the report names (4 trials × 50 steps of N(0, 1) from numpy's default_rng(0))
    assert net.check_inputs == "4 trials of 50 steps, x ~ N(0, 1), seed 0"
    x = np.random.default_rng(0).standard_normal((4, 50, n_in))
    y_full = _run_rnn(rnn, readout, torch.from_numpy(x), torch.zeros(4, N, dtype=torch.float64), False)
    err = _rel(_of_outputs(net, x), y_full)
    assert err > 1e-3
    assert net.check_error == pytest.approx(err, rel=1e-8)
    exact = import_network(path, fmt="torch", preset="torch-rnn", rank=N)
    assert _rel(_of_outputs(exact, x), y_full) <= REL


def test_network_file_round_trip_and_npz_sources(tmp_path):
    model = PaperRNN(20, "tanh", 0.2, 1.0, bias=True, h0=True, seed=8)
    arrays = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    np.savez(tmp_path / "paper.npz", **arrays, phi="tanh", dt=0.2)
    net = import_network(tmp_path / "paper.npz", fmt="npz", preset="paper")
    write_network(tmp_path / "net.npz", net)
    back = load_network(tmp_path / "net.npz")
    np.testing.assert_array_equal(back.X, net.X)
    assert (back.spec, back.channels, back.output_lead) == (net.spec, net.channels, net.output_lead)
    assert back.check_error == net.check_error and back.source == net.source
    again = import_network(tmp_path / "net.npz", fmt="npz")  # an overlapflow file passes through
    np.testing.assert_array_equal(again.X, net.X)
    assert again.channels == net.channels
    # inspect --vectors reads M, U, V, Z: the same columns as X
    with np.load(tmp_path / "net.npz", allow_pickle=False) as data:
        stacked = np.concatenate([data[k] for k in "MUVZ"], axis=1)
        assert list(data["columns"]) == list(net.spec.vector_names)
    np.testing.assert_array_equal(stacked, net.X)
    # overlapflow's own npz convention: m, u, v, z as (N,) and as a stacked X with columns
    rng = np.random.default_rng(9)
    m, u, v, z = rng.standard_normal((4, 20))
    a = import_network({"m": m, "u": u, "v": v, "z": z}, preset="overlapflow", phi="erf", dt=0.05)
    np.testing.assert_array_equal(a.X, np.stack([m, u, v, z], axis=1))
    b = import_network({"X": np.stack([z, u, m, v], axis=1), "columns": np.array(["z", "u", "m", "v"]),
                        "phi": np.array("erf"), "dt": np.array(0.05)})
    np.testing.assert_array_equal(b.X, a.X)
    assert b.spec == a.spec and a.check_error <= 1e-14


def test_source_channels_task_drives_the_extra_channels():
    model = PaperRNN(12, "erf", 0.1, 1.0, bias=True, h0=True, seed=10)
    net = import_network({k: v.detach().numpy() for k, v in model.state_dict().items()},
                         preset="paper", phi="erf", dt=0.1)
    base = of.make_task("noise_filter", dt=0.1, t_max=1.0, n_in=1, n_out=1, batch_size=3)
    task = SourceChannelsTask(base=base, channels=net.channels)
    assert (task.n_in, task.n_steps, task.batch_size) == (3, 10, 3)
    check_task_for(task, net.spec)
    b, b0 = of.batch_for_epoch(task, 4, 2), of.batch_for_epoch(base, 4, 2)
    np.testing.assert_array_equal(np.asarray(b.x), network_inputs(net, np.asarray(b0.x)))
    np.testing.assert_array_equal(np.asarray(b.y), np.asarray(b0.y))
    assert float(b.x[0, 0, 2]) == 10.0 and float(b.x[0, 1, 2]) == 0.0 and np.all(b.x[..., 1] == 1)
    with pytest.raises(ConfigError, match="take 1 source inputs"):
        SourceChannelsTask(base=of.make_task("noise_filter", dt=0.1, t_max=1.0, n_in=2, n_out=1),
                           channels=net.channels)


def _refused(match, **kw):
    with pytest.raises(ConfigError, match=match) as info:
        import_network(**kw)
    assert "\n" not in str(info.value)


def test_bad_input_is_refused_in_one_line(tmp_path):
    m, u, v, z = np.random.default_rng(0).standard_normal((4, 10))
    good = {"m": m, "u": u, "v": v, "z": z}
    np.savez(tmp_path / "ok.npz", **good)
    _refused("unknown format 'onnx'; valid: npz, torch", source=tmp_path / "ok.npz", fmt="onnx")
    _refused("does not exist", source=tmp_path / "nope.npz")
    _refused(r"missing key 'v' \(v\).*expected keys: m, u, v, z \(optional: b, h0\); found: m, u, z",
             source={"m": m, "u": u, "z": z}, phi="linear", dt=0.1)
    _refused(r"'z' \(z\) has shape \(9,\): N = 10 from 'u', so its rows must be the N neurons",
             source={**good, "z": z[:9]}, phi="linear", dt=0.1)
    _refused(r"'u' \(u\) contains NaN", source={**good, "u": np.where(u > 0, np.nan, u)},
             phi="linear", dt=0.1)
    _refused(r"wrong dt: dt/τ = 2.0 must be in \(0, 1\]", source=good, phi="linear", dt=1.0, tau=0.5)
    _refused("dt is 0.1 from --dt but 0.2 from the source file",
             source={**good, "dt": np.array(0.2)}, phi="linear", dt=0.1)
    _refused("give --phi", source=good, dt=0.1)
    _refused("unknown preset", source=good, preset="keras")
    # torch: a file that needs pickle, a readout bias, an LSTM, a second layer, a wrong dt
    path = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), path)  # a whole module: loading it needs pickle
    _refused("needs pickle to load", source=path, fmt="torch", preset="torch-rnn", rank=1)
    rnn, readout = _torch_rnn(8, 1, 1, 2)
    readout_b = torch.nn.Linear(8, 1).double()
    sd = {**rnn.state_dict(), "readout.weight": readout.weight, "readout.bias": readout_b.bias}
    torch.save(sd, tmp_path / "rb.pt")
    _refused("readout bias 'readout.bias' is not zero", source=tmp_path / "rb.pt", fmt="torch",
             preset="torch-rnn", rank=2)
    torch.save({**torch.nn.LSTM(1, 8).double().state_dict(), "readout.weight": readout.weight},
               tmp_path / "lstm.pt")
    _refused("LSTM are outside the model", source=tmp_path / "lstm.pt", fmt="torch",
             preset="torch-rnn", rank=2)
    torch.save({**torch.nn.RNN(1, 8, num_layers=2).double().state_dict(),
                "readout.weight": readout.weight}, tmp_path / "deep.pt")
    _refused("second layer", source=tmp_path / "deep.pt", fmt="torch", preset="torch-rnn", rank=2)
    torch.save({**rnn.state_dict(), "readout.weight": readout.weight}, tmp_path / "r.pt")
    _refused("wrong dt: preset torch-rnn is a discrete map", source=tmp_path / "r.pt", fmt="torch",
             preset="torch-rnn", rank=2, dt=0.1)
    _refused("give --rank R", source=tmp_path / "r.pt", fmt="torch", preset="torch-rnn")
    _refused(r"missing key 'readout.weight' \(z\)", source={k: v.detach().numpy() for k, v in
                                                         rnn.state_dict().items()},
             preset="torch-rnn", rank=2)
    # a network file with a missing key lists the expected ones
    np.savez(tmp_path / "broken.npz", format="overlapflow-network", X=np.ones((3, 4)))
    with pytest.raises(ConfigError, match="missing format_version, phi, dt.*expected keys: format"):
        load_network(tmp_path / "broken.npz")


def test_init_vectors_start_theta_from_the_file_and_overlap_modes_from_its_sigma(tmp_path):
    from overlapflow import config_from_dict, initial_vectors, run_comparison

    model = PaperRNN(30, "linear", 0.1, 1.0, bias=True, seed=11)
    net = import_network({k: v.detach().numpy() for k, v in model.state_dict().items()},
                         preset="paper", phi="linear", dt=0.1)
    write_network(tmp_path / "net.npz", net)
    raw = {"init": {"vectors": "net.npz"},
           "task": {"kind": "noise_filter", "t_max": 1.0, "batch_size": 2},
           "train": {"eta": 1e-3, "epochs": 3, "modes": ["theta", "exact"]}}
    cfg = config_from_dict(raw, tmp_path)
    assert cfg.network == net.spec  # N, rank, n_in (with the bias channel), φ, dt from the file
    np.testing.assert_array_equal(np.asarray(initial_vectors(cfg)), net.X)
    batch = of.batch_for_epoch(cfg.task, cfg.task_seed, 1)
    assert batch.x.shape[2] == 2 and np.all(np.asarray(batch.x[..., 1]) == 1.0)  # the bias drive
    comp = run_comparison(cfg, progress=False)
    sigma0 = net.X.T @ net.X / net.spec.N
    for mode in ("theta", "exact"):
        np.testing.assert_allclose(np.asarray(comp.runs[mode].sigma[0]), sigma0, rtol=0, atol=1e-14)
    # linear network: the exact map is θ-space GD from these vectors
    assert float(np.max(np.abs(np.asarray(comp.runs["theta"].sigma)
                               - np.asarray(comp.runs["exact"].sigma)))) <= 1e-10
    with pytest.raises(ConfigError, match="network.N = 31 but init.vectors net.npz has N = 30"):
        config_from_dict({**raw, "network": {"N": 31}}, tmp_path)
    with pytest.raises(ConfigError, match="exclusive"):
        config_from_dict({**raw, "init": {"vectors": "net.npz", "balanced": True}}, tmp_path)


def test_cli_import_then_inspect_and_bad_input_writes_nothing(tmp_path, capsys):
    from overlapflow.cli import main

    src, out = tmp_path / "paper_rnn.pt", tmp_path / "net.npz"
    torch.save(PaperRNN(16, "erf", 0.05, 1.0, seed=12).state_dict(), src)
    argv = ["import", str(src), "--preset", "paper", "--phi", "erf", "--dt", "0.05", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "N=16, rank 1, n_in=1, n_out=1, φ=erf, dt=0.05" in text and f"wrote {out}" in text
    net = load_network(out)
    assert net.check_error <= REL
    config = tmp_path / "net.toml"
    config.write_text('[network]\nN = 16\nphi = "erf"\ndt = 0.05\n[task]\nkind = "impulse_exp"\n'
                      't_max = 1.0\n[train]\neta = 1e-3\nepochs = 2\n')
    assert main(["inspect", str(config), "--vectors", str(out)]) == 0
    report = capsys.readouterr().out
    assert f"Σ from vectors {out}" in report
    zm = float(net.X[:, 3] @ net.X[:, 0] / 16)
    assert f"σ_zm       {zm:>12.6g}" in report
    config.write_text(config.read_text().replace('"erf"', '"tanh"'))
    assert main(["inspect", str(config), "--vectors", str(out)]) == 2
    assert "φ = erf, dt = 0.05" in capsys.readouterr().err
    # bad input: exit 2, one line, nothing written
    bad = tmp_path / "bad.npz"
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")
    for args, message in (
        (["--dt", "2"], "wrong dt"),
        (["--dt", "0.05", "--rank", "3"], "--rank must be an integer in [1, 1]"),
        (["--dt", "0.05", "--map", str(tmp_path / "none.toml")], "does not exist"),
    ):
        assert main(["import", str(src), "--preset", "paper", "--phi", "erf", *args,
                     "--out", str(bad)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
        assert not bad.exists()
    assert main(["import", str(tmp_path / "module.pt"), "--preset", "torch-rnn", "--rank", "1",
                 "--out", str(bad)]) == 2
    assert "needs pickle" in capsys.readouterr().err and not bad.exists()
    assert main(argv) == 2  # the file exists: not replaced without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["import", str(src), "--format", "onnx", "--out", str(bad)])
    assert info.value.code == 2 and not bad.exists()


# ---------------------------------------------------------------------------------------
# honest import: per-channel scales, unused keys, --probe against the user's own outputs


class ScaledRNN(torch.nn.Module):
    """A common convention with per-channel input and output scales: wi (n_in, N), si (n_in,),
    m, n (N, R), wo (N, n_out), so (n_out,), h0 (N,); h ← h + α(−h + m nᵀφ(h)/N + (wi ⊙ si)ᵀ x),
    h starts at h0, y_t = φ(h_{t+1})·(wo ⊙ so)/N."""

    def __init__(self, N, R, n_in, n_out, alpha, seed=0, phi="tanh"):
        super().__init__()
        g = torch.Generator().manual_seed(seed)

        def p(*shape, scale=1.0, shift=0.0):
            return torch.nn.Parameter(scale * torch.randn(*shape, generator=g, dtype=torch.float64)
                                      + shift)

        self.wi, self.si = p(n_in, N), p(n_in, scale=0.3, shift=1.5)
        self.m, self.n = p(N, R), p(N, R)
        self.wo, self.so = p(N, n_out), p(n_out, scale=0.3, shift=2.0)
        self.h0 = p(N, scale=0.5)
        self.N, self.alpha, self.phi = N, alpha, _phi_torch(phi)

    def forward(self, x):  # (B, T, n_in) → (B, T, n_out)
        h = self.h0.expand(x.shape[0], self.N)
        ys = []
        for t in range(x.shape[1]):
            r = self.phi(h)
            h = h + self.alpha * (-h + (r @ self.n) @ self.m.T / self.N + x[:, t] @ (self.wi * self.si[:, None]))
            ys.append(self.phi(h) @ (self.wo * self.so[None, :]) / self.N)
        return torch.stack(ys, dim=1)


SCALED_MAP = ('m = "wi"\nu = "m"\nv = "n"\nz = "wo"\nh0 = "h0"\ntranspose = ["wi"]\n'
              'scale_in = "si"\nscale_out = ["so", "1/N"]\nphi = "tanh"\ndt = 0.2\n')


def _scaled_files(tmp_path, N=50, R=2, n_in=2, n_out=2, seed=21):
    model = ScaledRNN(N, R, n_in, n_out, 0.2, seed=seed)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    x = torch.randn(3, 30, n_in, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    with torch.no_grad():
        y = model(x).numpy()
    np.savez(tmp_path / "probe.npz", x=x.numpy(), y=y)
    (tmp_path / "map.toml").write_text(SCALED_MAP)
    return model, x.numpy(), y


def test_per_channel_scales_import_exactly_and_the_probe_checks_the_users_outputs(tmp_path, capsys):
    from overlapflow.cli import main

    _, x, y = _scaled_files(tmp_path)
    src, out = tmp_path / "model.pt", tmp_path / "net.npz"
    # without the scales in the map: si, so are refused by name (library and command line)
    plain = {"m": "wi", "u": "m", "v": "n", "z": "wo", "h0": "h0", "transpose": ["wi"],
             "phi": "tanh", "dt": 0.2}
    with pytest.raises(ConfigError, match=r"the map does not use the source's 'si', 'so'"):
        import_network(src, fmt="torch", map=plain)
    (tmp_path / "plain.toml").write_text('m = "wi"\nu = "m"\nv = "n"\nz = "wo"\nh0 = "h0"\n'
                                         'transpose = ["wi"]\nphi = "tanh"\ndt = 0.2\n')
    assert main(["import", str(src), "--map", str(tmp_path / "plain.toml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "does not use the source's 'si', 'so'" in err and err.count("\n") == 1
    assert not out.exists()
    # with the scale arrays: the user's outputs to float64 rounding, library and command line
    net = import_network(src, fmt="torch", map=tmp_path / "map.toml", probe=(x, y))
    assert net.probe_error <= 1e-12 and net.check_error <= 1e-12
    assert _rel(_of_outputs(net, x), y) <= 1e-12
    assert net.channels == ("input:0", "input:1", "h0")
    assert import_network(src, fmt="torch", map=tmp_path / "map.toml",
                          probe=tmp_path / "probe.npz").probe_error == net.probe_error
    argv = ["import", str(src), "--map", str(tmp_path / "map.toml"), "--out", str(out)]
    assert main([*argv, "--probe", str(tmp_path / "probe.npz")]) == 0
    text = capsys.readouterr().out
    assert "probe: max |y − y_probe| / max |y_probe| = " in text and "≤ 1e-06 (probe.npz" in text
    back = load_network(out)
    assert back.probe_error == net.probe_error and back.probe_inputs.startswith("probe.npz: 3 trials")
    with np.load(out, allow_pickle=False) as data:  # the extra channel is named in the file
        assert list(data["labels"]) == ["m1", "m2", "h0", "u1", "u2", "v1", "v2", "z1", "z2"]
    # without --probe the output says what the check does not show
    assert main([*argv, "--overwrite"]) == 0
    assert "not with your model" in capsys.readouterr().out


def test_a_wrong_map_passes_its_own_check_and_is_caught_by_the_probe(tmp_path, capsys):
    from overlapflow.cli import main

    _, x, y = _scaled_files(tmp_path)
    src, out = tmp_path / "model.pt", tmp_path / "net.npz"
    # scale_out on the input scales (both (2,)): the map reads the file consistently, wrongly
    wrong = SCALED_MAP.replace('scale_in = "si"\nscale_out = ["so", "1/N"]',
                               'scale_in = "so"\nscale_out = ["si", "1/N"]')
    (tmp_path / "wrong.toml").write_text(wrong)
    net = import_network(src, fmt="torch", map=tmp_path / "wrong.toml")
    assert net.check_error <= 1e-12  # the map agrees with itself ...
    assert _rel(_of_outputs(net, x), y) > 1e-2  # ... not with the model
    with pytest.raises(ConfigError, match=r"differs from your model: .* > 1e-06 on \(x, y\)"):
        import_network(src, fmt="torch", map=tmp_path / "wrong.toml", probe=(x, y))
    flagged = import_network(src, fmt="torch", map=tmp_path / "wrong.toml", probe=(x, y),
                             probe_tol=None)
    assert flagged.probe_error == pytest.approx(_rel(_of_outputs(net, x), y), rel=1e-9)
    for args in (["--map", str(tmp_path / "wrong.toml")],
                 ["--map", str(tmp_path / "map.toml"), "--probe-tol", "1e-30"]):
        code = main(["import", str(src), *args, "--probe", str(tmp_path / "probe.npz"),
                     "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 1 and "differs from your model" in err and err.count("\n") == 1
        assert not out.exists()
    # the unused keys allowed: a warning on stderr, and the probe still catches the gap
    (tmp_path / "plain.toml").write_text(SCALED_MAP.replace('scale_in = "si"\n', '')
                                         .replace('scale_out = ["so", "1/N"]\n', ''))
    assert main(["import", str(src), "--map", str(tmp_path / "plain.toml"), "--allow-unused",
                 "--probe", str(tmp_path / "probe.npz"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "warning: the map does not use the source's 'si', 'so'" in err
    assert "differs from your model" in err and not out.exists()
    with pytest.warns(UserWarning, match="does not use the source's 'si', 'so'"):
        import_network(src, fmt="torch", map=tmp_path / "plain.toml", allow_unused=True)


class LowRankRNN(torch.nn.Module):
    """A replica of low_rank_rnns' LowRankRNN forward (no noise): wi (n_in, N), si (n_in,), m, n
    (N, R), b (N,) inside φ, wo (N, n_out), so (n_out,), h0 (N,); α = dt/τ."""

    def __init__(self, N, R, n_in, n_out, alpha, b_scale=0.0, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)

        def p(*shape, scale=1.0):
            return torch.nn.Parameter(scale * torch.randn(*shape, generator=g, dtype=torch.float64))

        self.wi, self.si = p(n_in, N), torch.nn.Parameter(torch.linspace(0.5, 2.0, n_in, dtype=torch.float64))
        self.m, self.n = p(N, R), p(N, R)
        self.b = p(N, scale=b_scale)
        self.wo = p(N, n_out)
        self.so = torch.nn.Parameter(torch.linspace(3.0, 1.0, n_out, dtype=torch.float64))
        self.h0 = p(N, scale=0.4)
        self.N, self.alpha = N, alpha

    def forward(self, x):
        h = self.h0.expand(x.shape[0], self.N)
        r = torch.tanh(h)
        wi_full, wo_full = self.wi * self.si[:, None], self.wo * self.so[None, :]
        ys = []
        for t in range(x.shape[1]):
            h = h + self.alpha * (-h + r @ self.n @ self.m.T / self.N + x[:, t] @ wi_full)
            r = torch.tanh(h + self.b)
            ys.append(torch.tanh(h) @ wo_full / self.N)
        return torch.stack(ys, dim=1)


@pytest.mark.parametrize("N, R", [(40, 1), (70, 3)])
def test_low_rank_rnns_preset_equals_a_replica_in_torch(tmp_path, N, R):
    model = LowRankRNN(N, R, 2, 3, 0.25, seed=N)
    torch.save(model.state_dict(), tmp_path / "lr.pt")
    x = torch.randn(2, 25, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        y = model(x).numpy()
    net = import_network(tmp_path / "lr.pt", fmt="torch", preset="low-rank-rnns", dt=0.5, tau=2.0,
                         probe=(x.numpy(), y), probe_tol=1e-12)
    assert net.spec.rank == R and net.spec.dt == 0.25 and net.channels[-1] == "h0"
    assert _rel(_of_outputs(net, x.numpy()), y) <= 1e-12
    # a non-zero bias inside φ has no exact form
    torch.save(LowRankRNN(N, R, 2, 3, 0.25, b_scale=0.1, seed=N).state_dict(), tmp_path / "b.pt")
    with pytest.raises(ConfigError, match=r"bias 'b' inside φ \(r = φ\(h \+ b\)\) is not zero"):
        import_network(tmp_path / "b.pt", fmt="torch", preset="low-rank-rnns", dt=0.25)


def test_transpose_takes_key_names_and_shape_errors_name_the_array(tmp_path):
    rng = np.random.default_rng(3)
    N = 30
    src = {"wi": rng.standard_normal((2, N)), "uu": rng.standard_normal((N, 1)),
           "vv": rng.standard_normal((N, 1)), "wo": rng.standard_normal((N, 1))}
    base = {"m": "wi", "u": "uu", "v": "vv", "z": "wo", "phi": "tanh", "dt": 0.1}
    _refused(r"source array 'wi' \(m\) has shape \(2, 30\): N = 30 from 'uu', so store it as "
             r"\(N, 2\) or add \"wi\" to transpose", source=src, map=base)
    by_key = import_network(src, map={**base, "transpose": ["wi"]})
    by_role = import_network(src, map={**base, "transpose": ["m"]})
    np.testing.assert_array_equal(by_key.X, by_role.X)
    np.testing.assert_array_equal(by_key.X[:, :2], src["wi"].T)
    _refused(r"transpose names wo2, not an array of the map", source=src,
             map={**base, "transpose": ["wo2"]})
    _refused(r"'wi' \(m\) has shape \(30, 2\): N = 30 from 'uu', so store it as \(k, N\) or "
             r"remove \"wi\" from transpose", source={**src, "wi": src["wi"].T},
             map={**base, "transpose": ["wi"]})
    _refused(r"'uu' \(u\) has shape \(1, 30\): a low-rank factor is \(N, R\)",
             source={**src, "uu": src["uu"].T}, map={**base, "transpose": ["wi"]})
    _refused(r"map: scale_in = 'gain' is neither a scale factor .* nor a key of the source",
             source=src, map={**base, "transpose": ["wi"], "scale_in": "gain"})
    _refused(r"source array 'wo' \(scale_in\) scales the 2 columns of M \(n_in\): it must have "
             r"shape \(2,\)", source=src, map={**base, "transpose": ["wi"], "scale_in": "wo"},
             allow_unused=True)
    # "2/sqrt(N)" is a factor, not a key
    scaled = import_network(src, map={**base, "transpose": ["wi"], "scale_in": "2/sqrt(N)"})
    np.testing.assert_allclose(scaled.X[:, :2], 2 / math.sqrt(N) * src["wi"].T, rtol=1e-15)


def test_map_key_table_is_in_the_help_and_in_the_theory():
    from pathlib import Path

    from overlapflow.cli import build_parser
    from overlapflow.internal import MAP_KEYS, map_key_table

    sub = next(a for a in build_parser()._subparsers._group_actions[0].choices.items()
               if a[0] == "import")[1]
    text = sub.format_help()
    for key in MAP_KEYS:
        assert f"\n  {key} " in text
    assert '(default: "1/N")' in text and "h0_is_rate" in text
    theory = (Path(__file__).parents[1] / "docs" / "theory.md").read_text(encoding="utf-8")
    assert map_key_table(markdown=True) in theory


def test_bad_files_and_values_are_refused_in_one_line_and_nothing_is_written(tmp_path, capsys):
    from overlapflow.cli import main
    from overlapflow.internal import load_array, load_npz

    rng = np.random.default_rng(4)
    np.savez(tmp_path / "ok.npz", **{k: rng.standard_normal(10) for k in "muvz"})
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "noise.npz").write_bytes(rng.bytes(300))
    (tmp_path / "folder.npz").mkdir()
    np.save(tmp_path / "one.npy", np.ones(3))
    cases = {"empty.npz": "is empty (0 bytes), not an .npz array file",
             "cut.npz": "is truncated or corrupt",
             "noise.npz": "is not an .npz/.npy array file",
             "folder.npz": "is a folder, not a file",
             "one.npy": "is an .npy (one array), not an .npz of named arrays"}
    out = tmp_path / "net.npz"
    for name, message in cases.items():
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_npz(tmp_path / name, what="--observed file")
        assert main(["import", str(tmp_path / name), "--format", "npz", "--phi", "tanh", "--dt", "0.1",
                     "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "pickled" not in err
        assert not out.exists()
    for name, message in (("empty.npz", "is empty (0 bytes), not an .npy array file"),
                          ("ok.npz", "is an .npz (named arrays), not an .npy"),
                          ("noise.npz", "is not an .npz/.npy array file")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_array(tmp_path / name, what="--truth")
    np.testing.assert_array_equal(load_array(tmp_path / "one.npy"), np.ones(3))
    # torch: empty, truncated, random bytes, a folder, sparse and meta tensors
    torch.save({"m": torch.ones(3)}, tmp_path / "ok.pt")
    pt = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "cut.pt").write_bytes(pt[: len(pt) // 2])
    (tmp_path / "noise.pt").write_bytes(b"\x01" + rng.bytes(200))
    (tmp_path / "folder.pt").mkdir()
    torch.save({"m": torch.ones(4).to_sparse(), "u": torch.ones(4)}, tmp_path / "sparse.pt")
    torch.save({"m": torch.ones(4, device="meta")}, tmp_path / "meta.pt")
    for name, message in (("empty.pt", "is empty (0 bytes), not a torch file"),
                          ("cut.pt", "is not a readable torch file (truncated or corrupt"),
                          ("noise.pt", "is not a torch file"),
                          ("folder.pt", "is a folder, not a file"),
                          ("sparse.pt", "source tensor 'm' is sparse"),
                          ("meta.pt", "source tensor 'm' is on the meta device")):
        assert main(["import", str(tmp_path / name), "--phi", "tanh", "--dt", "0.1",
                     "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (name, err)
        assert not out.exists()
    # values that overflow float64 in the source's own equations: not a nan check, an error
    big = {k: np.full(10, 1e300) for k in "muvz"}
    np.savez(tmp_path / "big.npz", **big)
    assert main(["import", str(tmp_path / "big.npz"), "--phi", "tanh", "--dt", "0.1",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "the conversion check is not finite" in err and "1e+300" in err and not out.exists()
    # a malformed probe
    np.savez(tmp_path / "p.npz", x=np.ones((2, 5, 3)), y=np.ones((2, 5, 1)))
    assert main(["import", str(tmp_path / "ok.npz"), "--phi", "tanh", "--dt", "0.1",
                 "--probe", str(tmp_path / "p.npz"), "--out", str(out)]) == 2
    assert "x must have shape (B, T, 1) for this network, got (2, 5, 3)" in capsys.readouterr().err
    assert not out.exists()


def test_extra_channels_are_named_in_the_file_and_in_overlap_names(tmp_path):
    from overlapflow.internal import overlap_labels, relabel_report, vector_labels

    rng = np.random.default_rng(6)
    net = import_network({k: rng.standard_normal((20, 2 if k == "m" else 1))
                          for k in ("m", "u", "v", "z", "b", "h0")}, phi="tanh", dt=0.5)
    assert vector_labels(net) == ("m1", "m2", "bias", "h0", "u", "v", "z")
    names = overlap_labels(net.spec, vector_labels(net))
    plain = of.overlap_names(net.spec)
    assert len(names) == len(plain) == 28
    assert dict(zip(plain, names)) == {**{p: p for p in plain if "m3" not in p and "m4" not in p},
                                       "m1m3": "m1·bias", "m1m4": "m1·h0", "m2m3": "m2·bias",
                                       "m2m4": "m2·h0", "m3m3": "bias·bias", "m3m4": "bias·h0",
                                       "m3u": "bias·u", "vm3": "v·bias", "zm3": "z·bias",
                                       "m4m4": "h0·h0", "m4u": "h0·u", "vm4": "v·h0", "zm4": "z·h0"}
    report = of.inspect_overlaps(net.sigma, net.spec)
    named = relabel_report(report, net.spec, vector_labels(net))
    assert named["values"]["z·h0"] == report["values"]["zm4"]
    assert set(named["visible"]) | set(named["invisible"]) == set(names)
    write_network(tmp_path / "net.npz", net)
    with np.load(tmp_path / "net.npz", allow_pickle=False) as data:
        assert tuple(data["labels"]) == vector_labels(net)
