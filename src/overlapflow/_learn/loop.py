"""Epoch loop shared by θ-space training and overlap-space learning.

Epochs run inside one jitted `lax.scan` per chunk of epochs; Python only iterates over chunks
(to draw a progress bar, stop at divergence or at a failed solver step, and stop on Ctrl-C).

Ctrl-C: a library call raises KeyboardInterrupt, as any Python function does. Only while a
command of the command line runs (`_support.interrupt.handling()`, which then writes what was
computed and exits 130) does `run_epochs` return the epochs computed so far (the records end there),
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

__all__ = ["EpochRecords", "LoopResult", "RECORD_BYTES", "run_epochs", "drive_chunks", "Recorder",
           "run_lanes",
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


def drive_chunks(run_chunk: Callable, state, epochs: int, chunk: int, *, collect: Callable,
                 desc: str = "", bar=None, entries: int | None = None,
                 keep_partial: bool = True, offset: int = 0, of_total: int | None = None):
    """The one epoch driver: every learner's jitted chunks of epochs, called from Python.

    Calls `run_chunk(state, epoch0, epochs) -> (state, out)` for epoch0 = 0, chunk, 2·chunk, …
    until `entries` entries (default epochs + 1: the states before updates 0…E and the final
    one) are covered, and hands each chunk to `collect(epoch0, take, out, state) -> stop`
    (`take` ≤ chunk: the entries of this chunk that count; True stops the loop, e.g. when
    every run diverged). Between chunks: the progress bar (`bar.update(take)`, if given) and
    Ctrl-C.

    Ctrl-C (`_support.interrupt`): a library call raises KeyboardInterrupt, as any Python
    function does; so does a command of the command line when `keep_partial` is False (a
    caller that never stores part of a run, such as a sweep chunk). Otherwise, under a
    command, the loop stops and returns where it stopped (the command writes what was
    collected and exits 130); the interruption is noted as "`desc` at epoch offset + done of
    `of_total`" (default: of `epochs`), for a run made of several driven parts.

    Returns:
        (state, done, interrupted_at): the last state, the entries covered, and the first
        entry not computed because of Ctrl-C (None: not interrupted).
    """
    entries = epochs + 1 if entries is None else entries
    done, interrupted_at = 0, None
    try:
        while done < entries:
            _interrupt.check()  # Ctrl-C of this command, maybe swallowed: stop here
            state, out = run_chunk(state, done, epochs)
            take = min(chunk, entries - done)
            stop = collect(done, take, out, state)
            done += take
            if bar is not None:
                bar.update(take)
            if stop:
                break
    except KeyboardInterrupt:
        if not (keep_partial and _interrupt.active()):  # library use: Ctrl-C stops the caller
            raise
        interrupted_at = done  # a command keeps what was computed (maybe nothing)
        _interrupt.note(desc or "loop", offset + done, epochs if of_total is None else of_total)
    return state, done, interrupted_at


class Recorder:
    """The records of one run, or of many runs in lanes, bounded in memory.

    Each chunk gives record arrays (chunk, …) (epoch axis first; lane axes, if any, last, as
    in `_support.linalg`) and, optionally, `bad` (chunk, *lanes): entries whose loss or state
    was not finite. Epochs 0, k, 2k, …, E are kept, k = `record_every` for the budget
    `record_bytes` (None: `RECORD_BYTES`) over all the arrays together; `finish` sets the
    entries not computed, and every lane's entries after its stop (its first bad one), to NaN.
    """

    def __init__(self, epochs: int, record_bytes: int | None = None):
        self.epochs = epochs
        self.record_bytes = RECORD_BYTES if record_bytes is None else record_bytes
        self.every = 1
        self.arrays: list[np.ndarray] | None = None
        self.first_bad: np.ndarray | None = None
        self.filled = 0

    def allocate(self, shapes, dtypes) -> None:
        """Allocate records with entries of `shapes` (one per array, without the epoch axis);
        a budget that cannot hold epochs 0 and E raises a `ConfigError` here, before any run."""
        entry = sum(int(np.prod(sh)) * np.dtype(dt).itemsize for sh, dt in zip(shapes, dtypes))
        self.every = record_every(self.epochs, entry, self.record_bytes)
        n = _n_recorded(self.epochs, self.every)
        self.arrays = [np.empty((n, *sh), dt) for sh, dt in zip(shapes, dtypes)]

    def add(self, epoch0: int, take: int, records, bad=None) -> None:
        """Store the first `take` entries of one chunk (records: arrays (chunk, …))."""
        # cut on the host: a jax slice would compile anew for each epoch count
        records = [np.asarray(r)[:take] for r in records]
        if self.arrays is None or (epoch0 == 0 and self.arrays[0].dtype != records[0].dtype):
            self.allocate([r.shape[1:] for r in records], [r.dtype for r in records])
        e = np.arange(epoch0, epoch0 + take)
        keep = (e % self.every == 0) | (e == self.epochs)
        slots = np.where(e == self.epochs, len(self.arrays[0]) - 1, e // self.every)[keep]
        for store, rec in zip(self.arrays, records):
            store[slots] = rec[keep]
        self.filled = slots[-1] + 1 if slots.size else self.filled
        if bad is not None:
            bad = np.asarray(bad)[:take]
            if self.first_bad is None:
                self.first_bad = np.full(bad.shape[1:], -1, np.int64)
            hit = bad.any(axis=0) & (self.first_bad < 0)
            self.first_bad = np.where(hit, epoch0 + np.argmax(bad, axis=0), self.first_bad)

    @property
    def recorded_epochs(self) -> np.ndarray:
        """The epochs the entries hold: 0, k, 2k, …, E."""
        return recorded_epochs(self.epochs, self.every)

    def finish(self, done: int, stop=None, *, trim: bool = False) -> list[np.ndarray]:
        """The record arrays, NaN from the first entry not computed (`done` entries were) and,
        per lane, after the epoch `stop` ((*lanes,) or a number; None: each lane's first bad
        entry; −1: none). `trim`: end the arrays at the last entry computed instead (an
        interrupted run: the records of a long run are never written in full)."""
        at = self.recorded_epochs
        filled = min(self.filled, int(np.searchsorted(at, done)))
        stop = self.first_bad if stop is None else np.asarray(stop)
        if trim:
            self.arrays = [arr[:filled].copy() for arr in self.arrays]
        for arr in self.arrays:
            arr[filled:] = np.nan
            if stop is None or not np.any(stop >= 0):
                continue
            lanes = stop.ndim
            cut = np.where(stop >= 0, np.searchsorted(at, np.maximum(stop, 0), side="right"),
                           len(at))
            mask = np.arange(len(at)).reshape((-1,) + (1,) * lanes) >= cut[None]
            mask = mask.reshape(mask.shape[:1] + (1,) * (arr.ndim - 1 - lanes) + mask.shape[1:])
            arr[np.broadcast_to(mask, arr.shape)] = np.nan
        return self.arrays


def run_lanes(run_chunk: Callable, state0, epochs: int, chunk: int, *, split: Callable,
              finished: Callable | None = None):
    """Many runs in lanes through `drive_chunks`, every epoch recorded (batched engine, sweeps).

    `split(out) -> (loss (chunk, *lanes), sigma (chunk, P, P, *lanes), bad (chunk, *lanes))`
    reads one chunk's output; `finished(state)` (optional) stops early, e.g. when every run
    has stopped. Ctrl-C raises (a part of the runs is never returned).

    Returns:
        numpy (loss (E+1, *lanes), sigma (E+1, P, P, *lanes), bad (E+1, *lanes)); each run's
        entries after its first bad one NaN (as `run_epochs`), and bad True from there on.
    """
    recorder = Recorder(epochs, record_bytes=np.inf)  # every epoch: the caller asked for them
    bads = []

    def collect(epoch0, take, out, state):
        loss, sigma, bad = split(out)
        bad = np.asarray(bad)[:take]  # one copy to the host, for the records and for `bad`
        recorder.add(epoch0, take, (loss, sigma), bad)
        bads.append(bad)
        return finished is not None and bool(finished(state))

    drive_chunks(run_chunk, state0, epochs, chunk, collect=collect, keep_partial=False)
    loss, sigma = recorder.finish(epochs + 1)
    bad = np.concatenate(bads)
    bad = np.concatenate([bad, np.ones((epochs + 1 - len(bad),) + bad.shape[1:], bool)])
    return loss, sigma, np.maximum.accumulate(bad, axis=0)


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
            instead (the arrays end at the last entry computed), with `interrupted_at` set
            (the command writes them and exits 130).
    """
    dtype = _state_dtype(state0)
    recorder = Recorder(epochs, record_bytes)
    if P is not None:  # a budget too small: the error before anything runs
        recorder.allocate([(), (P, P)], [dtype, dtype])
    found = {}

    def collect(epoch0, take, out, state):
        rec, bad = out
        recorder.add(epoch0, take, (rec.loss, rec.sigma))
        bad = np.asarray(bad)[:take]
        if not bad.any():
            return False
        first = int(np.argmax(bad))
        failed = rec.solver_failed is not None and bool(np.asarray(rec.solver_failed)[first])
        found["solver_failed_at" if failed else "diverged_at"] = epoch0 + first
        return True

    with progress_bar(total=epochs, desc=desc, enabled=progress, unit="ep") as bar:
        state, done, interrupted_at = drive_chunks(chunk_runner, state0, epochs, chunk,
                                                   collect=collect, desc=desc, bar=bar)
    if recorder.arrays is None:
        recorder.allocate([(), (0, 0)], [dtype, dtype])
    diverged_at, solver_failed_at = found.get("diverged_at"), found.get("solver_failed_at")
    stop = diverged_at if diverged_at is not None else solver_failed_at
    loss, sigma = recorder.finish(done, -1 if stop is None else stop,
                                  trim=interrupted_at is not None)
    return LoopResult(loss, sigma, diverged_at, interrupted_at, state, solver_failed_at,
                      None if recorder.every == 1 else recorder.recorded_epochs)


def _state_dtype(state) -> np.dtype:
    """The floating dtype of a state pytree (float64 when it has no floating leaf)."""
    for leaf in jax.tree_util.tree_leaves(state):
        dtype = np.dtype(getattr(leaf, "dtype", np.float64))
        if np.issubdtype(dtype, np.floating):
            return dtype
    return np.dtype(np.float64)
