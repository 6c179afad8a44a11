"""Comparison configuration: TOML in, a validated immutable `CompareConfig` out.

This is the boundary: everything a user writes is checked here, once, and turned into
objects (`NetworkSpec`, a `Task`, arrays); the core never parses strings or files.

```toml
[network]  # N, rank, n_in, n_out, phi, dt
[init]     # seed  — or —  sigma = "path.npy" (P×P, order [M|U|V|Z]) and optionally seed
           # — or —  balanced = true and seed (rank 1: σ_zu ≈ σ_vm, σ_mu ≈ σ_zv; docs/theory.md §7)
           # — or —  vectors = "net.npz" (a network file of `overlapflow import`, docs/theory.md §11)
[task]     # kind, t_max, seed (batch seed), and the kind's parameters; kind = "arrays": file
[loss]     # kind
[train]    # optimizer, eta, epochs, modes, dtype, flow_rtol, flow_atol, limit_nodes, limit_check,
           # track_every
```

Longer than 400 lines on purpose: the one schema of every config table (the configuration
reference is generated from it) is kept in one place.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .._learn.rules import LearningRule, check_rule_mode, column_scales
from .._model.losses import check_loss_kind
from .._model.network import NetworkSpec
from .._model.overlaps import check_sigma
from .._model.tasks import TASK_KINDS, make_task, task_parameters
from .._support.errors import ConfigError
from .._support.io import load_array, load_npz
from .._support.precision import DTYPES
from .._support.validate import count, integer, is_int, positive

__all__ = ["CompareConfig", "TrainConfig", "load_config", "config_from_dict", "apply_settings",
           "ignored_settings", "ALL_MODES"]

ALL_MODES = ("theta", "exact", "flow", "euler", "direct", "limit")

_TABLES = {
    "network": {"N": 500, "rank": 1, "n_in": 1, "n_out": 1, "phi": "linear", "dt": 0.05},
    "init": {"seed": 0, "sigma": None, "balanced": False, "vectors": None},
    "task": {"kind": None, "t_max": None, "seed": 0},
    "loss": {"kind": "sum_dt"},
    "train": {
        "optimizer": "gd",
        "eta": None,
        "epochs": None,
        "modes": ["theta", "exact"],
        "dtype": "float64",
        "flow_rtol": 1e-8,
        "flow_atol": 1e-10,
        "limit_nodes": 9,
        "limit_check": True,
        "track_every": 0,
        # learning rule (docs/theory.md §9): optimizer "gd" | "momentum" | "nesterov" | "adam"
        # | "colnorm"; the defaults are plain GD
        "momentum": 0.9,
        "weight_decay": 0.0,
        "lr_scale": {},
        "clip_norm": None,
        "noise_temperature": 0.0,
        "noise_seed": 0,
    },
}
_REQUIRED = {"task": ("kind",), "train": ("eta", "epochs")}
#: The optimizers that use `train.momentum` (docs/theory.md §9); the others ignore it.
_MOMENTUM_OPTIMIZERS = ("momentum", "nesterov")


#: The keys of [train] that make the learning rule (`LearningRule`'s fields, docs/theory.md §9).
RULE_KEYS = ("optimizer", "momentum", "weight_decay", "lr_scale", "clip_norm",
             "noise_temperature", "noise_seed")


@dataclass(frozen=True)
class TrainConfig:
    """How to learn: rate, epochs, which modes, float precision, and the learning rule.

    `rule` is the `LearningRule` of the [train] keys in `RULE_KEYS` (plain GD by default); it
    validates them, and `optimizer` reads it.
    """

    eta: float = 5e-3
    epochs: int = 2000
    modes: tuple[str, ...] = ("theta", "exact")
    dtype: str = "float64"
    flow_rtol: float = 1e-8
    flow_atol: float = 1e-10
    limit_nodes: int = 9  # mode "limit": Gauss–Hermite points per drive direction (§8)
    limit_check: bool = True  # mode "limit": also run a coarser rule, report the difference
    track_every: int = 0  # modes "limit" and "theta": Gaussianity statistics every k epochs (0: off)
    rule: LearningRule = LearningRule()

    def __post_init__(self):
        if not isinstance(self.rule, LearningRule):
            raise ConfigError(f"train.rule must be a LearningRule, got {type(self.rule).__name__}")
        positive("train.eta", self.eta)
        positive("train.flow_rtol", self.flow_rtol)
        positive("train.flow_atol", self.flow_atol)
        if not is_int(self.limit_nodes) or not 2 <= self.limit_nodes <= 60:
            raise ConfigError(f"train.limit_nodes must be an integer in [2, 60] (got {self.limit_nodes!r})")
        if not isinstance(self.limit_check, bool):
            raise ConfigError(f"train.limit_check must be true or false, got {self.limit_check!r}")
        integer("train.track_every", self.track_every, minimum=0)
        count("train.epochs", self.epochs)
        if not self.modes:
            raise ConfigError(f"train.modes must name at least one of {', '.join(ALL_MODES)}")
        for mode in self.modes:
            if mode not in ALL_MODES:
                raise ConfigError(f"unknown mode {mode!r} in train.modes; valid: {', '.join(ALL_MODES)}")
        if len(set(self.modes)) != len(self.modes):
            raise ConfigError(f"train.modes lists a mode twice: {list(self.modes)}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"train.dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")

    @property
    def optimizer(self) -> str:
        """The rule's optimiser ("gd", "momentum", "nesterov", "adam" or "colnorm")."""
        return self.rule.optimizer

    def table(self) -> dict:
        """The [train] table these settings resolve to (every key, defaults applied)."""
        out = {"optimizer": self.rule.optimizer}
        for f in fields(self):
            if f.name != "rule":
                value = getattr(self, f.name)
                out[f.name] = list(value) if isinstance(value, tuple) else value
        for key in RULE_KEYS[1:]:
            value = getattr(self.rule, key)
            out[key] = dict(value) if key == "lr_scale" else value
        return out


@dataclass(frozen=True)
class CompareConfig:
    """A validated comparison: network, initial condition, task, loss and training.

    Attributes:
        network: the architecture.
        init_seed: seed of the initial vectors (or of their realisation from `init_sigma`).
        init_sigma: (P, P) initial overlaps, or None for random unit-norm Gaussian vectors.
        init_vectors: (N, P) initial vectors of `[init] vectors` (θ-space starts from exactly
            these; init_sigma is their Σ), or None.
        vector_labels: (P,) names of the columns of X for an imported `[init] vectors`
            network ("m1", "bias", "h0", "u1", …), or None for the plain names.
        task: the `Task` object; `task_seed` seeds its per-epoch batches.
        loss: loss kind.
        train: the `TrainConfig`.
        echo: the configuration as read (plain data, for summary.json).
        resolved: every table with the defaults applied (plain data, for summary.json).
    """

    network: NetworkSpec
    task: Any
    train: TrainConfig
    loss: str = "sum_dt"
    init_seed: int = 0
    task_seed: int = 0
    init_sigma: np.ndarray | None = field(default=None, compare=False)
    init_vectors: np.ndarray | None = field(default=None, compare=False)
    vector_labels: tuple[str, ...] | None = field(default=None, compare=False)
    echo: dict = field(default_factory=dict, compare=False)
    resolved: dict = field(default_factory=dict, compare=False)


def _plain(value):
    """A JSON-able echo of a resolved value (arrays: their shape, when large)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    arr = np.asarray(value)
    if arr.dtype.kind in "biuf" and arr.size <= 64:
        return arr.tolist()
    return f"array of shape {tuple(arr.shape)}"


def _resolved_tables(spec, init_tbl, kind, task, task_seed, loss, train) -> dict:
    """Every table of a config with the defaults applied (what actually ran)."""
    task_tbl = {"kind": kind, "t_max": _plain(task.t_max), "seed": task_seed}
    for name in task_parameters(kind) if kind != "arrays" else ():
        task_tbl[name] = _plain(getattr(task, name, None))
    return {
        "network": {"N": spec.N, "rank": spec.rank, "n_in": spec.n_in, "n_out": spec.n_out,
                    "phi": spec.phi_name, "dt": spec.dt},
        "init": {k: _plain(v) for k, v in init_tbl.items()},
        "task": task_tbl,
        "loss": {"kind": loss},
        "train": train.table(),
    }


def _did_you_mean(unknown: list[str], allowed) -> str:
    """" (did you mean 'epochs'?)" for the unknown names close to an allowed one, or ""."""
    close = {name: difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
             for name in unknown}
    close = {name: match[0] for name, match in close.items() if match}
    if not close:
        return ""
    if len(unknown) == 1:
        return f" (did you mean {close[unknown[0]]!r}?)"
    return " (did you mean " + ", ".join(f"{m!r} for {n!r}" for n, m in close.items()) + "?)"


def _check_keys(table: str, given: dict, allowed) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in "
            f"[{table}]{_did_you_mean(unknown, allowed)}; valid: {', '.join(sorted(allowed))}"
        )


def _task_keys(kind) -> tuple[str, ...]:
    """The [task] keys of a task kind (of every kind while `kind` is not a known one)."""
    kinds = [kind] if kind in TASK_KINDS else list(TASK_KINDS)
    params = {p for k in kinds for p in (("file",) if k == "arrays" else task_parameters(k))}
    return ("kind", "t_max", "seed", *sorted(params))


def apply_settings(raw: dict, settings: Mapping[str, Any], what: str = "--set") -> dict:
    """The raw tables of a config with `{"table.key": value}` settings applied (a new dict).

    Tables are checked here (ConfigError naming `what`); keys and values are checked, with
    the rest of the config, by `config_from_dict`.
    """
    out = {name: dict(value) if isinstance(value, dict) else value for name, value in raw.items()}
    for key, value in settings.items():
        table, _, name = key.partition(".")
        if table not in _TABLES:
            raise ConfigError(f"{what} {key}: unknown table [{table}]"
                              f"{_did_you_mean([table], _TABLES)}; valid: {', '.join(_TABLES)}")
        if not isinstance(out.setdefault(table, {}), dict):
            raise ConfigError(f"[{table}] must be a table, got {out[table]!r}")
        out[table][name] = value
    return out


def ignored_settings(tables: Mapping[str, dict]) -> dict[str, tuple[str, str]]:
    """The keys given that the chosen learning rule or start would ignore.

    Returns {"train.momentum": (the key whose value makes it ignored, one-line message)}, in
    the order of the checks; `config_from_dict` refuses the first, a sweep the ones ignored
    at every grid point.
    """
    train, init = tables.get("train", {}), tables.get("init", {})
    optimizer = train.get("optimizer", _TABLES["train"]["optimizer"])
    out = {}
    if "momentum" in train and optimizer not in _MOMENTUM_OPTIMIZERS:
        out["train.momentum"] = ("train.optimizer", (
            f"train.momentum is ignored by optimizer {optimizer!r} (only "
            f"{' and '.join(map(repr, _MOMENTUM_OPTIMIZERS))} use it): remove it or choose one "
            "of those optimizers"))
    if "noise_seed" in train and train.get("noise_temperature", 0.0) == 0.0:
        out["train.noise_seed"] = ("train.noise_temperature", (
            "train.noise_seed is ignored without weight noise (noise_temperature = 0): remove "
            "it or set noise_temperature > 0"))
    if init.get("vectors") is not None and "seed" in init:
        out["init.seed"] = ("init.vectors", (
            "init.seed is ignored by an init.vectors start (θ-space starts from the file's "
            "vectors, the overlap modes from their Σ): remove it"))
    return out


def _resolve(base_dir: Path, value, what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what} must be a file path string, got {value!r}")
    path = Path(value)
    return path if path.is_absolute() else (base_dir / path)


def config_from_dict(raw: dict, base_dir: Path | str = ".") -> CompareConfig:
    """Validate a configuration given as nested dicts (the parsed TOML) and build the objects.

    Relative paths resolve against `base_dir` (the config file's folder).

    Raises:
        ConfigError: any unknown table/key (reported before missing ones, with the close
            valid key), missing key, bad value, unreadable data file, or a key that the chosen
            learning rule or start ignores (`ignored_settings`).
    """
    base_dir = Path(base_dir)
    if not isinstance(raw, dict):
        raise ConfigError("configuration must be a table of tables")
    _check_keys("top level", raw, _TABLES)
    for name in _TABLES:
        if not isinstance(raw.get(name, {}), dict):
            raise ConfigError(f"[{name}] must be a table, got {raw[name]!r}")
    tables = {name: dict(raw.get(name, {})) for name in _TABLES}
    for name in _TABLES:  # a misspelt key is reported as such, before the key it stands for
        allowed = _task_keys(tables["task"].get("kind")) if name == "task" else _TABLES[name]
        _check_keys(name, tables[name], allowed)
    for name, keys in _REQUIRED.items():
        for key in keys:
            if key not in tables[name]:
                raise ConfigError(f"missing key {key!r} in [{name}]")

    net = {**_TABLES["network"], **tables["network"]}
    spec = NetworkSpec(
        N=net["N"], rank=net["rank"], n_in=net["n_in"], n_out=net["n_out"], phi=net["phi"],
        dt=net["dt"],
    )

    init = {**_TABLES["init"], **tables["init"]}
    init_seed = integer("init.seed", init["seed"])
    init_sigma = None
    if init["sigma"] is not None:
        path = _resolve(base_dir, init["sigma"], "init.sigma")
        arr = load_array(path, what="init.sigma file")
        if arr.dtype.kind not in "fiu":
            raise ConfigError(f"init.sigma {str(path)!r} must hold a numeric (P, P) array")
        init_sigma = check_sigma(arr, spec, what="init.sigma")
    if not isinstance(init["balanced"], bool):
        raise ConfigError(f"init.balanced must be true or false, got {init['balanced']!r}")
    if init["balanced"]:
        # The paper's start of Figures 4 and 8: random vectors redrawn from `seed` until
        # σ_zu ≈ σ_vm and σ_mu ≈ σ_zv. It is carried as its Σ, so everything that reads
        # init_sigma (compare, sweep, scaling, inspect) starts from it; θ-space realises that Σ
        # (an orthogonal image of the drawn vectors, docs/theory.md §2).
        if init_sigma is not None:
            raise ConfigError("init.balanced = true and init.sigma are exclusive: give one")
        from .._model.network import balanced_vectors

        try:
            X_bal, _ = balanced_vectors(spec, seed=init_seed)
        except ConfigError as exc:
            raise ConfigError(f"init.balanced = true: {exc}") from None
        X_bal = np.asarray(X_bal, dtype=np.float64)
        init_sigma = X_bal.T @ X_bal / spec.N
    imported = None
    if init["vectors"] is not None:
        # A network file of `overlapflow import` (docs/theory.md §11): θ-space starts from exactly
        # its vectors, the overlap modes from their Σ; the architecture is the file's.
        if init["sigma"] is not None or init["balanced"]:
            raise ConfigError("init.vectors, init.sigma and init.balanced are exclusive: give one")
        from .._interop.network_file import vector_labels
        from .._interop.networks import load_network

        vec_path = _resolve(base_dir, init["vectors"], "init.vectors")
        imported = load_network(vec_path)
        spec = _network_of_file(imported.spec, tables["network"], vec_path.name)
        init_sigma = imported.sigma

    task_tbl = tables["task"]
    kind = task_tbl.get("kind")
    if kind not in TASK_KINDS:
        raise ConfigError(f"unknown task kind {kind!r}; valid: {', '.join(TASK_KINDS)}")
    params = {k: v for k, v in task_tbl.items() if k not in ("kind", "t_max", "seed")}
    if kind == "arrays":
        if "file" not in params:
            raise ConfigError("task kind 'arrays' needs file = \"path.npz\" in [task]")
        data = load_npz(_resolve(base_dir, params.pop("file"), "task.file"), what="task.file")
        _check_keys("task.file arrays", data, ("x", "y", "mask"))
        for key in ("x", "y"):
            if key not in data:
                raise ConfigError(f"task.file must contain an array {key!r}")
        params = dict(data)
    # t_max may be omitted for "arrays" (T from the data) and "decision_making" (sum of periods).
    t_max = task_tbl.get("t_max")
    t_max = None if t_max is None else positive("task.t_max", t_max)
    task_seed = integer("task.seed", task_tbl.get("seed", 0))
    if kind == "neurogym":
        params.setdefault("pool_seed", task_seed)  # the pool is drawn from the run's seed
    n_in = imported.n_source_inputs if imported is not None else spec.n_in
    task = make_task(kind, dt=spec.dt, t_max=t_max, n_in=n_in, n_out=spec.n_out, **params)
    source_task = task
    if imported is not None and n_in != spec.n_in:
        # The imported network's bias / h0 columns are driven as the source was (§11).
        from .._interop.networks import SourceChannelsTask

        task = SourceChannelsTask(base=task, channels=imported.channels)

    loss = check_loss_kind({**_TABLES["loss"], **tables["loss"]}["kind"])

    tr = {**_TABLES["train"], **tables["train"]}
    modes = tr["modes"]
    if isinstance(modes, str) or not isinstance(modes, (list, tuple)):
        raise ConfigError(f"train.modes must be a list such as [\"theta\", \"exact\"], got {modes!r}")
    train = TrainConfig(
        eta=tr["eta"], epochs=tr["epochs"], modes=tuple(modes),
        dtype=tr["dtype"], flow_rtol=tr["flow_rtol"], flow_atol=tr["flow_atol"],
        limit_nodes=tr["limit_nodes"], limit_check=tr["limit_check"], track_every=tr["track_every"],
        rule=LearningRule(**{key: tr[key] for key in RULE_KEYS}),
    )
    ignored = ignored_settings(tables)
    if ignored:
        raise ConfigError(next(iter(ignored.values()))[1])
    _check_rule_for(train, spec)
    if init_sigma is not None and "theta" in train.modes:
        # θ-space needs N vectors realising Σ: fails early if N < rank Σ.
        rank = int(np.sum(np.linalg.eigvalsh(init_sigma) > 1e-12 * np.max(np.abs(init_sigma))))
        if spec.N < rank:
            raise ConfigError(f"network.N = {spec.N} is smaller than the rank of init.sigma ({rank})")

    echo = {name: dict(tables[name]) for name in _TABLES if tables[name]}
    init_tbl = {**_TABLES["init"], **tables["init"]}  # every [init] key, defaults applied
    if init_tbl.get("sigma"):
        init_tbl["sigma"] = str(_resolve(base_dir, init_tbl["sigma"], "init.sigma"))
    if init_tbl.get("vectors"):
        init_tbl["vectors"] = str(_resolve(base_dir, init_tbl["vectors"], "init.vectors"))
    resolved = _resolved_tables(spec, init_tbl, kind, source_task, task_seed, loss, train)
    if kind == "arrays":
        resolved["task"]["file"] = str(_resolve(base_dir, task_tbl["file"], "task.file"))
    return CompareConfig(
        network=spec, task=task, train=train, loss=loss, init_seed=init_seed,
        task_seed=task_seed, init_sigma=init_sigma, echo=echo, resolved=resolved,
        init_vectors=None if imported is None else imported.X,
        vector_labels=None if imported is None else vector_labels(imported),
    )


def _network_of_file(file_spec: NetworkSpec, given: dict, name: str) -> NetworkSpec:
    """The architecture of an `[init] vectors` file; [network] keys given must agree with it."""
    values = {"N": file_spec.N, "rank": file_spec.rank, "n_in": file_spec.n_in,
              "n_out": file_spec.n_out, "phi": file_spec.phi_name, "dt": file_spec.dt}
    for key, value in given.items():
        same = (math.isclose(float(value), values[key], rel_tol=1e-12)
                if key == "dt" and isinstance(value, (int, float)) else value == values[key])
        if not same:
            raise ConfigError(f"network.{key} = {value!r} but init.vectors {name} has {key} = "
                              f"{values[key]!r}: remove {key} from [network] or make it agree")
    return file_spec


def _check_rule_for(train: TrainConfig, spec: NetworkSpec) -> None:
    """The learning rule against the network and every mode, before anything runs (§9)."""
    rule = train.rule
    column_scales(rule, spec)  # lr_scale names of this network
    for mode in train.modes:
        if mode in ("exact", "flow", "euler", "direct"):
            check_rule_mode(rule, mode)
        elif mode == "limit":
            from .._limit.learners import check_limit_rule

            check_limit_rule(rule)
        elif mode == "theta" and train.track_every and rule.noise_temperature > 0.0:
            raise ConfigError("train.track_every (θ-space run on nodes) cannot add weight noise; "
                              "set track_every = 0 or noise_temperature = 0")


def load_config(path, settings: Mapping[str, Any] | None = None) -> CompareConfig:
    """Read and validate a TOML comparison config (see the module docstring for the keys).

    `settings` (`{"train.eta": 0.01}`, the command line's `--set`) replace or add keys of the
    file's tables before it is validated.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    raw = read_toml(path)
    if settings:
        raw = apply_settings(raw, settings)
    return config_from_dict(raw, base_dir=path.parent)


def read_toml(path) -> dict:
    """Parse a TOML config file; ConfigError (one line) for anything but valid UTF-8 TOML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                          f"at offset {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read ({exc.strerror or exc})") from None
