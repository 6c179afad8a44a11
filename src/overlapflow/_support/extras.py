"""Optional dependencies: what each extra brings, and a one-line error when one is missing.

The library's core needs jax, optax, diffrax, numpy and tqdm. Figures need matplotlib
(`pip install "overlapflow[plots]"`); the paper's experiments also need scikit-learn and
SciPy (`overlapflow[experiments]`); Dask sweeps `overlapflow[dask]`.
"""

from __future__ import annotations

import importlib.util
import sys

from .errors import ConfigError

__all__ = ["EXTRAS", "has_module", "require_module"]

#: Module → the extra that installs it.
EXTRAS = {"matplotlib": "plots", "sklearn": "experiments", "scipy": "experiments",
          "dask": "dask", "torch": "torch", "neurogym": "neurogym"}


def has_module(name: str) -> bool:
    """True when `name` can be imported (without importing it)."""
    if name in sys.modules:
        return sys.modules[name] is not None  # None: imports of it are blocked
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, a broken parent
        return False


def require_module(name: str, what: str) -> None:
    """Raise a one-line `ConfigError` naming the extra when `name` cannot be imported."""
    if not has_module(name):
        extra = EXTRAS.get(name, name)
        raise ConfigError(f"{what} needs {name}, which is not installed: "
                          f"pip install \"overlapflow[{extra}]\"")
