"""Reading a source network (docs/theory.md §11): file formats (npz, torch), the mappings
(presets and MAP.toml) that say which arrays are which and in which convention (φ in float64
numpy is `Nonlinearity.numpy`).

Longer than 400 lines because the map (its keys, defaults, scale grammar and validation) and
the readers of the two file formats belong together: both define what a source file means."""

from __future__ import annotations

import math
import pickle
import re
import tomllib
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._model.nonlinearity import get_nonlinearity
from .._support.errors import ConfigError
from .._support.extras import require_module
from .._support.io import existing_file, load_npz
from .map_keys import MAP_DEFAULTS, MAP_KEYS, map_key_table

__all__ = ["IMPORT_FORMATS", "IMPORT_PRESETS", "MAP_DEFAULTS", "MAP_KEYS", "NetworkMap", "map_key_table",
           "read_map", "read_source"]

IMPORT_FORMATS = ("npz", "torch")
IMPORT_PRESETS = ("overlapflow", "paper", "torch-rnn", "low-rank-rnns")


# ---------------------------------------------------------------------------------------
# scale factors "1/N", "1/sqrt(N)", numbers


_SCALE_RE = re.compile(r"^\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)?\s*(?:/\s*(N|sqrt\(N\)))?\s*$")


def _parse_scale(name: str, value: Any) -> tuple[float, float]:
    """A scale factor as (c, p) meaning c·N^p, p ∈ {0, −½, −1}; exact for "1/N"."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, \"1/N\" or \"1/sqrt(N)\", got {value!r}")
    if isinstance(value, (int, float)):
        c, p = float(value), 0.0
    elif isinstance(value, str) and (match := _SCALE_RE.match(value)) and (match[1] or match[2]):
        c = float(match[1]) if match[1] else 1.0
        p = {None: 0.0, "N": -1.0, "sqrt(N)": -0.5}[match[2]]
    else:
        raise ConfigError(f"{name} must be a number, \"1/N\", \"c/N\" or \"1/sqrt(N)\", got {value!r}")
    if not math.isfinite(c) or c == 0.0:
        raise ConfigError(f"{name} must be finite and non-zero, got {value!r}")
    return c, p


def _times_n(scale: tuple[float, float], N: int) -> float:
    """N · c · N^p, exactly c when p = −1."""
    c, p = scale
    return c if p == -1.0 else c * float(N) ** (1.0 + p)


# ---------------------------------------------------------------------------------------
# mappings: presets and MAP.toml


def _scale_terms(name: str, value: Any) -> tuple[tuple, tuple[str, ...]]:
    """A scale entry split into its factors ((c, p), …) and its array keys (docs/theory.md §11.1).

    A string that parses as a factor ("1/N", "2/sqrt(N)", "0.5") is one; any other string is
    the key of an array of the file; a list multiplies its terms.
    """
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ConfigError(f"{name} must not be an empty list")
    factors, keys = [], []
    for item in items:
        if isinstance(item, str) and not _SCALE_RE.match(item) and "/" not in item:
            keys.append(item)
        else:
            factors.append(_parse_scale(name, item))
    return tuple(factors), tuple(keys)


def _scale_factor(terms, N: int) -> float:
    """The product of the factors (c, p) as a number for N."""
    out = 1.0
    for c, p in terms:
        out *= c * float(N) ** p
    return out


def _times_n_all(terms, N: int) -> float:
    """N × the product of the factors, exactly c when the one factor is c/N."""
    if len(terms) == 1:
        return _times_n(terms[0], N)
    return float(N) * _scale_factor(terms, N)


@dataclass(frozen=True)
class NetworkMap:
    """How to read a source network's arrays (docs/theory.md §11). See `MAP_KEYS`.

    Attributes: the `MAP_KEYS` entries (None where not given), plus `name` (a description),
    `fixed_alpha` (α that the source's kind fixes, e.g. 1 for torch.nn.RNN) and
    `default_phi` (φ when nothing else gives it: torch.nn.RNN's tanh) and `optional` (the
    keys that may be missing from the source).
    """

    name: str = "map"
    m: str | None = "m"
    u: str | None = "u"
    v: str | None = "v"
    w: str | None = None
    z: str | None = "z"
    b: tuple[str, ...] = ()
    h0: str | None = None
    h0_is_rate: bool = False
    phi_bias: str | None = None
    readout_bias: str | None = None
    transpose: frozenset = frozenset()
    scale_w: Any = "1/N"
    scale_in: Any = 1.0
    scale_out: Any = "1/N"
    readout: str = "after"
    phi: str | None = None
    dt: float | None = None
    tau: float | None = None
    alpha: float | None = None
    fixed_alpha: float | None = None
    default_phi: str | None = None  # used when neither a flag, the map nor the file gives φ
    optional: frozenset = frozenset()  # keys that may be missing from the source

    def __post_init__(self):
        for key in ("m", "z"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(f"map: {key} (the key of the {'input' if key == 'm' else 'readout'}"
                                  " vectors) is required")
        if self.w is None and not (isinstance(self.u, str) and isinstance(self.v, str)):
            raise ConfigError("map: give u and v (a low-rank W = s_w U Vᵀ) or w (a full matrix)")
        self.transposed  # noqa: B018 (validates the names)
        if self.readout not in ("after", "before"):
            raise ConfigError(f"map: readout must be \"after\" or \"before\", got {self.readout!r}")
        _parse_scale("map: scale_w", self.scale_w)
        for key in ("scale_in", "scale_out"):
            value = getattr(self, key)
            if isinstance(value, list):
                object.__setattr__(self, key, tuple(value))
            _scale_terms(f"map: {key}", getattr(self, key))
        if not isinstance(self.h0_is_rate, bool):
            raise ConfigError(f"map: h0_is_rate must be true or false, got {self.h0_is_rate!r}")
        if self.alpha is not None and (self.dt is not None or self.tau is not None):
            raise ConfigError("map: give alpha or dt (and tau), not both")
        for key in ("dt", "tau", "alpha"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ConfigError(f"map: {key} must be a finite number > 0, got {value!r}")
        if self.phi is not None:
            get_nonlinearity(self.phi)  # a known name, or a ConfigError listing them


    @property
    def transposed(self) -> frozenset:
        """The roles among m, u, v, w, z that `transpose` names (by the file's key, or by role)."""
        roles = {getattr(self, r): r for r in ("m", "u", "v", "w", "z") if getattr(self, r)}
        resolved, bad = set(), []
        for name in self.transpose:  # the file's key names first, then the role names
            if name in roles:
                resolved.add(roles[name])
            elif name in ("m", "u", "v", "w", "z"):
                resolved.add(name)
            else:
                bad.append(name)
        if bad:
            raise ConfigError(f"map: transpose names {', '.join(sorted(bad))}, not an array of the "
                              f"map; it may name {', '.join(roles)} (the file's keys) or m, u, v, "
                              "w, z (overlapflow's roles)")
        return frozenset(resolved)


_PRESETS = {
    # overlapflow's own convention (arrays m, u, v, z; optional b and h0).
    "overlapflow": NetworkMap(name="preset overlapflow", b=("b",), h0="h0",
                              optional=frozenset({"b", "h0"})),
    # The paper's RNN class: parameters m, u, v, z (N, 1); h ← h + (dt/τ)(−h + u vᵀφ(h)/N + m x);
    # readout z·φ(h_t)/N before the update.
    "paper": NetworkMap(name="preset paper", readout="before", b=("b",), h0="h0",
                        optional=frozenset({"b", "h0"})),
    # torch.nn.RNN (one layer) or RNNCell plus a readout Linear under "readout.".
    "torch-rnn": NetworkMap(
        name="preset torch-rnn", m="weight_ih_l0", u=None, v=None, w="weight_hh_l0",
        z="readout.weight", b=("bias_ih_l0", "bias_hh_l0"), h0="h0", h0_is_rate=True,
        readout_bias="readout.bias", transpose=frozenset({"z"}), scale_w=1.0, scale_in=1.0,
        scale_out=1.0, readout="after", default_phi="tanh", fixed_alpha=1.0,
        optional=frozenset({"b", "h0", "readout_bias"}),
    ),
    # LowRankRNN of the low_rank_rnns package (Dubreuil, Valente et al.): wi (n_in, N), si
    # (n_in,), m, n (N, R), b (N,) inside φ, wo (N, n_out), so (n_out,), h0 (N,);
    # h ← h + α(−h + m nᵀφ(h + b)/N + (wi ⊙ si)ᵀ x), y = φ(h_{t+1})·(wo ⊙ so)/N.
    "low-rank-rnns": NetworkMap(
        name="preset low-rank-rnns", m="wi", u="m", v="n", z="wo", h0="h0", phi_bias="b",
        transpose=frozenset({"wi"}), scale_in="si", scale_out=("so", "1/N"), default_phi="tanh",
        optional=frozenset({"h0", "phi_bias"}),
    ),
}


def read_map(source: Any = None, *, preset: str | None = None) -> NetworkMap:
    """The `NetworkMap` of a preset, updated by a MAP.toml (path) or a dict of `MAP_KEYS`.

    With neither a preset nor a map, the "overlapflow" preset. A map alone starts from
    "overlapflow" (keys m, u, v, z; scales 1/N; readout after) and overrides what it gives.
    """
    if preset is not None and preset not in _PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; valid: {', '.join(IMPORT_PRESETS)}")
    base = _PRESETS[preset or "overlapflow"]
    if source is None:
        return base
    name = "map"
    if isinstance(source, (str, Path)):
        path = existing_file(source, "--map file")
        try:
            with path.open("rb") as fh:
                source = tomllib.load(fh)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--map file {str(path)!r} is not valid TOML ({exc})") from None
        name = f"map {path.name}"
    if not isinstance(source, dict):
        raise ConfigError("a map must be a table of keys")
    unknown = sorted(set(source) - set(MAP_KEYS))
    if unknown:
        raise ConfigError(f"unknown map key(s) {', '.join(unknown)}; valid: {', '.join(MAP_KEYS)}")
    given = dict(source)
    for key in ("m", "u", "v", "w", "z", "h0", "phi_bias", "readout_bias"):
        if key in given and not isinstance(given[key], str):
            raise ConfigError(f"map: {key} must be a key name (a string), got {given[key]!r}")
    if "b" in given:
        b = given["b"]
        b = (b,) if isinstance(b, str) else b
        if not isinstance(b, (list, tuple)) or not all(isinstance(k, str) for k in b):
            raise ConfigError(f"map: b must be a key or a list of keys, got {given['b']!r}")
        given["b"] = tuple(b)
    if "transpose" in given:
        t = given["transpose"]
        if not isinstance(t, (list, tuple)) or not all(isinstance(k, str) for k in t):
            raise ConfigError(f"map: transpose must be a list of names, got {t!r}")
        given["transpose"] = frozenset(t)
    if "w" in given and "u" not in given and "v" not in given:
        given.update(u=None, v=None)
    if ("u" in given or "v" in given) and "w" not in given:
        given["w"] = None
    if ("dt" in given or "tau" in given) and "alpha" not in given:
        given["alpha"] = None
    if "alpha" in given:
        given.setdefault("dt", None)
        given.setdefault("tau", None)
    # keys the map names explicitly must be present in the source
    optional = base.optional - {k for k in ("b", "h0", "phi_bias", "readout_bias") if k in given}
    return replace(base, name=f"{base.name} + {name}" if preset else name, optional=optional,
                   **given)


# ---------------------------------------------------------------------------------------
# reading source files


def read_source(path, fmt: str) -> dict[str, np.ndarray]:
    """The named arrays of a source file: .npz (`np.load`, no pickle) or a torch state dict.

    A torch file is loaded with `torch.load(path, weights_only=True)`; it may be a state dict
    or a checkpoint dict holding one (under "state_dict" or "model_state_dict", or the one
    value that is a dict of tensors). Tensors become float64 numpy arrays.

    Raises:
        ConfigError: unknown format, missing or unreadable file, a file that needs pickle.
    """
    if fmt not in IMPORT_FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; valid: {', '.join(IMPORT_FORMATS)}")
    path = Path(path)
    if fmt == "npz":
        return load_npz(path, what="source file")
    existing_file(path, "source file")
    with path.open("rb") as fh:
        head = fh.read(4)
    if not head:
        raise ConfigError(f"source file {str(path)!r} is empty (0 bytes), not a torch file")
    if head[:2] != b"PK" and head[:1] != b"\x80":  # torch's zip format, or a legacy pickle stream
        raise ConfigError(f"source file {str(path)!r} is not a torch file (its first bytes are "
                          "neither torch's zip format nor a legacy torch.save stream)")
    require_module("torch", 'format "torch"')
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()
        hint = next((line.strip() for line in first if "GLOBAL" in line), "")
        if not hint:
            raise ConfigError(f"source file {str(path)!r} is not a readable torch file (a corrupt "
                              "or foreign byte stream, not a torch.save of tensors)") from None
        raise ConfigError(
            f"source file {str(path)!r} needs pickle to load (it holds Python objects, not only "
            f"tensors{': ' + hint if hint else ''}); save model.state_dict() instead") from None
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        line = line.split(". ")[0]
        raise ConfigError(f"source file {str(path)!r} is not a readable torch file (truncated or "
                          f"corrupt: {line})") from None
    state = _state_dict(obj, torch, path)
    out = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            if value.is_complex():
                raise ConfigError(f"source tensor {key!r} is complex; overlapflow's vectors are real")
            if value.layout != torch.strided:
                raise ConfigError(f"source tensor {key!r} is sparse ({value.layout}): save it dense "
                                  "(tensor.to_dense()) in the state dict")
            if value.is_meta:
                raise ConfigError(f"source tensor {key!r} is on the meta device: it has a shape "
                                  "but no values (save the state dict of a materialised model)")
            out[str(key)] = value.detach().to("cpu").double().numpy()
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[str(key)] = np.asarray(float(value))
        elif isinstance(value, str):
            out[str(key)] = np.asarray(value)
    return out


def _state_dict(obj, torch, path) -> dict:
    if not isinstance(obj, dict):
        raise ConfigError(f"source file {str(path)!r} holds a {type(obj).__name__}, not a state dict")

    def is_state(d):
        return isinstance(d, dict) and d and all(isinstance(v, torch.Tensor) for v in d.values())

    if obj and any(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    for key in ("state_dict", "model_state_dict"):
        if is_state(obj.get(key)):
            return obj[key]
    nested = [k for k, v in obj.items() if is_state(v)]
    if len(nested) == 1:
        return obj[nested[0]]
    if nested:
        raise ConfigError(f"checkpoint {str(path)!r} holds several state dicts ({', '.join(nested)}); "
                          "save the model's state dict alone")
    raise ConfigError(f"source file {str(path)!r} holds no tensors (keys: {', '.join(map(str, obj))})")


def _lookup(data: dict, key: str) -> str | None:
    """The source key equal to `key`, or the one ending in "." + key (a module prefix)."""
    if key in data:
        return key
    hits = [k for k in data if k.endswith("." + key)]
    if len(hits) > 1:
        raise ConfigError(f"key {key!r} is ambiguous in the source: {', '.join(sorted(hits))}")
    return hits[0] if hits else None


def _expected(mapping: NetworkMap) -> str:
    need = [mapping.m, *( [mapping.w] if mapping.w else [mapping.u, mapping.v]), mapping.z]
    opt = []
    for name in ("b", "h0", "phi_bias", "readout_bias"):
        keys = getattr(mapping, name)
        keys = keys if isinstance(keys, tuple) else (keys,) if keys else ()
        (opt if name in mapping.optional else need).extend(keys)
    return ", ".join(need) + (f" (optional: {', '.join(opt)})" if opt else "")


def _from_stacked(data: dict) -> dict:
    """Arrays m, u, v, z from a stacked X and its column names ("m", "u1", "z", …)."""
    X = data["X"]
    cols = data.get("columns")
    if cols is None or cols.dtype.kind not in "US" or cols.ndim != 1:
        raise ConfigError("a stacked X needs `columns`, a (P,) string array naming each column "
                          "(m…, u…, v…, z…)")
    if X.ndim != 2 or X.shape[1] != cols.shape[0]:
        raise ConfigError(f"X has shape {X.shape} but columns names {cols.shape[0]} columns")
    groups = {"m": [], "u": [], "v": [], "z": []}
    for j, name in enumerate(cols.tolist()):
        letter = str(name)[:1]
        if letter not in groups or not re.fullmatch(r"[muvz][0-9]*", str(name)):
            raise ConfigError(f"column {name!r} of X: names must be m, u, v or z with an optional "
                              "index (m1, u2, …)")
        groups[letter].append(j)
    out = {k: v for k, v in data.items() if k not in ("X", "columns")}
    for letter, idx in groups.items():
        if not idx:
            raise ConfigError(f"X has no {letter} column (columns: {', '.join(map(str, cols))})")
        out[letter] = X[:, idx]
    return out
