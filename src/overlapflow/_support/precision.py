"""Floating-point precision: the one mapping from dtype names to dtypes, and JAX's 64-bit mode.

Importing overlapflow changes no global setting. Exactness claims are float64 claims, and
float64 in JAX needs its 64-bit mode, which is off by default: turn it on once, before any
computation, with

    import overlapflow as of
    of.enable_float64()  # the same as jax.config.update("jax_enable_x64", True)

(the `overlapflow` command line does this itself). Asking for float64 while the mode is off
raises a `ConfigError` that names `of.enable_float64()`, instead of computing silently in
float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ConfigError

__all__ = ["DTYPES", "as_dtype", "check_float64", "enable_float64", "float64_enabled",
           "require_float64"]

#: dtype names accepted in configs (`[train] dtype`) and their JAX dtypes.
DTYPES = {"float64": jnp.float64, "float32": jnp.float32}


def float64_enabled() -> bool:
    """True when JAX's 64-bit mode (`jax_enable_x64`) is on."""
    return bool(jax.config.jax_enable_x64)


def enable_float64() -> None:
    """Turn on JAX's 64-bit mode for the process (the command line calls this at start)."""
    jax.config.update("jax_enable_x64", True)


def require_float64(where: str, *, float32_ok: bool = False) -> None:
    """Raise a one-line `ConfigError` naming `of.enable_float64()` when JAX's 64-bit mode is off.

    The one check of every computation that needs float64 (`where` names it). `float32_ok`:
    the computation also takes `dtype=jnp.float32`, and the message says so.
    """
    if float64_enabled():
        return
    tail = ", or pass dtype=jnp.float32" if float32_ok else ""
    raise ConfigError(
        f"{where}: float64 needs JAX's 64-bit mode, which is off (importing overlapflow "
        "does not turn it on): call of.enable_float64() once before computing (or "
        "jax.config.update(\"jax_enable_x64\", True); the overlapflow command line does it "
        f"itself){tail}"
    )


def check_float64(dtype, where: str) -> None:
    """Raise a `ConfigError` when `dtype` is float64 and JAX's 64-bit mode is off
    (`require_float64`; float32 is always available)."""
    if np.dtype(dtype) == np.float64:
        require_float64(where, float32_ok=True)


def as_dtype(name: str, where: str = "dtype"):
    """The JAX dtype of a name in `DTYPES` (float64 checked by `check_float64`)."""
    if name not in DTYPES:
        raise ConfigError(f"{where} must be one of {', '.join(DTYPES)}, got {name!r}")
    dtype = DTYPES[name]
    check_float64(dtype, where)
    return dtype
