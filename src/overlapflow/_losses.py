"""Losses between outputs and targets (THEORY §1)."""

from __future__ import annotations

import jax.numpy as jnp

from ._errors import ConfigError

__all__ = ["LOSS_KINDS", "check_loss_kind", "loss_from_outputs"]

LOSS_KINDS = ("sum_dt", "masked_mean", "mean_t_dt")


def check_loss_kind(kind: str) -> str:
    """Return `kind` if it names a loss, else raise ConfigError listing the valid ones."""
    if kind not in LOSS_KINDS:
        raise ConfigError(f"unknown loss kind {kind!r}; valid: {', '.join(LOSS_KINDS)}")
    return kind


def loss_from_outputs(y, batch, kind: str, dt: float):
    """Scalar loss of outputs y (B, T, n_out) against a `TaskBatch` (targets and mask alike).

    - "sum_dt":      dt · Σ_{b,t,o} mask·(y − y*)²   (mask is all ones for the filter tasks)
    - "masked_mean": Σ mask·(y − y*)² / Σ mask
    - "mean_t_dt":   masked_mean · T · dt (the twins study's "mean·T·dt", THEORY §7)
    """
    sq = batch.mask * (y - batch.y) ** 2
    if kind == "sum_dt":
        return dt * jnp.sum(sq)
    if kind == "masked_mean":
        return jnp.sum(sq) / jnp.sum(batch.mask)
    if kind == "mean_t_dt":
        return jnp.sum(sq) / jnp.sum(batch.mask) * y.shape[1] * dt
    raise ConfigError(f"unknown loss kind {kind!r}; valid: {', '.join(LOSS_KINDS)}")
