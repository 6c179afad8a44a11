"""Epoch loop shared by θ-space training and overlap-space learning.

Epochs run inside one jitted `lax.scan` per chunk of epochs; Python only iterates over chunks
(to draw a progress bar, stop at divergence or at a failed solver step, and stop on Ctrl-C).

Ctrl-C: a library call raises KeyboardInterrupt, as any Python function does. Only while a
command of the command line runs (`_support.interrupt.handling()`, which then writes what was
computed and exits 130) does `run_epochs` return the epochs computed so far, NaN after them,
with `interrupted_at` set.

Records: the loss and Σ of every epoch, unless they would exceed `RECORD_BYTES` (256 MiB) per
run; then every k-th epoch and the last (`LoopResult.recorded_epochs`), so that memory does
not follow the epoch count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._support import interrupt as _interrupt
from .._support.errors import ConfigError
from .._support.progress import progress_bar

__all__ = ["EpochRecords", "LoopResult", "RECORD_BYTES", "run_epochs", "default_chunk",
           "record_every", "recorded_epochs"]


class EpochRecords(NamedTuple):
    """What one epoch records: the state *before* that epoch's update.

    `solver_failed` (a step that integrates an ODE, mode flow): () bool, True when the solver
    could not compute this epoch's update (e.g. diffrax stopped at max_steps); None: the step
    has no solver.
    """

    loss: jax.Array  # ()
    sigma: jax.Array  # (P, P)
    solver_failed: jax.Array | None = None


class LoopResult(NamedTuple):
    """Output of `run_epochs`.

    Attributes:
        loss: (E + 1,) loss before update e (entry E: after the last update); NaN after divergence.
        sigma: (E + 1, P, P) overlaps before update e; NaN after divergence.
        loss, sigma keep the dtype the epochs were computed in (float32 for dtype=jnp.float32).
        diverged_at: first epoch whose loss or state was non-finite, or None.
        interrupted_at: first epoch not computed because of Ctrl-C (only under the command
            line, see the module docstring), or None.
        state: final state (the last finite one when diverged).
        solver_failed_at: epoch whose update the ODE solver could not compute (mode flow:
            diffrax stopped, e.g. at max_steps), or None. Entry e is kept, later entries are NaN;
            this is not a divergence (diverged_at stays None).
        recorded_epochs: None when every epoch 0…E is recorded (entry e = epoch e); else the
            (n,) epochs the n entries of loss and sigma hold (records thinned to fit
            `run_epochs`' record_bytes: 0, k, 2k, …, E).
    """

    loss: np.ndarray
    sigma: np.ndarray
    diverged_at: int | None
    interrupted_at: int | None
    state: object
    solver_failed_at: int | None = None
    recorded_epochs: np.ndarray | None = None


def default_chunk(epochs: int, *, target_chunks: int = 40) -> int:
    """Chunk length giving about `target_chunks` progress updates."""
    return max(1, math.ceil((epochs + 1) / target_chunks))


def _tree_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def make_chunk_runner(step: Callable, chunk: int) -> Callable:
    """Build `run(state, epoch0, epochs) -> (state, (records, bad))` scanning `chunk` epochs.

    `step(state, epoch) -> (new_state, EpochRecords)` computes the records of the state it is
    given and its update. Epochs ≥ `epochs` record but do not update (padding of the last
    chunk); a state that turns non-finite, or whose update the solver could not compute
    (`EpochRecords.solver_failed`), is not propagated. `bad` (chunk,) marks both.
    """

    def body(state, epoch_and_total):
        epoch, total = epoch_and_total
        new_state, rec = step(state, epoch)
        bad = ~(jnp.isfinite(rec.loss) & _tree_finite(rec.sigma))
        failed = rec.solver_failed
        if failed is not None:
            failed = jnp.asarray(failed) & ~bad & (epoch < total)
            bad = bad | failed
        keep_old = bad | (epoch >= total)
        state = jax.tree_util.tree_map(lambda o, n: jnp.where(keep_old, o, n), state, new_state)
        return state, (EpochRecords(rec.loss, rec.sigma, failed), bad)

    def run(state, epoch0, total):
        epochs = epoch0 + jnp.arange(chunk)
        totals = jnp.full((chunk,), total)
        return jax.lax.scan(body, state, (epochs, totals))

    return run


#: Default bound on the memory of one run's records (loss and Σ of the recorded epochs):
#: 256 MiB, every epoch up to about 2·10⁶ epochs for rank 1 (P = 4, float64).
RECORD_BYTES = 1 << 28


def record_every(epochs: int, entry_bytes: int, record_bytes: int = RECORD_BYTES) -> int:
    """Record every k-th epoch so that the records of a run fit `record_bytes`: k = 1 when all
    E + 1 entries of `entry_bytes` fit, else the smallest k with epochs 0, k, 2k, … and E
    fitting. Raises a `ConfigError` when not even epochs 0 and E fit."""
    if (epochs + 1) * entry_bytes <= record_bytes:
        return 1
    fit = record_bytes // entry_bytes
    if fit < 2:
        raise ConfigError(f"the records of one epoch take {entry_bytes} bytes; a record budget "
                          f"of {record_bytes} bytes does not hold the first and the last")
    return math.ceil(epochs / (fit - 1))


def recorded_epochs(epochs: int, every: int) -> np.ndarray:
    """The epochs a run of `epochs` updates records with `record_every` = every: 0, k, 2k, …, E."""
    at = np.arange(0, epochs + 1, every)
    return at if at[-1] == epochs else np.append(at, epochs)


def _n_recorded(epochs: int, every: int) -> int:
    return epochs // every + 1 + (epochs % every != 0)


def run_epochs(
    chunk_runner: Callable,
    state0,
    epochs: int,
    chunk: int,
    *,
    progress: bool = True,
    desc: str = "",
    P: int | None = None,
    record_bytes: int | None = None,
) -> LoopResult:
    """Run `epochs` updates (recording epochs 0…epochs) with a jitted chunk runner.

    Args:
        chunk_runner: jitted `run(state, epoch0, total)` from `make_chunk_runner`.
        state0: initial state pytree.
        epochs: number of updates E ≥ 1; E + 1 entries are recorded.
        chunk: epochs per chunk (must match the runner).
        P: size of Σ, so that the records have their shape even if nothing was computed.
        record_bytes: bound on the memory of the records (loss and Σ; None: `RECORD_BYTES`,
            256 MiB). When the E + 1 entries do not fit, every k-th epoch is recorded (`record_every`; 0, k, 2k, …, E; the
            result's `recorded_epochs` lists them); divergence is still found at its epoch.

    Returns:
        `LoopResult`; loss (E + 1,) and sigma (E + 1, P, P) (or one entry per recorded epoch)
        in the dtype they were computed in.

    Raises:
        KeyboardInterrupt: Ctrl-C, outside a command of the command line. Under one
            (`_support.interrupt.handling()` active) the epochs computed so far are returned
            instead, NaN after them, with `interrupted_at` set (the command writes them and
            exits 130).
    """
    record_bytes = RECORD_BYTES if record_bytes is None else record_bytes
    state = state0
    diverged_at = interrupted_at = solver_failed_at = None
    dtype = _state_dtype(state0)
    every, records, filled = 1, None, 0

    def allocate(P, dtype):  # filled as the chunks come, NaN after the last one at the end
        nonlocal every
        every = record_every(epochs, (1 + P * P) * np.dtype(dtype).itemsize, record_bytes)
        n = _n_recorded(epochs, every)
        return np.empty((n,), dtype), np.empty((n, P, P), dtype)

    if P is not None:
        records = allocate(P, dtype)  # a budget too small: the error before anything runs
    done = 0
    with progress_bar(total=epochs, desc=desc, enabled=progress, unit="ep") as bar:
        try:
            while done <= epochs:
                _interrupt.check()  # Ctrl-C of this command, maybe swallowed: stop here
                state, (rec, bad) = chunk_runner(state, done, epochs)
                take = min(chunk, epochs + 1 - done)
                # cut on the host: a jax slice would compile anew for each epoch count
                loss = np.asarray(rec.loss)[:take]
                sig = np.asarray(rec.sigma)[:take]
                bad = np.asarray(bad)[:take]
                if records is None or (done == 0 and records[0].dtype != loss.dtype):
                    records = allocate(sig.shape[-1], loss.dtype)
                e = np.arange(done, done + take)
                keep = (e % every == 0) | (e == epochs)
                slots = np.where(e == epochs, len(records[0]) - 1, e // every)[keep]
                records[0][slots] = loss[keep]
                records[1][slots] = sig[keep]
                filled = slots[-1] + 1 if slots.size else filled
                if bad.any():
                    first = int(np.argmax(bad))
                    failed = rec.solver_failed is not None and bool(np.asarray(rec.solver_failed)[first])
                    if failed:
                        solver_failed_at = done + first
                    else:
                        diverged_at = done + first
                done += take
                bar.update(take)
                if diverged_at is not None or solver_failed_at is not None:
                    break
        except KeyboardInterrupt:
            if not _interrupt.active():  # library use: Ctrl-C stops the caller
                raise
            interrupted_at = done  # a command keeps what was computed (maybe nothing)
            _interrupt.note(desc or "loop", done, epochs)
    if records is None:
        records = allocate(0, dtype)
    full_loss, full_sigma = records
    at = recorded_epochs(epochs, every)
    filled = min(filled, int(np.searchsorted(at, done)))  # the epochs counted as done
    stop = diverged_at if diverged_at is not None else solver_failed_at
    if stop is not None:  # NaN from the first recorded epoch after it
        filled = min(filled, int(np.searchsorted(at, stop, side="right")))
    full_loss[filled:] = np.nan
    full_sigma[filled:] = np.nan
    return LoopResult(full_loss, full_sigma, diverged_at, interrupted_at, state, solver_failed_at,
                      None if every == 1 else at)


def _state_dtype(state) -> np.dtype:
    """The floating dtype of a state pytree (float64 when it has no floating leaf)."""
    for leaf in jax.tree_util.tree_leaves(state):
        dtype = np.dtype(getattr(leaf, "dtype", np.float64))
        if np.issubdtype(dtype, np.floating):
            return dtype
    return np.dtype(np.float64)
