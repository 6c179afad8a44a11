"""Losses between outputs and targets (docs/theory.md §1)."""

from __future__ import annotations

import jax.numpy as jnp

from .._support.errors import ConfigError

__all__ = ["LOSS_KINDS", "check_loss_kind", "loss_from_outputs", "squared_error_weight"]

LOSS_KINDS = ("sum_dt", "masked_mean", "mean_t_dt")


def check_loss_kind(kind: str) -> str:
    """Return `kind` if it names a loss, else raise ConfigError listing the valid ones."""
    if kind not in LOSS_KINDS:
        raise ConfigError(f"unknown loss kind {kind!r}; valid: {', '.join(LOSS_KINDS)}")
    return kind


def squared_error_weight(batch, kind: str, dt: float, n_steps: int):
    """The constant c of L = c · Σ_{b,t,o} mask·(y − y*)², for every loss kind (see below)."""
    if kind == "sum_dt":
        return dt
    if kind == "masked_mean":
        return 1.0 / jnp.sum(batch.mask)
    if kind == "mean_t_dt":
        return n_steps * dt / jnp.sum(batch.mask)
    raise ConfigError(f"unknown loss kind {kind!r}; valid: {', '.join(LOSS_KINDS)}")


def loss_from_outputs(y, batch, kind: str, dt: float):
    """Scalar loss of outputs y (B, T, n_out) against a `TaskBatch` (targets and mask alike).

    - "sum_dt":      dt · Σ_{b,t,o} mask·(y − y*)²   (mask is all ones for the filter tasks)
    - "masked_mean": Σ mask·(y − y*)² / Σ mask
    - "mean_t_dt":   masked_mean · T · dt (the twins study's "mean·T·dt", docs/theory.md §7)
    """
    return squared_error_weight(batch, kind, dt, y.shape[1]) * jnp.sum(batch.mask * (y - batch.y) ** 2)
