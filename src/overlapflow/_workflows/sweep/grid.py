"""Sweep grids and seeds: parsing `--grid` / `--seeds`, grid points, per-point configs."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp

from ..._model.overlaps import realise_vectors
from ..._model.tasks import task_parameters
from ..._support.errors import ConfigError
from ..._support.parsing import parse_ints, parse_value, split_setting
from ..config import (
    _TABLES,
    CompareConfig,
    _did_you_mean,
    apply_settings,
    config_from_dict,
    ignored_settings,
)

SCHEDULERS = ("local", "dask-local", "tcp://HOST:PORT")
BATCHED_MODES = ("exact", "euler", "direct")
SWEEP_MODES = ("theta", "exact", "flow", "euler", "direct")  # `limit`: use compare or scaling
#: Most seeds per sweep (a range like 0:100000000000 must not exhaust memory).
MAX_SEEDS = 1_000_000
#: Seconds to wait for a tcp:// Dask scheduler before giving up (nothing is written before).
CONNECT_TIMEOUT_S = 5
DEFAULT_THRESHOLDS = (1e-2, 1e-4, 1e-6)


# -- grid and seeds ------------------------------------------------------------------------


def parse_grid(items: Sequence[str]) -> list[tuple[str, tuple]]:
    """Parse `["train.eta=1e-3,5e-3", "task.decay=0.2,0.4"]` into [(key, values), …].

    Raises ConfigError for a malformed item, a repeated key or an empty value list.
    """
    grid: list[tuple[str, tuple]] = []
    for item in items:
        key, rest = split_setting(item, "grid item", "table.key=v1,v2 (e.g. train.eta=1e-3,5e-3)")
        values = tuple(parse_value(v.strip()) for v in rest.split(",") if v.strip())
        if not values:
            raise ConfigError(f"grid item {item!r} gives no values")
        if key in [k for k, _ in grid]:
            raise ConfigError(f"grid key {key!r} given twice")
        grid.append((key, values))
    return grid


def parse_seeds(text: str, what: str = "seeds") -> tuple[int, ...]:
    """Initial-condition seeds from `n`, `a:b` (a … b−1) or `a,b,c` (`parse_ints`): each ≥ 0,
    at most `MAX_SEEDS`."""
    return parse_ints(text, what, minimum=0, limit=MAX_SEEDS)


def _check_grid_keys(raw: dict, grid) -> None:
    """Validate `table.key` names against the config tables (task keys against the task kind)."""
    for key, _ in grid:
        table, dot, name = key.partition(".")
        if not dot or not name:
            raise ConfigError(f"grid key {key!r} must be table.key, e.g. train.eta")
        if table not in _TABLES or table == "init":
            valid = ", ".join(t for t in _TABLES if t != "init")
            raise ConfigError(f"grid key {key!r}: unknown table {table!r}; valid: {valid} "
                              "(the initial seed is --seeds)")
        if table == "task":
            kinds = {v for k, vals in grid if k == "task.kind" for v in vals}
            kinds = kinds or {raw.get("task", {}).get("kind")}
            allowed = {"kind", "t_max", "seed"}
            for kind in kinds:
                allowed |= set(task_parameters(kind)) if kind != "arrays" else {"file"}
        elif table == "train":
            allowed = set(_TABLES["train"]) - {"modes"}
        else:
            allowed = set(_TABLES[table])
        if name not in allowed:
            raise ConfigError(f"grid key {key!r}: unknown key {name!r} in [{table}]"
                              f"{_did_you_mean([name], allowed)}; valid: {', '.join(sorted(allowed))}")


def grid_points(grid) -> list[dict]:
    """The product of the grid: a list of {key: value} (one dict per grid point; [{}] if empty)."""
    keys = [k for k, _ in grid]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in grid))]


def _apply(raw: dict, point: dict, modes) -> dict:
    out = apply_settings(raw, point, what="grid key")
    out.setdefault("train", {})["modes"] = list(modes)
    return out


def load_sweep_config(path) -> tuple[dict, Path]:
    """Read a TOML config as raw tables (validated later per grid point). Returns (raw, folder)."""
    from ..config import read_toml

    path = Path(path)
    return read_toml(path), path.resolve().parent


def _point_config(raw, base_dir, point, modes) -> CompareConfig:
    """The config of one grid point. A key that this point's grid values make unused (momentum
    at `train.optimizer = "gd"`) is left out here; `_check_ignored` refuses the keys that every
    grid point ignores."""
    tables = _apply(raw, point, modes)
    for key, (decided_by, _) in ignored_settings(tables).items():
        if decided_by in point:
            table, _, name = key.partition(".")
            del tables[table][name]
    try:
        return config_from_dict(tables, base_dir)
    except ConfigError as exc:
        if not point:  # no grid: the config's own error
            raise
        where = ", ".join(f"{k}={v!r}" for k, v in point.items())
        raise ConfigError(f"grid point {where}: {exc}")


def _check_ignored(raw, points, modes) -> None:
    """A key of the config that every grid point ignores is refused, as `compare` does."""
    ignored = [ignored_settings(_apply(raw, point, modes)) for point in points]
    for key, (_, message) in ignored[0].items():
        if all(key in found for found in ignored):
            raise ConfigError(message if len(points) == 1 else f"at every grid point, {message}")


def _initial_sigmas(cfg: CompareConfig, seeds, dtype):
    """Initial vectors X₀ (n, N, P) and overlaps Σ₀ (n, P, P) for each seed (init seed)."""
    spec = cfg.network
    if cfg.init_vectors is not None:  # [init] vectors: every seed starts from these (§11)
        X0 = jnp.broadcast_to(jnp.asarray(cfg.init_vectors), (len(seeds), spec.N, spec.P))
    elif cfg.init_sigma is None:
        keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds))

        def draw(key):  # exactly `random_vectors(spec, seed=s)`
            X = jax.random.normal(key, (spec.N, spec.P), dtype=jnp.float64)
            return X * jnp.sqrt(spec.N / jnp.sum(X**2, axis=0, keepdims=True))

        X0 = jax.vmap(draw)(keys)
    else:
        X0 = jnp.stack([jnp.asarray(realise_vectors(cfg.init_sigma, spec.N, seed=s)) for s in seeds])
    X0 = X0.astype(dtype)
    return X0, jnp.einsum("nia,nib->nab", X0, X0) / spec.N
