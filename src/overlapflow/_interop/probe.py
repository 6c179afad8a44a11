"""Checking an imported network against the user's own model (docs/theory.md §11.1): the
outputs y that the user computed in their framework on inputs x, against the network on
`network_inputs(net, x)` with its `output_lead`."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from .._support.errors import ConfigError
from .._support.io import load_npz
from .network_file import ImportedNetwork, network_inputs, simulate

__all__ = ["probe_failure", "with_probe"]


def with_probe(net: ImportedNetwork, probe, *, tol: float | None = 1e-6) -> ImportedNetwork:
    """`net` with `probe_error` measured against the user's own outputs (docs/theory.md §11.1).

    Args:
        net: an imported network.
        probe: (x, y) or the path of an .npz with arrays x (B, T, n_source_inputs) and
            y (B, T, n_out): the user's model's outputs y on the inputs x.
        tol: the largest relative error accepted (None: never raise).

    Raises:
        ConfigError: a malformed probe, or an error above `tol` (the message says how large).
    """
    if isinstance(probe, (str, Path)):
        what = f"--probe file {str(probe)!r}"
        data = load_npz(probe, what="--probe file")
        missing = [k for k in ("x", "y") if k not in data]
        if missing:
            raise ConfigError(f"{what} must hold arrays x (B, T, n_in) and y (B, T, n_out); missing "
                              f"{', '.join(missing)} (keys: {', '.join(sorted(data)) or 'none'})")
        x, y = data["x"], data["y"]
        label = Path(probe).name
    elif isinstance(probe, (tuple, list)) and len(probe) == 2:
        what, label = "probe", "(x, y)"
        x, y = (np.asarray(a) for a in probe)
    else:
        raise ConfigError("probe must be (x, y) or the path of an .npz with arrays x and y")
    for key, arr, n in (("x", x, net.n_source_inputs), ("y", y, net.spec.n_out)):
        if arr.dtype.kind not in "fiu":
            raise ConfigError(f"{what}: {key} must be numeric, got dtype {arr.dtype}")
        if arr.ndim != 3 or arr.shape[2] != n:
            raise ConfigError(f"{what}: {key} must have shape (B, T, {n}) for this network, got "
                              f"{arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ConfigError(f"{what}: {key} contains NaN or inf")
    if x.shape[:2] != y.shape[:2]:
        raise ConfigError(f"{what}: x {x.shape} and y {y.shape} must share B and T")
    if y.shape[1] <= net.output_lead:
        raise ConfigError(f"{what}: T = {y.shape[1]} leaves no step to compare (the source reads "
                          "out before the update: give T ≥ 2)")
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    with np.errstate(all="ignore"):
        y_net = simulate(net, network_inputs(net, x))
        if net.output_lead:
            y_net, y = y_net[:, :-1], y[:, 1:]
        err = float(np.max(np.abs(y_net - y)) / max(float(np.max(np.abs(y))), 1e-300))
    if not math.isfinite(err):
        err = math.inf
    net = replace(net, probe_error=err,
                  probe_inputs=f"{label}: {x.shape[0]} trials of {x.shape[1]} steps")
    if tol is not None and not err <= tol:
        raise ConfigError(probe_failure(net, tol))
    return net


def probe_failure(net: ImportedNetwork, tol: float) -> str:
    """The one line that says a probe found the network different from the user's model."""
    return (f"the imported network differs from your model: max |y − y_probe| / max |y_probe| = "
            f"{net.probe_error:.3g} > {tol:g} on {net.probe_inputs}; the map reads the file "
            "differently from your model (a scale, a transpose, a bias, dt or φ); nothing written")
