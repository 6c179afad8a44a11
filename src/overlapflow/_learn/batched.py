"""The batched overlap-space engine: many runs of one configuration in the SIMD lanes of one
jitted `lax.scan` (docs/theory.md §4). The one engine behind `sweep` and the `twins` experiment.

The runs are carried as (P, P, n), batch axis last, so the small-matrix algebra of every run
vectorises across runs. Updates as `exact_overlap_step` / `euler_overlap_step` /
`direct_overlap_step`; impulse tasks on linear networks use the T-independent closed form,
falling back to stepping for the whole group in an epoch where any member's closed form is
flagged (a `lax.cond` on the group, so a group never pays for both branches).

Every run steps by the one update map of its mode (`_learn.overlap.overlap_update`: the plain
maps, or under a `LearningRule`, docs/theory.md §9, the rule's exact map or Euler step), the
same functions as a single run, applied to lanes. The rule is a traced argument whose leaves
are shared or hold one value per run ((n,)), as η may: runs that differ only in these numbers
share one compiled program and one lane group.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._closed_form.impulse import (
    closed_form_applies,
    closed_form_value_and_grad,
    impulse_batch,
)
from .._model.effective import overlap_values_and_grads
from .._model.tasks import batch_for_epoch
from .._support.errors import ConfigError
from .._support.linalg import lane_transpose
from .._support.parallel import map_threaded
from .._support.validate import count, finite, integer
from .loop import run_lanes
from .overlap import overlap_update
from .rules import LearningRule, initial_rule_state

__all__ = ["LaneState", "batched_chunk", "batched_overlap_runs", "lane_state", "lanes_per_group",
           "pad_rows", "STEPPED_LANES", "BATCHED_CHUNK"]


#: Epochs per jitted call of `batched_overlap_runs` (the last call is padded): a fixed length,
#: so that every number of epochs runs the same compiled program.
BATCHED_CHUNK = 128


#: Lanes per group for the stepped loss (the latent adjoint's stored states stay in cache).
STEPPED_LANES = 16
#: Bytes of one (K̃, K̃, K̃, lanes) closed-form intermediate that still fit the L1 data cache.
_L1_BYTES = 32 * 1024


def pad_rows(a, size: int):
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
        sigma: (P, P, n) overlaps, batch axis last (under a momentum rule Γ, (2P, 2P, n)).
        reduced: (n,) bool, whether the run's η was already divided by `drop`.
        bad: (n,) bool, whether the run's loss or state turned non-finite (it stops updating).
    """

    sigma: jax.Array
    reduced: jax.Array
    bad: jax.Array


def lane_state(sigma0, rule: LearningRule | None = None) -> LaneState:
    """The starting `LaneState` of runs with overlaps sigma0 (n, P, P) (under `rule`, its
    initial state: Γ₀ = blockdiag(Σ₀, 0) for momentum / Nesterov)."""
    sigma0 = jnp.asarray(sigma0)
    if rule is not None:
        sigma0 = initial_rule_state(sigma0, rule)
    n = sigma0.shape[0]
    return LaneState(jnp.moveaxis(sigma0, 0, -1), jnp.zeros(n, bool), jnp.zeros(n, bool))


@functools.partial(jax.jit, static_argnames=("spec", "task", "loss_kind", "mode", "chunk",
                                             "record_sigma"))
def batched_chunk(state: LaneState, epoch0, total, eta, drop, below, task_seed, rule=None, *,
                  spec, task, loss_kind, mode, chunk, record_sigma=True):
    """Epochs epoch0 … epoch0 + chunk − 1 of n runs: one jitted `lax.scan` over epochs.

    Epoch e uses the batch `batch_for_epoch(task, task_seed, e)` for every run. A run's step is
    η (a scalar or (n,), one per run), divided by `drop` from the epoch after the first whose
    loss is below `below` (drop = 1 or below = −inf: never). A run whose loss or state is not
    finite stops updating and is marked bad; epochs ≥ `total` record the state without
    updating it. `rule`: None (plain GD: the maps of `_learn.overlap`), or a `LearningRule`
    accepted for `mode` by `check_rule_mode` (exact or euler), traced: its leaves scalars or
    (n,) (`stack_rules`); the state is then the rule's (`lane_state(sigma0, rule)`).

    Returns:
        (state, (loss (chunk, n), sigma (chunk, P, P, n) or None, bad (chunk, n))): entry k
        is the state before the update of epoch epoch0 + k (sigma: its Σ block).
    """
    dtype = state.sigma.dtype
    P = spec.P
    update = overlap_update(mode, rule, spec)  # the maps of single runs, on lanes
    cf = closed_form_applies(task, spec, loss_kind)

    def stepped(sig, batch):  # all runs in the lanes of one adjoint pass
        loss, G = overlap_values_and_grads(jnp.moveaxis(sig, -1, 0), batch, spec, loss_kind)
        return loss, jnp.moveaxis(0.5 * (G + jnp.swapaxes(G, 1, 2)), 0, -1)

    def closed(sig):
        loss, g, ok = closed_form_value_and_grad(sig, spec, task)
        return loss, 0.5 * (g + lane_transpose(g)), ok

    def grads(sig, batch):
        if not cf:
            return stepped(sig, batch)
        loss, S, ok = closed(sig)
        # Decided for the whole group, so that no run ever pays for both branches.
        return jax.lax.cond(jnp.all(ok), lambda: (loss, S),
                            lambda: stepped(sig, impulse_batch(task, dtype)))

    def body(st: LaneState, epoch):
        batch = jax.tree_util.tree_map(lambda a: a.astype(dtype), batch_for_epoch(task, task_seed, epoch))
        sig = st.sigma[:P, :P]
        loss, S = grads(sig, batch)
        eta_now = jnp.where(st.reduced, eta / drop, eta)
        new = update(st.sigma, S, eta_now)
        bad = st.bad | ~(jnp.isfinite(loss) & jnp.all(jnp.isfinite(st.sigma), axis=(0, 1)))
        keep = bad | (epoch >= total)
        nxt = LaneState(jnp.where(keep, st.sigma, new), st.reduced | (~keep & (loss < below)), bad)
        return nxt, (loss, sig if record_sigma else None, bad)

    return jax.lax.scan(body, state, epoch0 + jnp.arange(chunk))


def batched_overlap_runs(sigma0, eta, task_seed, *, spec, task, loss_kind, mode, epochs,
                         lanes: int | None = None, threads: int | None = None,
                         rule: LearningRule | None = None):
    """Overlap-space learning of n runs: lane groups of jitted `lax.scan`s, one thread per core.

    The runs are cut into groups of `lanes` (default `lanes_per_group`; the last group is
    padded by repeating its last run, so every group has one compiled shape). Each group runs
    `batched_chunk` over all epochs, `BATCHED_CHUNK` epochs per call, its runs in the SIMD
    lanes; groups run on `threads` threads (default: one per available core; XLA runs each on
    its own core). η and the rule's numbers are traced, one value per run: runs of any η and
    any numbers share one compiled program.

    Args:
        sigma0: (n, P, P) initial overlaps.
        eta: learning rate, a scalar or (n,) (one per run); task_seed: batch seed (all runs
            see the same batches).
        mode: "exact", "euler" or "direct".
        rule: None (plain GD), or a `LearningRule` accepted for `mode` (`check_rule_mode`),
            its leaves scalars or (n,) (`stack_rules`: runs that differ in the rule's numbers).

    Returns:
        numpy (loss (E+1, n), sigma (E+1, P, P, n), bad (E+1, n)); entry e is the state before
        update e; a run whose loss or state turns non-finite stops updating (bad marks it
        from that entry on) and its entries after the first bad one are NaN, as in
        `run_epochs`. The epochs run through the one driver (`_learn.loop.run_lanes`; Ctrl-C
        raises: a part of a group is never returned).

    Raises:
        ConfigError: `epochs` or `task_seed` not an integer ≥ 0, a non-finite η, `lanes`
            not a positive integer, before anything is computed.
    """
    count("epochs", epochs, minimum=0)
    integer("task_seed", task_seed, minimum=0)
    finite("eta", eta)
    if lanes is not None and (isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1):
        raise ConfigError(f"lanes must be a positive integer or None, got {lanes!r}")
    sigma0 = jnp.asarray(sigma0)
    n = sigma0.shape[0]
    size = min(n, lanes or lanes_per_group(spec, task, loss_kind))
    dtype = sigma0.dtype
    eta = jnp.broadcast_to(jnp.asarray(eta, dtype), (n,))  # one compiled shape for any η
    if rule is not None:  # every leaf one value per run
        rule = jax.tree_util.tree_map(lambda x: np.broadcast_to(np.asarray(x), (n,)), rule)

    def lanes_of(i):
        def cut(a):
            return pad_rows(jnp.asarray(a)[i : i + size], size)

        return (cut(sigma0), cut(eta),
                None if rule is None else jax.tree_util.tree_map(cut, rule))

    groups = [lanes_of(i) for i in range(0, n, size)]

    def run(group):
        sig0, eta_g, rule_g = group
        chunk = functools.partial(batched_chunk, eta=eta_g, drop=1.0, below=-jnp.inf,
                                  task_seed=task_seed, rule=rule_g, spec=spec, task=task,
                                  loss_kind=loss_kind, mode=mode, chunk=BATCHED_CHUNK)
        return run_lanes(chunk, lane_state(sig0, rule_g), epochs, BATCHED_CHUNK,
                         split=lambda out: out, finished=lambda st: np.asarray(st.bad).all())

    outs = map_threaded(run, groups, threads)
    return tuple(np.concatenate([o[j] for o in outs], axis=-1)[..., :n] for j in range(3))
