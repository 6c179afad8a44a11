"""Bring your own network: read a low-rank (or full-rank) RNN from a file, convert it exactly
into overlapflow's model, write and read the result (docs/theory.md §11).

overlapflow's model (docs/theory.md §1), with X = [M | U | V | Z] (N, P):

    h_{t+1} = h_t + dt · ( −h_t + (1/N) U Vᵀ φ(h_t) + M x_t ),   h_0 = 0
    y_t     = (1/N) Zᵀ φ(h_{t+1})                                  (readout after update t)

A *source* network is read as the general form

    h_{t+1} = h_t + α · ( −h_t + W φ(h_t) + s_in M x_t + b ),    h_0 = h0,   α = dt/τ
    W       = s_w U Vᵀ   (low rank)   or   s_w W_full   (full rank, truncated to rank R by SVD)
    readout "after":  r_t = s_out Zᵀ φ(h_{t+1})        "before":  o_t = s_out Zᵀ φ(h_t)

and converted *exactly* (docs/theory.md §11):

    M' = s_in M,   U' = ς √|N s_w| U,   V' = √|N s_w| V   (ς the sign of s_w),   Z' = N s_out Z
    dt = α;   a bias b ≠ 0 becomes an extra input column b driven by 1 at every step;
    h0 ≠ 0 becomes an extra column m₀ = (1 − α) h0 + α W (φ(h0) − φ(0)) driven by 1/dt at
    step 0 and 0 after (then h'_1 = h_1 and the two trajectories coincide from step 1 on);
    "before" readout: y_t = o_{t+1} (the output at source step t + 1 is overlapflow's y at t;
    o_0 = s_out Zᵀ φ(h0), the readout of the initial state, has no counterpart).

A readout bias ≠ 0 has no exact form and is refused; so is anything else outside the model
(several layers, LSTM/GRU gates, a bidirectional RNN), each with a one-line `ConfigError`.

A map may name per-channel scale arrays (`scale_in = "si"`: M' = M diag(si)); the keys of the
source that it does not read are an error (`allow_unused`: a warning). The check above uses the
map's reading of the file; `probe` (module `probe`) checks against the user's own outputs.

`torch.nn.RNN` (tanh or relu, one layer) and `RNNCell`: a_t = W_ih x_t + b_ih + W_hh r_{t−1} +
b_hh, r_t = φ(a_t), r_{−1} = torch's h_0 (0 by default). With the pre-activation as the state,
h_{t+1} = a_t, this is the form above with α = 1 (dt = 1, no leak), W = W_hh, M = W_ih,
b = b_ih + b_hh, and the readout y_t = W_out r_t taken after the update: exact, with
torch's r_{−1} ≠ 0 entering as the impulse column W (r_{−1} − φ(0)) (`h0_is_rate`).

This module is longer than 400 lines because the conversion is one sequence of checks and
steps (keys, unused keys, φ and α, N and shapes, scales, truncation, biases, h0, the check)
that reads best in one place.

The written file (`write_network`, format "overlapflow-network" version 1, see
`NETWORK_FILE_KEYS`) is read back by `load_network`, by `overlapflow inspect --vectors` (its
M, U, V, Z arrays) and by `[init] vectors = "net.npz"` in a config.
"""


from __future__ import annotations

import math
import re
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from .._model.network import NetworkSpec
from .._model.nonlinearity import get_nonlinearity
from .._support.errors import ConfigError
from .network_file import (
    FILE_FORMAT,
    NETWORK_FILE_KEYS,
    ImportedNetwork,
    SourceChannelsTask,
    _network_from_arrays,
    load_network,
    network_inputs,
    simulate,
    write_network,
)
from .probe import probe_failure, with_probe
from .sources import (
    IMPORT_FORMATS,
    IMPORT_PRESETS,
    MAP_KEYS,
    NetworkMap,
    _expected,
    _from_stacked,
    _lookup,
    _parse_scale,
    _scale_factor,
    _scale_terms,
    _times_n,
    _times_n_all,
    read_map,
    read_source,
)

__all__ = [
    "IMPORT_FORMATS",
    "IMPORT_PRESETS",
    "MAP_KEYS",
    "NETWORK_FILE_KEYS",
    "ImportedNetwork",
    "NetworkMap",
    "SourceChannelsTask",
    "UnusedKeysWarning",
    "import_network",
    "load_network",
    "network_inputs",
    "read_map",
    "read_source",
    "probe_failure",
    "simulate",
    "with_probe",
    "write_network",
]

# ---------------------------------------------------------------------------------------
# conversion


def _vector(data, mapping, name, key, N=None, *, width=None, n_from=None):
    """Source array `key` as (N, k) float64, transposed if the map says so; checked.

    `n_from` names the array N was read from, for the message of a shape error.
    """
    arr = data[key]
    if arr.dtype.kind not in "fiu":
        raise ConfigError(f"source array {key!r} ({name}) must be numeric, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    shape = data[key].shape
    transposed = arr.ndim == 2 and name in mapping.transposed
    if arr.ndim == 1:
        arr = arr[:, None]
    elif transposed:
        arr = arr.T
    if arr.ndim != 2:
        raise ConfigError(f"source array {key!r} ({name}) must be (N,) or (N, k), got shape {shape}")
    if N is not None and arr.shape[0] != N:
        where = f"N = {N} from {n_from!r}" if n_from else f"the network has N = {N}"
        if transposed and arr.shape[1] == N:
            fix = f'store it as (k, N) or remove "{key}" from transpose'
        elif len(shape) == 2 and arr.shape[1] == N:
            fix = f'store it as (N, {arr.shape[0]}) or add "{key}" to transpose'
        else:
            fix = "its rows must be the N neurons"
        raise ConfigError(f"source array {key!r} ({name}) has shape {shape}: {where}, so {fix}")
    if width is not None and arr.shape[1] != width:
        raise ConfigError(f"source array {key!r} ({name}) must have shape (N, {width}), got {shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"source array {key!r} ({name}) contains NaN or inf")
    return arr


def _scale_array(data, key, which, n, role):
    """The (n,) scale array `key` named by `which` (scale_in: n_in, scale_out: n_out)."""
    arr = data[key]
    if arr.dtype.kind not in "fiu":
        raise ConfigError(f"source array {key!r} ({which}) must be numeric, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim > 1 or arr.size not in (1, n):
        raise ConfigError(f"source array {key!r} ({which}) scales the {n} columns of {role}: it must "
                          f"have shape ({n},), got {data[key].shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"source array {key!r} ({which}) contains NaN or inf")
    return np.broadcast_to(arr.reshape(-1), (n,))


def _balanced_factors(A, S, B, scale, N):
    """U' = ς√(N|scale|s) a_i, V' = √(N|scale|s) b_i: (1/N) U'V'ᵀ = scale · A diag(S) Bᵀ."""
    root = np.sqrt(N * abs(scale) * S)
    return np.sign(scale) * A * root, B * root


def _low_rank(U, V, rank):
    """rank-`rank` SVD of U Vᵀ without forming it: (A, S, B) with U Vᵀ ≈ A diag(S) Bᵀ."""
    Qu, Ru = np.linalg.qr(U)
    Qv, Rv = np.linalg.qr(V)
    a, s, bt = np.linalg.svd(Ru @ Rv.T)
    return Qu @ a[:, :rank], s[:rank], Qv @ bt[:rank].T


def _resolve_value(what, flag, mapped, stored):
    """A scalar from a flag, the map or the file: two that are given must agree."""
    given = [(src, v) for src, v in (("--" + what, flag), ("the map", mapped), ("the source file", stored))
             if v is not None]
    if not given:
        return None
    src0, v0 = given[0]
    for src, v in given[1:]:
        if (v != v0) if isinstance(v0, str) else not math.isclose(float(v), float(v0), rel_tol=1e-12):
            raise ConfigError(f"{what} is {v0!r} from {src0} but {v!r} from {src}")
    return v0


def _stored_scalar(data, key, kind):
    if key not in data:
        return None
    arr = data[key]
    if arr.ndim != 0:
        raise ConfigError(f"source entry {key!r} must be a scalar, got shape {arr.shape}")
    if kind == "str":
        if arr.dtype.kind not in "US":
            raise ConfigError(f"source entry {key!r} must be a string, got dtype {arr.dtype}")
        return str(arr)
    if arr.dtype.kind not in "fiu":
        raise ConfigError(f"source entry {key!r} must be a number, got dtype {arr.dtype}")
    return float(arr)


class UnusedKeysWarning(UserWarning):
    """Keys of a source file that the mapping does not read (imported with `allow_unused`)."""


#: Scalars of a source file that the importer reads itself (besides the map's arrays).
_READ_SCALARS = ("format", "phi", "dt", "tau")


def import_network(source, *, fmt: str = "npz", preset: str | None = None, map=None,
                   rank: int | None = None, phi: str | None = None, dt: float | None = None,
                   tau: float | None = None, check_batch: int = 4, check_steps: int = 50,
                   check_seed: int = 0, allow_unused: bool = False, probe=None,
                   probe_tol: float | None = 1e-6) -> ImportedNetwork:
    """Read a network from `source` (a path, or a dict of arrays) and convert it exactly.

    Args:
        source: path of an .npz or a torch file, or a dict {key: array}.
        fmt: "npz" or "torch" (ignored for a dict).
        preset: "overlapflow" (default), "paper", "torch-rnn" or "low-rank-rnns"
            (docs/theory.md §11.1).
        map: a MAP.toml path or a dict of `MAP_KEYS`, overriding the preset.
        rank: R; required for a full-rank source (truncated by SVD); for a low-rank one it may
            lower the rank (SVD of U Vᵀ without forming it).
        phi, dt, tau: what the source does not hold; α = dt/τ becomes overlapflow's dt. A
            value also given by the map or the file must agree with it.
        check_batch, check_steps, check_seed: the random inputs (i.i.d. N(0, 1)) on which the
            conversion is checked against the map's reading of the source (`check_error`).
            This shows that the conversion is exact; it cannot show that the map reads the
            file the way the user's model does: `probe` does.
        allow_unused: keys of the source that the map does not read are an error (they may
            be scales or biases the outputs depend on); True makes them an `UnusedKeysWarning`.
        probe: the user's own model on some inputs: (x, y) or the path of an .npz with arrays
            x (B, T, n_in) and y (B, T, n_out), y computed by the user's framework. The
            network's outputs on `network_inputs(net, x)` (shifted by `output_lead`) are
            compared with y: `probe_error`, max |y_net − y| / max |y|.
        probe_tol: the largest `probe_error` accepted (None: record it, never raise).

    Returns:
        `ImportedNetwork`. Its outputs on `network_inputs(net, x)` equal the source's outputs on
        x, shifted by `output_lead`, up to float64 rounding (or the truncation error).

    Raises:
        ConfigError: one line naming what is missing, unused, mismatched or outside the model;
            a conversion whose check is not finite; a `probe_error` above `probe_tol`.
    """
    mapping = read_map(map, preset=preset)
    name = mapping.name
    if isinstance(source, dict):
        data = {str(k): np.asarray(v) for k, v in source.items()}
        where = "arrays"
    else:
        data = read_source(source, fmt)
        where = Path(source).name
    if _stored_scalar(data, "format", "str") == FILE_FORMAT:
        if map is not None or preset not in (None, "overlapflow"):
            raise ConfigError(f"{where} is an overlapflow network file; import it without --preset/--map")
        net = _network_from_arrays(data, what=where)
        if rank not in (None, net.spec.rank):
            raise ConfigError(f"{where} is an overlapflow network of rank {net.spec.rank}; "
                              f"--rank {rank} would change it (re-truncation is not supported)")
        _resolve_value("phi", phi, None, net.spec.phi_name)
        _resolve_value("dt", None if dt is None else dt / (tau or 1.0), None, net.spec.dt)
    else:
        stacked = "X" in data
        if stacked:
            data = _from_stacked(data)
        net = _convert(data, mapping, where=f"{where} ({name})", rank=rank, phi=phi, dt=dt, tau=tau,
                       check=(check_batch, check_steps, check_seed), allow_unused=allow_unused,
                       consumed=("X", "columns") if stacked else ())
    if probe is not None:
        net = with_probe(net, probe, tol=probe_tol)
    return net


def _refuse_outside_model(data, mapping):
    w = _lookup(data, mapping.w) if mapping.w else None
    if w is None and mapping.w and mapping.w.endswith("_l0"):
        w = _lookup(data, mapping.w.removesuffix("_l0"))
    if w is not None and data[w].ndim == 2 and data[w].shape[0] in (3 * data[w].shape[1],
                                                                   4 * data[w].shape[1]):
        gates = {3: "GRU", 4: "LSTM"}[data[w].shape[0] // data[w].shape[1]]
        raise ConfigError(f"source {w!r} has shape {data[w].shape}: the gates of an {gates} are "
                          "outside the model (a plain RNN has an (N, N) matrix)")
    for key in data:
        if re.search(r"weight_hh_l[1-9]", key):
            raise ConfigError(f"source has a second layer ({key}): only one-layer RNNs are in the model")
        if key.endswith("_reverse"):
            raise ConfigError(f"source is bidirectional ({key}): a backward pass is outside the model")


def _convert(data, mapping: NetworkMap, *, where, rank, phi, dt, tau, check, allow_unused=False,
             consumed=()) -> ImportedNetwork:
    _refuse_outside_model(data, mapping)
    keys = {}
    for name in ("m", "u", "v", "w", "z", "h0", "phi_bias", "readout_bias"):
        key = getattr(mapping, name)
        if key is None:
            continue
        found = _lookup(data, key)
        if found is None and mapping.fixed_alpha == 1.0 and name in ("m", "w"):
            found = _lookup(data, key.removesuffix("_l0"))  # RNNCell: weight_ih, weight_hh
        if found is None and name not in mapping.optional:
            raise ConfigError(f"missing key {key!r} ({name}) in the source; expected keys: "
                              f"{_expected(mapping)}; found: {', '.join(sorted(data)) or 'none'}")
        if found is not None:
            keys[name] = found
    b_keys = []
    for key in mapping.b:
        found = _lookup(data, key)
        if found is None and mapping.fixed_alpha == 1.0:
            found = _lookup(data, key.removesuffix("_l0"))
        if found is None and "b" not in mapping.optional:
            raise ConfigError(f"missing key {key!r} (b) in the source; expected keys: "
                              f"{_expected(mapping)}; found: {', '.join(sorted(data))}")
        if found is not None:
            b_keys.append(found)

    scale_keys = {}
    for which in ("scale_in", "scale_out"):
        factors, names = _scale_terms(which, getattr(mapping, which))
        found = []
        for key in names:
            hit = _lookup(data, key)
            if hit is None:
                raise ConfigError(f"map: {which} = {key!r} is neither a scale factor (a number, "
                                  "\"1/N\", \"c/N\", \"1/sqrt(N)\") nor a key of the source (keys: "
                                  f"{', '.join(sorted(data))})")
            found.append(hit)
        scale_keys[which] = (factors, found)

    used = set(keys.values()) | set(b_keys) | {k for _, f in scale_keys.values() for k in f}
    used |= {k for k in (*_READ_SCALARS, *consumed) if k in data}
    unused = sorted(set(data) - used)
    if unused:
        message = (f"the map does not use the source's {', '.join(map(repr, unused))} ({where}): "
                   "an array the map does not read may change the outputs (a scale, a bias); map "
                   "it (e.g. scale_in / scale_out = \"KEY\", b = \"KEY\"), or allow it (--allow-unused)")
        if not allow_unused:
            raise ConfigError(message)
        warnings.warn(message, UnusedKeysWarning, stacklevel=3)

    # φ and α = dt/τ: flags, map and file must agree where several give them.
    phi = _resolve_value("phi", phi, mapping.phi, _stored_scalar(data, "phi", "str"))
    phi = phi or mapping.default_phi
    if phi is None:
        raise ConfigError("φ is not in the source: give --phi (one of erf, linear, relu, softplus, tanh)")
    phi_np = get_nonlinearity(phi).numpy
    if mapping.fixed_alpha is not None:
        for what, value in (("dt", dt), ("tau", tau)):
            if value is not None and value != mapping.fixed_alpha:
                raise ConfigError(f"wrong {what}: {mapping.name} is a discrete map h ← Wφ(h) + Mx + b, "
                                  f"exactly overlapflow's step with dt = 1 (the state being the "
                                  f"pre-activation); --{what} {value!r} has no exact form")
        alpha = mapping.fixed_alpha
    elif mapping.alpha is not None:
        if dt is not None or tau is not None:
            raise ConfigError("the map gives alpha = dt/τ; do not give --dt or --tau as well")
        alpha = float(mapping.alpha)
    else:
        dt_v = _resolve_value("dt", dt, mapping.dt, _stored_scalar(data, "dt", "num"))
        tau_v = _resolve_value("tau", tau, mapping.tau, _stored_scalar(data, "tau", "num"))
        if dt_v is None:
            raise ConfigError("dt is not in the source: give --dt (and --tau if τ ≠ 1)")
        for what, value in (("dt", dt_v), ("tau", tau_v)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"wrong {what}: must be a finite number > 0, got {value!r}")
        alpha = float(dt_v) / float(tau_v if tau_v is not None else 1.0)
    if not 0.0 < alpha <= 1.0:
        raise ConfigError(f"wrong dt: dt/τ = {alpha!r} must be in (0, 1] (overlapflow's Euler step)")

    # N from the recurrent vectors (u, or w), so that a misread input array is named
    n_key = keys["w"] if "w" in keys else keys["u"]
    n_role = "w" if "w" in keys else "u"
    n_arr = data[n_key]
    if n_arr.ndim == 2 and n_role == "u" and n_arr.shape[0] < n_arr.shape[1] and \
            "u" not in mapping.transposed:
        raise ConfigError(f"source array {n_key!r} (u) has shape {n_arr.shape}: a low-rank factor is "
                          f"(N, R) with R < N, so store it as ({n_arr.shape[1]}, {n_arr.shape[0]}) or "
                          f'add "{n_key}" to transpose')
    if n_arr.ndim == 0:
        raise ConfigError(f"source array {n_key!r} ({n_role}) must be (N,) or (N, k), got a scalar")
    n_shape = n_arr.shape[::-1] if n_arr.ndim == 2 and n_role in mapping.transposed else n_arr.shape
    N = int(n_shape[0])
    M = _vector(data, mapping, "m", keys["m"], N, n_from=n_key)
    Z = _vector(data, mapping, "z", keys["z"], N, n_from=n_key)
    s_w = _times_n(_parse_scale("scale_w", mapping.scale_w), N)
    in_factors, in_keys = scale_keys["scale_in"]
    out_factors, out_keys = scale_keys["scale_out"]
    s_in = _scale_factor(in_factors, N)
    s_out = _times_n_all(out_factors, N)  # N × the factors: Z' = s_out · Z
    in_vec = np.ones(M.shape[1])
    for key in in_keys:
        in_vec = in_vec * _scale_array(data, key, "scale_in", M.shape[1], "M (n_in)")
    out_vec = np.ones(Z.shape[1])
    for key in out_keys:
        out_vec = out_vec * _scale_array(data, key, "scale_out", Z.shape[1], "Z (n_out)")

    if "w" in keys:
        W_full = _vector(data, mapping, "w", keys["w"], N, width=N, n_from=n_key)
        if rank is None:
            raise ConfigError(f"the source's recurrent matrix {keys['w']!r} is full ({N}×{N}): "
                              "give --rank R to truncate it by SVD")
        if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= N:
            raise ConfigError(f"--rank must be an integer in [1, N = {N}], got {rank!r}")
        A, S, Bt = np.linalg.svd(W_full)
        U, V = _balanced_factors(A[:, :rank], S[:rank], Bt[:rank].T, s_w / N, N)

        def recurrence(r):
            return s_w / N * (r @ W_full.T)
        kept = f"rank {rank} of {N}, singular values kept {S[:rank].sum() / S.sum():.3g} of the sum"
    else:
        U = _vector(data, mapping, "u", keys["u"], N, n_from=n_key)
        V = _vector(data, mapping, "v", keys["v"], N, width=U.shape[1], n_from=n_key)
        k = U.shape[1]
        if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= k):
            raise ConfigError(f"--rank must be an integer in [1, {k}] (the source has rank {k}), got {rank!r}")
        U_src, V_src = U, V

        def recurrence(r):
            return s_w / N * ((r @ V_src) @ U_src.T)
        if rank is None or rank == k:
            root = math.sqrt(abs(s_w))
            U, V = (math.copysign(root, s_w) * U if root != 1.0 or s_w < 0 else U,
                    root * V if root != 1.0 else V)
            kept = ""
        else:
            A, S, B = _low_rank(U, V, rank)
            U, V = _balanced_factors(A, S, B, s_w / N, N)
            kept = f"rank {rank} of {k}"
    R = U.shape[1]

    bias = np.zeros(N)
    for key in b_keys:
        bias = bias + _vector(data, mapping, "b", key, N, width=1, n_from=n_key)[:, 0]
    if "phi_bias" in keys:
        pb = _vector(data, mapping, "phi_bias", keys["phi_bias"], N, width=1, n_from=n_key)
        if np.any(pb != 0):
            raise ConfigError(f"bias {keys['phi_bias']!r} inside φ (r = φ(h + b)) is not zero: the "
                              "shifted state h + b follows overlapflow's step, but the readout "
                              "reads φ(h) = φ((h + b) − b), which has no exact form (set it to 0)")
    if "readout_bias" in keys:
        rb = np.asarray(data[keys["readout_bias"]], dtype=np.float64)
        if np.any(rb != 0):
            raise ConfigError(f"readout bias {keys['readout_bias']!r} is not zero: y = Zᵀφ(h)/N + c has "
                              "no exact form in overlapflow's model (retrain without it, or set it to 0)")
    h0 = None
    if "h0" in keys:
        h0 = _vector(data, mapping, "h0", keys["h0"], N, width=1, n_from=n_key)[:, 0]
        if not np.any(h0 != 0):
            h0 = None
    if h0 is not None and mapping.h0_is_rate and alpha != 1.0:
        raise ConfigError("h0 given as a rate (h0_is_rate) needs α = dt/τ = 1")

    M_out = s_in * M if s_in != 1.0 else M
    M_out = M_out * in_vec if in_keys else M_out
    Z_out = s_out * Z if s_out != 1.0 else Z
    Z_out = Z_out * out_vec if out_keys else Z_out
    columns = [M_out]
    channels = [f"input:{k}" for k in range(M.shape[1])]
    if np.any(bias != 0):
        columns.append(bias[:, None])
        channels.append("bias")
    phi0 = phi_np(np.zeros(1))[0]

    def low_rank_w(r):  # the converted (possibly truncated) W applied to rates r (N,)
        return U @ (V.T @ r) / N

    if h0 is not None:
        rate0 = h0 if mapping.h0_is_rate else phi_np(h0)
        leak = np.zeros(N) if mapping.h0_is_rate else (1.0 - alpha) * h0
        m0 = leak + alpha * low_rank_w(rate0 - phi0)
        columns.append(m0[:, None])
        channels.append("h0")
    M_all = np.concatenate(columns, axis=1)
    spec = NetworkSpec(N=N, rank=R, n_in=M_all.shape[1], n_out=Z.shape[1], phi=phi, dt=alpha)
    X = np.concatenate([M_all, U, V, Z_out], axis=1)
    lead = 1 if mapping.readout == "before" else 0
    desc = f"{where}; α = dt/τ = {alpha:g}, φ = {phi}, readout {mapping.readout}"
    if kept:
        desc += f"; truncated to {kept}"
    net = ImportedNetwork(X=X, spec=spec, channels=tuple(channels), output_lead=lead, source=desc)

    # check against the map's reading of the source (numpy, float64) on random inputs
    batch, steps, seed = check
    x = np.random.default_rng(seed).standard_normal((batch, steps, M.shape[1]))
    with np.errstate(all="ignore"):
        y_src = _simulate_source(recurrence, _scale_factor(in_factors, N) * M * in_vec, bias, h0,
                                 mapping.h0_is_rate, _scale_factor(out_factors, N) * Z * out_vec,
                                 phi_np, alpha, x)
        y_net = simulate(net, network_inputs(net, x))
        err = float(np.max(np.abs(y_net - y_src)) / max(np.max(np.abs(y_src)), 1e-300))
    if not math.isfinite(err):
        big = max(float(np.max(np.abs(np.asarray(data[k], np.float64)))) for k in used
                  if k in data and data[k].dtype.kind in "fiu" and data[k].size)
        raise ConfigError(f"the conversion check is not finite on random inputs ({where}): the "
                          f"source's values (largest |entry| {big:.3g}) overflow float64 in its "
                          "own equations; nothing written")
    return replace(net, check_error=err,
                   check_inputs=f"{batch} trials of {steps} steps, x ~ N(0, 1), seed {seed}")


def _simulate_source(recurrence, M, bias, h0, h0_is_rate, Z, phi, alpha, x):
    """The source's outputs r_t = Zᵀφ(h_{t+1}) (its own equations, float64 numpy)."""
    B, T, _ = x.shape
    N = M.shape[0]
    if h0 is None or h0_is_rate:  # torch.nn.RNN: the initial rate is given; with α = 1 the
        h = np.zeros((B, N))      # state enters only through it
    else:
        h = np.broadcast_to(h0, (B, N)).copy()
    rate = np.broadcast_to(h0, (B, N)).copy() if h0 is not None and h0_is_rate else phi(h)
    ys = []
    for t in range(T):
        h = h + alpha * (-h + recurrence(rate) + x[:, t] @ M.T + bias)
        rate = phi(h)
        ys.append(rate @ Z)
    return np.stack(ys, axis=1)
