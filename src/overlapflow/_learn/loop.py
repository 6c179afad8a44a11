"""Epoch loop shared by θ-space training and overlap-space learning.

Epochs run inside one jitted `lax.scan` per chunk of epochs; Python only iterates over chunks
(to draw a progress bar, stop at divergence and keep what was computed on Ctrl-C).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._support import interrupt as _interrupt
from .._support.progress import progress_bar

__all__ = ["EpochRecords", "LoopResult", "run_epochs", "default_chunk"]


class EpochRecords(NamedTuple):
    """What one epoch records: the state *before* that epoch's update."""

    loss: jax.Array  # ()
    sigma: jax.Array  # (P, P)


class LoopResult(NamedTuple):
    """Output of `run_epochs`.

    Attributes:
        loss: (E + 1,) loss before update e (entry E: after the last update); NaN after divergence.
        sigma: (E + 1, P, P) overlaps before update e; NaN after divergence.
        diverged_at: first epoch whose loss or state was non-finite, or None.
        interrupted_at: first epoch not computed because of Ctrl-C, or None.
        state: final state (the last finite one when diverged).
    """

    loss: np.ndarray
    sigma: np.ndarray
    diverged_at: int | None
    interrupted_at: int | None
    state: object


def default_chunk(epochs: int, *, target_chunks: int = 40) -> int:
    """Chunk length giving about `target_chunks` progress updates."""
    return max(1, math.ceil((epochs + 1) / target_chunks))


def _tree_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def make_chunk_runner(step: Callable, chunk: int) -> Callable:
    """Build `run(state, epoch0, epochs) -> (state, records, bad)` scanning `chunk` epochs.

    `step(state, epoch) -> (new_state, EpochRecords)` computes the records of the state it is
    given and its update. Epochs ≥ `epochs` record but do not update (padding of the last
    chunk); a state that turns non-finite is not propagated.
    """

    def body(state, epoch_and_total):
        epoch, total = epoch_and_total
        new_state, rec = step(state, epoch)
        bad = ~(jnp.isfinite(rec.loss) & _tree_finite(rec.sigma))
        keep_old = bad | (epoch >= total)
        state = jax.tree_util.tree_map(lambda o, n: jnp.where(keep_old, o, n), state, new_state)
        return state, (rec, bad)

    def run(state, epoch0, total):
        epochs = epoch0 + jnp.arange(chunk)
        totals = jnp.full((chunk,), total)
        return jax.lax.scan(body, state, (epochs, totals))

    return run


def run_epochs(
    chunk_runner: Callable,
    state0,
    epochs: int,
    chunk: int,
    *,
    progress: bool = True,
    desc: str = "",
    P: int | None = None,
) -> LoopResult:
    """Run `epochs` updates (recording epochs 0…epochs) with a jitted chunk runner.

    Args:
        chunk_runner: jitted `run(state, epoch0, total)` from `make_chunk_runner`.
        state0: initial state pytree.
        epochs: number of updates E ≥ 1; E + 1 entries are recorded.
        chunk: epochs per chunk (must match the runner).
        P: size of Σ, so that the records have their shape even if nothing was computed.
    """
    n_entries = epochs + 1
    losses, sigmas = [], []
    state = state0
    diverged_at = interrupted_at = None
    done = 0
    with progress_bar(total=epochs, desc=desc, enabled=progress, unit="ep") as bar:
        try:
            while done < n_entries:
                _interrupt.check()  # Ctrl-C of this command, maybe swallowed: stop here
                state, (rec, bad) = chunk_runner(state, done, epochs)
                take = min(chunk, n_entries - done)
                loss = np.asarray(rec.loss[:take])
                sig = np.asarray(rec.sigma[:take])
                bad = np.asarray(bad[:take])
                losses.append(loss)
                sigmas.append(sig)
                if bad.any():
                    diverged_at = done + int(np.argmax(bad))
                done += take
                bar.update(take)
                if diverged_at is not None:
                    break
        except KeyboardInterrupt:  # keep what was computed (maybe nothing: compilation)
            interrupted_at = done
            _interrupt.note(desc or "loop", done, epochs)
    full_loss = np.full((n_entries,), np.nan)
    if losses:
        loss = np.concatenate(losses)[:done]
        full_loss[: loss.shape[0]] = loss
    if P is None:
        P = sigmas[0].shape[-1] if sigmas else 0
    full_sigma = np.full((n_entries, P, P), np.nan)
    if sigmas and done:
        sigma = np.concatenate(sigmas)[:done]
        full_sigma[: sigma.shape[0]] = sigma
    if diverged_at is not None:
        full_loss[diverged_at + 1 :] = np.nan
        full_sigma[diverged_at + 1 :] = np.nan
    return LoopResult(full_loss, full_sigma, diverged_at, interrupted_at, state)
