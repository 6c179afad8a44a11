"""The batched overlap-space engine: many runs of one configuration in the SIMD lanes of one
jitted `lax.scan` (docs/theory.md §4). The one engine behind `sweep` and the `twins` experiment.

The runs are carried as (P, P, n), batch axis last, so the small-matrix algebra of every run
vectorises across runs. Updates as `exact_overlap_step` / `euler_overlap_step` /
`direct_overlap_step`; impulse tasks on linear networks use the T-independent closed form,
falling back to stepping for the whole group in an epoch where any member's closed form is
flagged (a `lax.cond` on the group, so a group never pays for both branches).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._closed_form.impulse import (
    _lift,
    _mm,
    _t,
    closed_form_applies,
    closed_form_value_and_grad,
    impulse_batch,
)
from .._model.effective import overlap_values_and_grads
from .._model.tasks import batch_for_epoch
from .._support.errors import ConfigError
from .._support.parallel import map_threaded

__all__ = ["LaneState", "batched_chunk", "batched_overlap_runs", "lane_state", "lanes_per_group",
           "STEPPED_LANES"]


def _exact_t(sig, S, eta):
    A = _lift(jnp.eye(sig.shape[0], dtype=sig.dtype), sig.ndim - 2) - 2.0 * eta * S
    return _mm(A, _mm(sig, A))


def _euler_t(sig, S, eta):
    return sig - 2.0 * eta * (_mm(S, sig) + _mm(sig, S))


def _direct_t(sig, S, eta):
    eye = _lift(jnp.eye(sig.shape[0], dtype=sig.dtype), sig.ndim - 2)
    return sig - eta * (2.0 * S - eye * S)


# The update maps of `_learn.overlap` written for (P, P, n) arrays (batch axis last).
_STEPS_T = {"exact": _exact_t, "euler": _euler_t, "direct": _direct_t}


#: Lanes per group for the stepped loss (the latent adjoint's stored states stay in cache).
STEPPED_LANES = 16
#: Bytes of one (K̃, K̃, K̃, lanes) closed-form intermediate that still fit the L1 data cache.
_L1_BYTES = 32 * 1024


def _pad_rows(a, size: int):
    """`a` (m, ...) padded to (size, ...) by repeating its last row: one compiled shape."""
    if a.shape[0] >= size:
        return a
    return jnp.concatenate([a, jnp.broadcast_to(a[-1:], (size - a.shape[0],) + a.shape[1:])])


def lanes_per_group(spec, task, loss_kind: str) -> int:
    """Runs per jitted call of `batched_overlap_runs`: the largest group that stays in cache.

    The closed form's Smith doubling forms (K̃, K̃, K̃, n) broadcast products; once they outgrow
    the L1 cache every one of its ~300 small operations streams through L2 and the cost per run
    triples (measured on the Figure-1 config, K̃ = 3: 0.8 µs per run-epoch at 64–128 lanes,
    2.6 µs at 256, 8.3 µs at 1024). So: the largest power of two with 8·K̃³·lanes ≤ 32 KiB,
    between 8 and 128. The stepped loss keeps (T, d, lanes) states: 16 lanes.
    """
    if not closed_form_applies(task, spec, loss_kind):
        return STEPPED_LANES
    k = spec.latent_dim + (2 if task.kind == "impulse_damped_cos" else 1)
    lanes = _L1_BYTES // (8 * k**3)
    return int(min(128, max(8, 1 << max(0, lanes.bit_length() - 1))))


class LaneState(NamedTuple):
    """Carry of `batched_chunk` for n runs.

    Attributes:
        sigma: (P, P, n) overlaps, batch axis last.
        reduced: (n,) bool, whether the run's η was already divided by `drop`.
        bad: (n,) bool, whether the run's loss or state turned non-finite (it stops updating).
    """

    sigma: jax.Array
    reduced: jax.Array
    bad: jax.Array


def lane_state(sigma0) -> LaneState:
    """The starting `LaneState` of runs with overlaps sigma0 (n, P, P)."""
    sigma0 = jnp.asarray(sigma0)
    n = sigma0.shape[0]
    return LaneState(jnp.moveaxis(sigma0, 0, -1), jnp.zeros(n, bool), jnp.zeros(n, bool))


@functools.partial(jax.jit, static_argnames=("spec", "task", "loss_kind", "mode", "chunk",
                                             "record_sigma"))
def batched_chunk(state: LaneState, epoch0, total, eta, drop, below, task_seed, *, spec, task,
                  loss_kind, mode, chunk, record_sigma=True):
    """Epochs epoch0 … epoch0 + chunk − 1 of n runs: one jitted `lax.scan` over epochs.

    Epoch e uses the batch `batch_for_epoch(task, task_seed, e)` for every run. A run's step is
    η, divided by `drop` from the epoch after the first whose loss is below `below` (drop = 1
    or below = −inf: never). A run whose loss or state is not finite stops updating and is
    marked bad; epochs ≥ `total` record the state without updating it.

    Returns:
        (state, (loss (chunk, n), sigma (chunk, P, P, n) or None, bad (chunk, n))): entry k
        is the state before the update of epoch epoch0 + k.
    """
    update = _STEPS_T[mode]
    dtype = state.sigma.dtype
    cf = closed_form_applies(task, spec, loss_kind)

    def stepped(sig, batch):  # all runs in the lanes of one adjoint pass
        loss, G = overlap_values_and_grads(jnp.moveaxis(sig, -1, 0), batch, spec, loss_kind)
        return loss, jnp.moveaxis(0.5 * (G + jnp.swapaxes(G, 1, 2)), 0, -1)

    def closed(sig):
        loss, g, ok = closed_form_value_and_grad(sig, spec, task)
        return loss, 0.5 * (g + _t(g)), ok

    def grads(sig, batch):
        if not cf:
            return stepped(sig, batch)
        loss, S, ok = closed(sig)
        # Decided for the whole group, so that no run ever pays for both branches.
        return jax.lax.cond(jnp.all(ok), lambda: (loss, S),
                            lambda: stepped(sig, impulse_batch(task, dtype)))

    def body(st: LaneState, epoch):
        batch = jax.tree_util.tree_map(lambda a: a.astype(dtype), batch_for_epoch(task, task_seed, epoch))
        loss, S = grads(st.sigma, batch)
        eta_now = jnp.where(st.reduced, eta / drop, eta)
        new = update(st.sigma, S, eta_now)
        bad = st.bad | ~(jnp.isfinite(loss) & jnp.all(jnp.isfinite(st.sigma), axis=(0, 1)))
        keep = bad | (epoch >= total)
        nxt = LaneState(jnp.where(keep, st.sigma, new), st.reduced | (~keep & (loss < below)), bad)
        return nxt, (loss, st.sigma if record_sigma else None, bad)

    return jax.lax.scan(body, state, epoch0 + jnp.arange(chunk))


def batched_overlap_runs(sigma0, eta, task_seed, *, spec, task, loss_kind, mode, epochs,
                         lanes: int | None = None, threads: int | None = None):
    """Overlap-space learning of n runs: lane groups of jitted `lax.scan`s, one thread per core.

    The runs are cut into groups of `lanes` (default `lanes_per_group`; the last group is
    padded by repeating its last run, so every group has one compiled shape). Each group is one
    `batched_chunk` over all epochs whose runs sit in the SIMD lanes; groups run on `threads`
    threads (default: one per available core; XLA runs each on its own core).

    Args:
        sigma0: (n, P, P) initial overlaps.
        eta: learning rate; task_seed: batch seed (all runs see the same batches).
        mode: "exact", "euler" or "direct".

    Returns:
        numpy (loss (E+1, n), sigma (E+1, P, P, n), bad (E+1, n)); entry e is the state before
        update e; a run whose loss or state turns non-finite stops updating (bad marks it).
    """
    if lanes is not None and (isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1):
        raise ConfigError(f"lanes must be a positive integer or None, got {lanes!r}")
    sigma0 = jnp.asarray(sigma0)
    n = sigma0.shape[0]
    size = min(n, lanes or lanes_per_group(spec, task, loss_kind))
    groups = [_pad_rows(sigma0[i : i + size], size) for i in range(0, n, size)]

    def run(group):
        _, out = batched_chunk(lane_state(group), 0, epochs, eta, 1.0, -jnp.inf, task_seed,
                               spec=spec, task=task, loss_kind=loss_kind, mode=mode,
                               chunk=epochs + 1)
        return jax.tree_util.tree_map(np.asarray, out)

    outs = map_threaded(run, groups, threads)
    return tuple(np.concatenate([o[j] for o in outs], axis=-1)[..., :n] for j in range(3))
