"""Writing a network back out (docs/theory.md §11.1): overlapflow's vectors as a torch state
dict (or an .npz) in the convention of an import preset, so that importing the file with the
same preset gives the network back.

    preset        keys (shapes)                                          import it back with
    overlapflow   m (N, n_in), u, v (N, R), z (N, n_out), [b (N,)],      --preset overlapflow
                  phi, dt
    paper         m (N, n_in), u, v (N, R), z (N, n_out), [b (N,)]       --preset paper --phi --dt
    torch-rnn     rnn.weight_ih_l0 (N, n_in) = M,                        --preset torch-rnn --rank R
                  rnn.weight_hh_l0 (N, N) = U Vᵀ/N, rnn.bias_ih_l0 = b,
                  rnn.bias_hh_l0 = 0, readout.weight (n_out, N) = Zᵀ/N,
                  readout.bias = 0

The "paper" file reads out before the update, so its import has output_lead 1; the network
(X, spec) is the same. torch-rnn stores W = U Vᵀ/N whole: its import gives the same M, Z and
U Vᵀ, with U, V the balanced factors of the SVD (the same network and outputs; the overlaps
among U and V are those of the balanced factors). A torch.nn.RNN(n_in, N, nonlinearity=φ,
batch_first=True) under `rnn` and a Linear(N, n_out) under `readout` loaded with this state
dict give overlapflow's outputs (docs/theory.md §11.1: the pre-activation is the state, dt = 1).

Refused, one line each: an "h0" channel (its column folds h0 through φ and W, which no preset's
file can hold exactly); for torch-rnn, dt ≠ 1 and φ other than tanh and relu.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._support.errors import ConfigError
from .._support.extras import require_module
from .._support.io import write_atomic, write_npz_atomic
from .network_file import ImportedNetwork, load_network

__all__ = ["EXPORT_PRESETS", "export_arrays", "export_network"]

EXPORT_PRESETS = ("overlapflow", "paper", "torch-rnn")
EXPORT_SUFFIXES = (".pt", ".pth", ".npz")


def export_arrays(net: ImportedNetwork, preset: str = "overlapflow") -> dict:
    """The arrays of `net` in the convention of `preset` (float64 numpy; "phi" a str).

    Args:
        net: an `ImportedNetwork` (as `import_network` or `load_network` return).
        preset: "overlapflow", "paper" or "torch-rnn" (see the module's table).

    Returns:
        {key: array}: what `export_network` writes.

    Raises:
        ConfigError: an unknown preset, or a network the preset cannot hold exactly.
    """
    if not isinstance(net, ImportedNetwork):
        raise ConfigError(f"export needs an ImportedNetwork (import_network, load_network), got "
                          f"{type(net).__name__}")
    if preset not in EXPORT_PRESETS:
        raise ConfigError(f"unknown export preset {preset!r}; valid: {', '.join(EXPORT_PRESETS)}")
    spec, X = net.spec, net.X
    if "h0" in net.channels:
        raise ConfigError("the network has an h0 channel (a non-zero initial state folded through "
                          "φ and W into an input column): no preset's file holds it exactly, so "
                          "it is not exported")
    M_all = X[:, spec.m]
    order = sorted((int(c[6:]), j) for j, c in enumerate(net.channels) if c.startswith("input:"))
    M = M_all[:, [j for _, j in order]]
    bias = M_all[:, net.channels.index("bias")] if "bias" in net.channels else None
    U, V, Z = X[:, spec.u], X[:, spec.v], X[:, spec.z]
    N = spec.N
    if preset in ("overlapflow", "paper"):
        out = {"m": M, "u": U, "v": V, "z": Z}
        if bias is not None:
            out["b"] = bias
        if preset == "overlapflow":
            out.update(phi=spec.phi_name, dt=np.asarray(spec.dt))
        return {k: v if isinstance(v, str) else np.array(v, np.float64) for k, v in out.items()}
    if spec.dt != 1.0:
        raise ConfigError(f"torch-rnn needs dt = 1 (torch.nn.RNN has no leak: h ← Wφ(h) + Mx + b); "
                          f"this network has dt = {spec.dt:g}")
    if spec.phi_name not in ("tanh", "relu"):
        raise ConfigError(f"torch-rnn needs φ = tanh or relu (torch.nn.RNN's nonlinearities); this "
                          f"network has φ = {spec.phi_name}")
    return {
        "rnn.weight_ih_l0": np.array(M, np.float64),
        "rnn.weight_hh_l0": U @ V.T / N,
        "rnn.bias_ih_l0": np.zeros(N) if bias is None else np.array(bias, np.float64),
        "rnn.bias_hh_l0": np.zeros(N),
        "readout.weight": np.ascontiguousarray(Z.T / N),
        "readout.bias": np.zeros(spec.n_out),
    }


def export_network(net, *, preset: str = "overlapflow", path=None) -> dict:
    """Write `net` as a torch state dict (.pt, .pth) or an .npz in a preset's convention.

    Args:
        net: an `ImportedNetwork` or the path of a network file (net.npz).
        preset: "overlapflow", "paper" or "torch-rnn" (docs/theory.md §11.1).
        path: where to write (atomically); None writes nothing. A .pt / .pth file holds float64
            tensors ("phi" a str) and loads with `torch.load(path, weights_only=True)`.

    Returns:
        the written {key: array} (`export_arrays`).

    Raises:
        ConfigError: a network the preset cannot hold, a wrong suffix, torch missing for .pt.
    """
    if isinstance(net, (str, Path)):
        net = load_network(net)
    arrays = export_arrays(net, preset)
    if path is None:
        return arrays
    path = Path(path)
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise ConfigError(f"--out {str(path)!r} must end in .pt, .pth (a torch state dict) or .npz")
    if path.is_dir():
        raise ConfigError(f"--out {str(path)!r} is a folder; give a file name ending in .pt")
    if path.suffix.lower() == ".npz":
        write_npz_atomic(path, **arrays)
        return arrays
    require_module("torch", "writing a torch state dict")
    import torch

    state = {k: v if isinstance(v, str) else torch.from_numpy(np.array(v, np.float64, order="C"))
             for k, v in arrays.items()}
    write_atomic(path, path.suffix, lambda fh: torch.save(state, fh))
    return arrays
