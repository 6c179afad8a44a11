"""Observations of a learning network: what `reveal` reads, checked (docs/theory.md §10).

An observations file (.npz, read without pickles) holds `epochs` (E,), and `loss` (E,) or
`outputs` (E, B, T, n_out) on a fixed probe input (`probe_x` (B, T, n_in), by default the
batch of epoch 0 of the config's task and seed), and optionally `sd`, the noise standard
deviation. Anything else is a one-line `ConfigError`: so are epochs beyond the run the config
describes (its [train] epochs) and a negative loss (every loss kind is a sum of squares).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._model.network import NetworkSpec
from .._model.tasks import batch_for_epoch
from .._support.errors import ConfigError
from .model import OBSERVATION_KINDS

__all__ = ["MAX_EPOCH", "OBSERVATION_KEYS", "Observations", "check_observations"]

#: Arrays an observations file may hold.
OBSERVATION_KEYS = ("epochs", "loss", "outputs", "sd", "probe_x")

#: The largest observed epoch accepted (the model runs every epoch up to it).
MAX_EPOCH = 1_000_000


@dataclass(frozen=True)
class Observations:
    """What was observed of a learning network (validated by `check_observations`).

    Attributes:
        epochs: (E,) strictly increasing epochs ≥ 0 (epoch e: the state after e updates).
        kind: "loss" (the training loss of epoch e, on epoch e's batch) or "outputs".
        values: (E,) losses, or (E, B, T, n_out) outputs on `probe_x`.
        sd: None (unknown: estimated from the fit's residuals) or the observation-noise
            standard deviation, broadcast to `values.shape`.
        probe_x: (B, T, n_in) probe input of "outputs".
    """

    epochs: np.ndarray = field(repr=False)
    kind: str
    values: np.ndarray = field(repr=False)
    sd: np.ndarray | None = field(default=None, repr=False)
    probe_x: np.ndarray | None = field(default=None, repr=False)

    @property
    def flat(self) -> np.ndarray:
        """(E, m) values, one row per observed epoch."""
        return self.values.reshape(len(self.epochs), -1)


def _numeric(name: str, arr) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind not in "iuf":
        raise ConfigError(f"observations: {name} must be a numeric array, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"observations: {name} contains NaN or inf")
    return arr


def check_observations(data: dict, spec: NetworkSpec, task, seed: int, *,
                       max_epoch: int | None = None) -> Observations:
    """Validate observation arrays and return `Observations` (ConfigError, one line, if bad).

    Args:
        data: {"epochs": (E,), and "loss": (E,) or "outputs": (E, B, T, n_out); optional
            "sd": a positive scalar or an array of the observations' shape; optional
            "probe_x": (B, T, n_in) with "outputs"}.
        spec, task: the network and its task; seed: the batch seed (the default probe input is
            `batch_for_epoch(task, seed, 0).x`).
        max_epoch: the last epoch of the observed run (a config's [train] epochs: its states
            are epochs 0 … max_epoch); None: up to MAX_EPOCH.
    """
    unknown = sorted(set(data) - set(OBSERVATION_KEYS))
    if unknown:
        raise ConfigError(f"observations: unknown array(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(OBSERVATION_KEYS)}")
    if "epochs" not in data:
        raise ConfigError("observations: missing array 'epochs' (E,) of observed epochs")
    kinds = [k for k in OBSERVATION_KINDS if k in data]
    if len(kinds) != 1:
        raise ConfigError("observations: give exactly one of 'loss' (E,) and 'outputs' "
                          f"(E, B, T, n_out); got {' and '.join(kinds) or 'neither'}")
    kind = kinds[0]
    epochs = _numeric("epochs", data["epochs"])
    if epochs.ndim != 1 or epochs.size == 0:
        raise ConfigError(f"observations: epochs must be a non-empty 1-D array, got shape "
                          f"{epochs.shape}")
    if np.any(epochs != np.round(epochs)) or np.any(epochs < 0) or np.any(epochs > MAX_EPOCH):
        raise ConfigError(f"observations: epochs must be integers in [0, {MAX_EPOCH}]")
    epochs = epochs.astype(np.int64)
    if max_epoch is not None and int(np.max(epochs)) > max_epoch:
        raise ConfigError(f"observations: epoch {int(np.max(epochs))} is beyond the run of the "
                          f"config ([train] epochs = {max_epoch}: epochs 0 … {max_epoch}); "
                          "raise [train] epochs or drop the later observations")
    if np.any(np.diff(epochs) <= 0):
        raise ConfigError("observations: epochs must be strictly increasing")
    E = epochs.size
    values = _numeric(kind, data[kind]).astype(np.float64)
    probe_x = None
    if kind == "loss":
        if "probe_x" in data:
            raise ConfigError("observations: probe_x belongs to 'outputs', not to 'loss'")
        if values.shape != (E,):
            raise ConfigError(f"observations: loss must have shape ({E},) (one per epoch), "
                              f"got {values.shape}")
        if np.any(values < 0):
            k = int(np.argmax(values < 0))
            raise ConfigError(f"observations: loss must be ≥ 0 (a sum of squared errors), got "
                              f"{values[k]:.6g} at epoch {int(epochs[k])}")
    else:
        if "probe_x" in data:
            probe_x = _numeric("probe_x", data["probe_x"]).astype(np.float64)
            if probe_x.ndim != 3 or probe_x.shape[2] != spec.n_in:
                raise ConfigError(f"observations: probe_x must have shape (B, T, {spec.n_in}), "
                                  f"got {probe_x.shape}")
        else:
            probe_x = np.asarray(batch_for_epoch(task, seed, 0).x, dtype=np.float64)
        B, T = probe_x.shape[:2]
        want = (E, B, T, spec.n_out)
        if values.shape != want:
            raise ConfigError(f"observations: outputs must have shape {want} (epochs, trials and "
                              f"steps of the probe input, n_out), got {values.shape}")
    sd = None
    if "sd" in data:
        sd = _numeric("sd", data["sd"]).astype(np.float64)
        if sd.shape not in ((), values.shape):
            raise ConfigError(f"observations: sd must be a scalar or have the shape of {kind} "
                              f"{values.shape}, got {sd.shape}")
        if np.any(sd <= 0):
            raise ConfigError("observations: sd must be > 0")
        sd = np.broadcast_to(sd, values.shape).copy()
    return Observations(epochs=epochs, kind=kind, values=values, sd=sd, probe_x=probe_x)
