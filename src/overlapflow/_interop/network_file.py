"""The network file of an imported network (docs/theory.md §11): `ImportedNetwork`, how to drive
its extra input channels (`network_inputs`, `SourceChannelsTask`), writing and reading
net.npz, and overlapflow's network in float64 numpy (`simulate`, for checks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .._model.network import NetworkSpec
from .._model.nonlinearity import get_nonlinearity
from .._model.overlaps import overlap_labels
from .._model.tasks.base import Task, TaskBatch
from .._support.errors import ConfigError
from .._support.io import load_npz, write_npz_atomic

__all__ = ["NETWORK_FILE_KEYS", "ImportedNetwork", "SourceChannelsTask", "channel_labels",
           "load_network", "network_inputs", "network_labels", "overlap_labels", "relabel_report",
           "simulate", "vector_labels", "write_network"]

FILE_FORMAT = "overlapflow-network"
FILE_VERSION = 1

#: Keys of a written network file and what they hold.
NETWORK_FILE_KEYS = {
    "format": 'the string "overlapflow-network"',
    "format_version": "1",
    "X": "(N, P) float64, the vectors [M | U | V | Z]",
    "columns": "(P,) names of the columns of X (m1…, u1…, v1…, z1…; no suffix for a single one)",
    "M": "(N, n_in) input vectors (the extra channels included)",
    "U": "(N, R)", "V": "(N, R)", "Z": "(N, n_out)",
    "phi": "the nonlinearity's name", "dt": "the Euler step in units of τ",
    "N": "neurons", "n_in": "input channels (extra ones included)", "rank": "R",
    "n_out": "outputs",
    "channels": '(n_in,) "input:k" (the source\'s input k), "bias" (1 at every step) or '
                '"h0" (1/dt at step 0, 0 after)',
    "output_lead": "y[:, t] is the source's output at source step t + output_lead (0 or 1)",
    "source": "one line: where the network came from and how it was mapped",
    "check_error": "max |y − y_source| / max |y_source| on random inputs (float64), against the "
                   "map's reading of the source",
    "check_inputs": "the inputs of check_error",
    "probe_error": "max |y − y_probe| / max |y_probe| against the user's own outputs (--probe), "
                   "NaN without a probe",
    "probe_inputs": "the probe it was measured on",
    "labels": '(P,) the columns of X named for what they are ("bias", "h0" for the extra '
              "channels, as in `vector_labels`)",
}


# ---------------------------------------------------------------------------------------
# the imported network


@dataclass(frozen=True, eq=False)  # holds an array: compare .X, .spec, .channels instead
class ImportedNetwork:
    """A network in overlapflow's model, with how to drive it like its source.

    Attributes:
        X: (N, P) float64 vectors [M | U | V | Z] (read-only).
        spec: its `NetworkSpec` (n_in counts the extra channels).
        channels: (n_in,) per input column: "input:k" (the source's input k), "bias" (1 at
            every step) or "h0" (1/dt at step 0, 0 after); see `network_inputs`.
        output_lead: 0 or 1: y[:, t] is the source's output at source step t + output_lead
            (1 for a source that reads out before the update).
        source: one line saying where it came from.
        check_error: max |y − y_source| / max |y_source| of the conversion on random inputs
            (float64 numpy; the truncation error for a truncated source), NaN if not checked.
            y_source is the map's reading of the file: this shows the conversion exact, not
            the map right.
        probe_error: max |y − y_probe| / max |y_probe| against outputs the user computed with
            their own model (`import_network(probe=...)`), NaN without a probe.
    """

    X: np.ndarray
    spec: NetworkSpec
    channels: tuple[str, ...]
    output_lead: int = 0
    source: str = ""
    check_error: float = float("nan")
    check_inputs: str = field(default="", compare=False)
    probe_error: float = float("nan")
    probe_inputs: str = field(default="", compare=False)

    def __post_init__(self):
        X = np.array(self.X, dtype=np.float64)
        if X.ndim != 2 or X.shape != (self.spec.N, self.spec.P):
            raise ConfigError(f"X must have shape ({self.spec.N}, {self.spec.P}), got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ConfigError("X contains NaN or inf")
        X.setflags(write=False)
        object.__setattr__(self, "X", X)
        channels = tuple(str(c) for c in self.channels)
        if len(channels) != self.spec.n_in:
            raise ConfigError(f"channels names {len(channels)} inputs but n_in = {self.spec.n_in}")
        inputs = [c for c in channels if c.startswith("input:")]
        if [c for c in channels if c not in inputs and c not in ("bias", "h0")] or \
                channels.count("bias") > 1 or channels.count("h0") > 1:
            raise ConfigError(f"channels must be input:k, bias or h0 (each extra once), got {channels}")
        if sorted(inputs, key=lambda c: int(c[6:]) if c[6:].isdigit() else -1) != \
                [f"input:{k}" for k in range(len(inputs))] or not inputs:
            raise ConfigError(f"channels must hold input:0 … input:{len(inputs) - 1}, got {channels}")
        object.__setattr__(self, "channels", channels)
        if self.output_lead not in (0, 1):
            raise ConfigError(f"output_lead must be 0 or 1, got {self.output_lead!r}")

    @property
    def n_source_inputs(self) -> int:
        """The source's number of inputs (the "input:k" channels)."""
        return sum(c.startswith("input:") for c in self.channels)

    @property
    def sigma(self) -> np.ndarray:
        """Σ = XᵀX/N (P, P)."""
        return self.X.T @ self.X / self.spec.N


def channel_labels(channels) -> tuple[str, ...]:
    """Names of input columns for their channels: m / m1… for the source's inputs (numbered as
    the source numbers them), "bias" and "h0" for the extra ones (docs/theory.md §11.1)."""
    channels = tuple(str(c) for c in channels)
    n_src = sum(c.startswith("input:") for c in channels)
    return tuple(("m" if n_src == 1 else f"m{int(c[6:]) + 1}") if c.startswith("input:") else c
                 for c in channels)


def vector_labels(net: ImportedNetwork) -> tuple[str, ...]:
    """Names of the columns of X: `channel_labels` for M, then U, V, Z as `spec.vector_names`."""
    return channel_labels(net.channels) + net.spec.vector_names[net.spec.n_in:]


def relabel_report(report: dict, spec: NetworkSpec, labels) -> dict:
    """An `inspect_overlaps` report with vectors and overlaps named by `labels` (P,).

    Renames `vector_names`, `names`, the keys of `values` and the entries of `visible` and
    `invisible`; the numbers are unchanged.
    """
    new = dict(zip(report["names"], overlap_labels(spec, labels)))
    out = dict(report)
    out["vector_names"] = [str(c) for c in labels]
    out["names"] = [new[n] for n in report["names"]]
    out["values"] = {new[n]: v for n, v in report["values"].items()}
    out["visible"] = [new[n] for n in report["visible"]]
    out["invisible"] = [new[n] for n in report["invisible"]]
    return out


def network_labels(path) -> tuple[str, ...] | None:
    """The column labels of a network file (`vector_labels`), None for plain arrays M, U, V, Z."""
    data = load_npz(path, what="network file")
    if "format" not in data:
        return None
    return vector_labels(_network_from_arrays(data, what=str(path)))


def network_inputs(net: ImportedNetwork, x):
    """overlapflow's inputs (B, T, n_in) for the source's inputs x (B, T, n_source_inputs).

    The "bias" channel is 1 at every step, the "h0" channel 1/dt at step 0 and 0 after, and
    "input:k" is x[..., k] (docs/theory.md §11). numpy in, numpy out; JAX arrays stay JAX.
    """
    if x.ndim != 3 or x.shape[2] != net.n_source_inputs:
        raise ConfigError(f"inputs must have shape (B, T, {net.n_source_inputs}), got {tuple(x.shape)}")
    return _channel_inputs(net.channels, net.spec.dt, x)


def _channel_inputs(channels, dt: float, x):
    """The inputs (B, T, len(channels)) of `channels` for the source's inputs x (B, T, ·):
    "bias" ones, "h0" 1/dt at step 0 and 0 after, "input:k" x[..., k] (numpy or JAX, as x)."""
    xp = np
    if not isinstance(x, np.ndarray):
        import jax.numpy as jnp

        xp = jnp
    B, T = x.shape[:2]
    cols = []
    for c in channels:
        if c == "bias":
            cols.append(xp.ones((B, T), x.dtype))
        elif c == "h0":
            cols.append(xp.zeros((B, T), x.dtype).at[:, 0].set(1.0 / dt) if xp is not np
                        else np.concatenate([np.full((B, 1), 1.0 / dt, x.dtype),
                                             np.zeros((B, T - 1), x.dtype)], axis=1))
        else:
            cols.append(x[..., int(c[6:])])
    return xp.stack(cols, axis=-1)


@dataclass(frozen=True, kw_only=True)
class SourceChannelsTask(Task):
    """A task for the source's inputs, driving an imported network's extra channels too.

    Its batches are those of `base` (same key, same trials) with the inputs passed through
    `network_inputs`: "bias" columns of ones, an "h0" column 1/dt at step 0 (docs/theory.md
    §11). n_in = len(channels); dt, t_max, n_out, the batch size and determinism are base's.

    Parameters:
        base: the `Task` whose n_in is the number of "input:k" channels.
        channels: the imported network's `channels`.
    """

    kind: ClassVar[str] = "source_channels"
    dt: float | None = None  # type: ignore[assignment]
    t_max: float | None = None  # type: ignore[assignment]
    n_in: int | None = None  # type: ignore[assignment]
    n_out: int | None = None  # type: ignore[assignment]
    base: Any = None
    channels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.base, Task):
            raise ConfigError(f"source_channels: base must be a Task, got {type(self.base).__name__}")
        channels = tuple(str(c) for c in self.channels)
        n_src = sum(c.startswith("input:") for c in channels)
        if n_src != self.base.n_in or any(c not in ("bias", "h0") and not c.startswith("input:")
                                          for c in channels):
            raise ConfigError(f"source_channels: the task has n_in = {self.base.n_in} but the "
                              f"network's channels {channels} take {n_src} source inputs")
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "dt", self.base.dt)
        object.__setattr__(self, "t_max", self.base.t_max)
        object.__setattr__(self, "n_out", self.base.n_out)
        object.__setattr__(self, "n_in", len(channels))
        super().__post_init__()

    @property
    def n_steps(self) -> int:
        return self.base.n_steps

    @property
    def batch_size(self) -> int:
        return self.base.batch_size

    @property
    def deterministic(self) -> bool:
        return self.base.deterministic

    def _sample(self, key) -> TaskBatch:
        batch = self.base.sample(key)
        return batch._replace(x=_channel_inputs(self.channels, self.dt, batch.x))


def simulate(net: ImportedNetwork, x) -> np.ndarray:
    """overlapflow's network (docs/theory.md §1) in float64 numpy: y (B, T, n_out) for x (B, T, n_in).

    The same step as `network_outputs`, without JAX (no float64 switch needed): for checks.
    """
    spec = net.spec
    X = net.X
    M, U, V, Z = X[:, spec.m], X[:, spec.u], X[:, spec.v], X[:, spec.z]
    phi = get_nonlinearity(spec.phi_name).numpy
    x = np.asarray(x, dtype=np.float64)
    h = np.zeros((x.shape[0], spec.N))
    ys = []
    for t in range(x.shape[1]):
        r = phi(h)
        h = h + spec.dt * (-h + (r @ V) @ U.T / spec.N + x[:, t] @ M.T)
        ys.append(phi(h) @ Z / spec.N)
    return np.stack(ys, axis=1)


# ---------------------------------------------------------------------------------------
# the network file


def write_network(path, net: ImportedNetwork) -> None:
    """Write `net` to `path` (.npz, atomically: a failed write leaves nothing, or the old file).

    Keys: `NETWORK_FILE_KEYS`. M, U, V, Z are written beside X so that
    `overlapflow inspect --vectors` reads the file as it is.
    """
    spec = net.spec
    X = net.X
    write_npz_atomic(
        path, format=np.asarray(FILE_FORMAT), format_version=np.asarray(FILE_VERSION),
        X=X, columns=np.asarray(spec.vector_names), M=X[:, spec.m], U=X[:, spec.u],
        V=X[:, spec.v], Z=X[:, spec.z], phi=np.asarray(spec.phi_name), dt=np.asarray(spec.dt),
        N=np.asarray(spec.N), n_in=np.asarray(spec.n_in), rank=np.asarray(spec.rank),
        n_out=np.asarray(spec.n_out), channels=np.asarray(net.channels),
        output_lead=np.asarray(net.output_lead), source=np.asarray(net.source),
        check_error=np.asarray(net.check_error), check_inputs=np.asarray(net.check_inputs),
        probe_error=np.asarray(net.probe_error), probe_inputs=np.asarray(net.probe_inputs),
        labels=np.asarray(vector_labels(net)),
    )


def load_network(path) -> ImportedNetwork:
    """Read a network file written by `write_network` (`np.load` without pickle), validated.

    Raises:
        ConfigError: not such a file, a missing key (the message lists the expected ones), or
            sizes that disagree.
    """
    data = load_npz(path, what="network file")
    return _network_from_arrays(data, what=str(path))


def _network_from_arrays(data: dict, *, what: str) -> ImportedNetwork:
    required = ("format", "format_version", "X", "phi", "dt", "N", "n_in", "rank", "n_out",
                "channels", "output_lead")
    missing = [k for k in required if k not in data]
    if missing:
        raise ConfigError(f"{what} is not an overlapflow network file: missing {', '.join(missing)}; "
                          f"expected keys: {', '.join(NETWORK_FILE_KEYS)}")
    if str(data["format"]) != FILE_FORMAT:
        raise ConfigError(f"{what}: format is {str(data['format'])!r}, expected {FILE_FORMAT!r}")
    version = int(data["format_version"])
    if version != FILE_VERSION:
        raise ConfigError(f"{what}: format_version {version} is not supported (this overlapflow "
                          f"reads version {FILE_VERSION})")
    try:
        sizes = {k: int(data[k]) for k in ("N", "n_in", "rank", "n_out")}
        dt = float(data["dt"])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: N, n_in, rank, n_out and dt must be numbers ({exc})") from None
    spec = NetworkSpec(N=sizes["N"], rank=sizes["rank"], n_in=sizes["n_in"], n_out=sizes["n_out"],
                       phi=str(data["phi"]), dt=dt)
    X = data["X"]
    if X.dtype.kind not in "fiu" or X.shape != (spec.N, spec.P):
        raise ConfigError(f"{what}: X must be numeric of shape ({spec.N}, {spec.P}) for N = {spec.N}, "
                          f"rank {spec.rank}, n_in {spec.n_in}, n_out {spec.n_out}; got {X.shape}")
    for key, part in (("M", spec.m), ("U", spec.u), ("V", spec.v), ("Z", spec.z)):
        if key in data and not np.array_equal(np.asarray(data[key], dtype=np.float64),
                                              np.asarray(X[:, part], dtype=np.float64)):
            raise ConfigError(f"{what}: {key} differs from its columns of X (edited by hand?)")
    check = float(data["check_error"]) if "check_error" in data else float("nan")
    probe = float(data["probe_error"]) if "probe_error" in data else float("nan")
    return ImportedNetwork(
        X=X, spec=spec, channels=tuple(str(c) for c in np.atleast_1d(data["channels"])),
        output_lead=int(data["output_lead"]), source=str(data.get("source", "")),
        check_error=check, check_inputs=str(data.get("check_inputs", "")),
        probe_error=probe, probe_inputs=str(data.get("probe_inputs", "")),
    )
