"""Node-wise gradient descent on quadrature nodes: `learn_particles`, `learn_limit` (with its
coarser-rule error check) and the records they keep (docs/theory.md §8)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._analysis.gaussianity import GaussianityStats, gaussianity_stats, qq_correlation
from .._learn.loop import EpochRecords, LoopResult, make_chunk_runner, run_epochs
from .._learn.rules import LearningRule, has_noise, node_optimizer, resolve_rule
from .._model.network import NetworkSpec
from .._model.tasks import batch_for_epoch, check_task_for
from .._support.errors import ConfigError
from .._support.precision import check_float64
from .._support.validate import count, integer, nonnegative, scalar
from .adjoint import _drive_and_readout, _latent_forward, particle_value_and_grad
from .quadrature import QuadratureNodes, interpolate_nodes, limit_nodes, qq_bases


class GaussianityTrack(NamedTuple):
    """Gaussianity statistics recorded during learning.

    Attributes:
        epochs: (n,) epochs of the snapshots (state before that epoch's update; the last one
            is the final state).
        stats: `GaussianityStats` with a leading axis of length n.
    """

    epochs: np.ndarray
    stats: GaussianityStats


class LimitState(NamedTuple):
    """Final state of a particle run (the `state` field of its `LoopResult`).

    Attributes:
        X: (K, P) final loadings; X0: (K, P) initial ones; weights: (K,).
        quadrature_error: max relative loss-curve difference to the coarser rule (None when
            not checked, or for Monte-Carlo nodes).
        sigma_error: max |ΔΣ| against the coarser rule (or None).
        coarse_nodes: K of the coarser rule (or None).
        gaussianity: a `GaussianityTrack`, or None.
    """

    X: np.ndarray
    X0: np.ndarray
    weights: np.ndarray
    quadrature_error: float | None = None
    sigma_error: float | None = None
    coarse_nodes: int | None = None
    gaussianity: GaussianityTrack | None = None


#: Epochs per jitted call of `learn_particles` (the last call is padded, its padding skipped):
#: a fixed length, so that every number of epochs runs the same compiled program.
PARTICLE_CHUNK = 8


def check_limit_rule(rule: LearningRule) -> None:
    """Raise ConfigError (one line) for a rule the node engine does not run: weight noise."""
    if has_noise(rule):
        raise ConfigError(
            "weight noise (train.noise_temperature > 0) is not run on nodes: its N → ∞ limit "
            "is the mean 2ηT·I on Σ (mode exact); the limit and θ-space-on-nodes modes refuse it")


def mirror_half(X0, weights, spec: NetworkSpec) -> int | None:
    """Number of simulated nodes when the run can use the mirror symmetry, else None.

    For odd φ the node map is odd, F_t(−X) = −F_t(X): with h_k → −h_k every population sum
    Σ_k w_k (v_k, z_k) φ(h_k) is unchanged and every node gradient flips sign, under GD and
    Adam alike (docs/theory.md §8). A symmetric tensor Gauss–Hermite rule lists node k and its mirror
    −X_k at rows k and K−1−k (and, for odd K, the origin in the middle, which never moves), so
    the first ⌊K/2⌋ rows with doubled weights carry the whole run at half the cost.
    """
    if not spec.nonlinearity.odd:
        return None
    X0n, wn = np.asarray(X0), np.asarray(weights)
    K = wn.shape[0]
    if K < 2:
        return None
    scale = max(1.0, float(np.max(np.abs(X0n))))
    mirrored = np.all(np.abs(X0n[::-1] + X0n) <= 1e-13 * scale)
    same_w = np.all(np.abs(wn[::-1] - wn) <= 1e-13 * np.max(np.abs(wn)))
    return K // 2 if (mirrored and same_w) else None


def _unfold(Xh, K: int):
    """The full node set from its first ⌊K/2⌋ rows (`mirror_half`): [X_h | 0 | −X_h reversed]."""
    middle = jnp.zeros((K - 2 * Xh.shape[0], Xh.shape[1]), Xh.dtype)
    return jnp.concatenate([Xh, middle, -Xh[::-1]])


def _snapshot(X, X0, weights, bases) -> GaussianityStats:
    if X.shape[0] != X0.shape[0]:  # a folded run (`mirror_half`)
        X = _unfold(X, X0.shape[0])
    snap = gaussianity_stats(X, X0, weights)
    if bases is not None:  # tensor rule: Q-Q of the interpolated node map (see QQ_SAMPLES)
        snap = snap._replace(qq_corr=qq_correlation(interpolate_nodes(X, bases)))
    return snap


class _Carry(NamedTuple):
    X: jax.Array
    opt_state: object
    track: GaussianityStats  # (n_track, ...) buffers


#: XLA:CPU compiles for 256-bit vectors by default even where the CPU has 512-bit ones. The node
#: engine is elementwise φ, φ' over (B, K) blocks, so it asks for full-width vectors: on this
#: project's AVX-512 CPU that made erf's epoch (exp, division, polynomial) 1.1–1.2× faster and
#: left tanh's unchanged. Only a preference: CPUs without 512-bit vectors compile as before.
WIDE_VECTORS = {"xla_cpu_prefer_vector_width": 512}


@functools.partial(
    jax.jit,
    static_argnames=("spec", "task", "loss_kind", "chunk", "every"),
    compiler_options=WIDE_VECTORS,
)
def _particle_chunk(carry, epoch0, total, X0, weights, run_weights, bases, eta, seed, rule,
                    adam_eps, *, spec, task, loss_kind, chunk, every):
    # X0, weights: the full rule (for the statistics); the carry's X and run_weights: the nodes
    # actually simulated (the first half of a mirror-symmetric rule, weights doubled).
    # Applied to the node-wise gradient (∂L/∂X_k)/w_k: GD is X_k ← X_k − η (∂L/∂X_k)/w_k;
    # any other rule as `node_optimizer` (docs/theory.md §9). The learning rule and adam_eps
    # are traced arguments (only the rule's structure is static).
    opt = node_optimizer(rule, eta, run_weights, spec=spec, adam_eps=adam_eps, structural=True)

    def step(st, epoch):
        X = st.X
        batch = jax.tree_util.tree_map(
            lambda a: a.astype(X.dtype), batch_for_epoch(task, seed, epoch)
        )
        # Only epochs < total are updated: the final record (epoch == total) needs the loss
        # alone, and the padding of the last chunk nothing (`run_epochs` drops its records).
        def loss_only():
            A, WR = _drive_and_readout(X, run_weights, spec)
            return _latent_forward(A, WR, batch, spec, loss_kind)[0], jnp.zeros_like(X)

        loss, node_grad = jax.lax.switch(
            jnp.clip(epoch - total + 1, 0, 2),
            [lambda: particle_value_and_grad(X, run_weights, batch, spec, loss_kind),
             loss_only,
             lambda: (jnp.zeros((), X.dtype), jnp.zeros_like(X))],
        )
        updates, opt_state = opt.update(node_grad, st.opt_state, X)
        sigma = (run_weights[:, None] * X).T @ X
        track = st.track
        if every:
            def record(tr):
                snap = _snapshot(X, X0, weights, bases)
                return jax.tree_util.tree_map(
                    lambda buf, s: buf.at[epoch // every].set(s), tr, snap
                )

            track = jax.lax.cond(epoch % every == 0, record, lambda tr: tr, track)
        new = _Carry(optax.apply_updates(X, updates), opt_state, track)
        return new, EpochRecords(loss, sigma)

    return make_chunk_runner(step, chunk)(carry, epoch0, total)


def _check_run(eta, epochs, seed, track_every) -> None:
    """The arguments every node learner checks first (one-line ConfigErrors naming them)."""
    count("epochs", epochs)
    integer("seed", seed, minimum=0)
    nonnegative("eta", scalar(eta))
    if track_every is not None:
        integer("track_every", track_every, minimum=0)


def learn_particles(
    nodes: QuadratureNodes,
    task,
    spec: NetworkSpec,
    *,
    loss: str = "sum_dt",
    optimizer: str | None = None,
    rule: LearningRule | None = None,
    eta: float,
    epochs: int,
    seed: int = 0,
    track_every: int | None = None,
    chunk: int | None = None,
    progress: bool = False,
    desc: str = "limit",
    dtype=jnp.float64,
    fold: bool = True,
    adam_eps: float = 1e-8,
) -> LoopResult:
    """Learn weighted nodes (quadrature or Monte-Carlo) by node-wise GD (or Adam).

    Args:
        nodes: `QuadratureNodes` (X0 (K, P), weights (K,)).
        task: epoch e uses `batch_for_epoch(task, seed, e)` (the batches of every mode).
        loss: loss kind; eta: learning rate η (GD: X_k ← X_k − η (∂L/∂X_k)/w_k).
        optimizer, rule: "gd" (default) or "adam", or a `LearningRule` (`node_optimizer`,
            docs/theory.md §9; weight noise is refused).
        epochs: number of updates E; E + 1 entries are recorded.
        track_every: record `GaussianityStats` every this many epochs (and at the end);
            with a tensor rule (`nodes.grid`), qq_corr is that of the interpolated node map
            at `QQ_SAMPLES` seeded Gaussian points.
        fold: for odd φ and a mirror-symmetric rule (every tensor Gauss–Hermite rule),
            simulate half of the nodes (`mirror_half`): the same numbers at half the cost.
        adam_eps: Adam's ε, compared with the node-wise gradient (∂L/∂X_k)/w_k. For the N rows
            of a network (`theta_nodes`, w = 1/N) ε = N·1e-8 makes it exactly θ-space Adam
            (`train_theta`, ε = 1e-8 on ∂L/∂X): Adam is invariant to the gradient's scale but ε.
            Traced, as η and the rule's numbers: new values never compile again.

    Returns:
        `LoopResult` with loss (E+1,), sigma = Σ_k w_k X_kᵀX_k (E+1, P, P), and state a
        `LimitState` (quadrature_error None: see `learn_limit`).

    Raises:
        ConfigError: `epochs` not an integer ≥ 1, `seed` or `track_every` not an integer ≥ 0,
            `eta` not a finite number ≥ 0 (a number or a 0-d array), before anything is
            computed.
    """
    _check_run(eta, epochs, seed, track_every)
    check_float64(dtype, "learn_particles")
    check_task_for(task, spec)
    rule = resolve_rule(optimizer, rule)
    check_limit_rule(rule)
    every = 0 if track_every is None else track_every
    X0 = jnp.asarray(nodes.X0, dtype)
    weights = jnp.asarray(nodes.weights, dtype)
    if X0.ndim != 2 or X0.shape[1] != spec.P or weights.shape != (X0.shape[0],):
        raise ConfigError(
            f"nodes must be X0 (K, {spec.P}) and weights (K,), got {X0.shape} and {weights.shape}"
        )
    chunk = chunk or PARTICLE_CHUNK
    eta_arr = jnp.asarray(eta, dtype)
    grid = nodes.grid if len(nodes) > 2 else None
    bases = qq_bases(grid) if (every and grid is not None) else None
    n_track = (epochs - 1) // every + 1 if every else 0
    P = spec.P
    track = GaussianityStats(
        jnp.full((n_track, P), jnp.nan, dtype), jnp.full((n_track, P), jnp.nan, dtype),
        jnp.full((n_track, P), jnp.nan, dtype), jnp.full((n_track, P), jnp.nan, dtype),
        jnp.full((n_track,), jnp.nan, dtype),
    )
    half = mirror_half(X0, weights, spec) if fold else None
    X_run, run_weights = (X0, weights) if half is None else (X0[:half], 2.0 * weights[:half])
    eps = jnp.asarray(adam_eps, dtype)
    opt = node_optimizer(rule, eta_arr, run_weights, spec=spec, adam_eps=eps, structural=True)
    carry = _Carry(X_run, opt.init(X_run), track)
    runner = functools.partial(
        _particle_chunk, X0=X0, weights=weights, run_weights=run_weights, bases=bases,
        eta=eta_arr, seed=seed, rule=rule, adam_eps=eps, spec=spec, task=task, loss_kind=loss,
        chunk=chunk, every=every,
    )
    result = run_epochs(runner, carry, epochs, chunk, progress=progress,
                        desc=desc, P=spec.P)
    final = result.state
    if half is not None:
        final = final._replace(X=_unfold(final.X, X0.shape[0]))
    gauss = None
    if every:
        last = jax.tree_util.tree_map(np.asarray, _snapshot(final.X, X0, weights, bases))
        steps = np.arange(0, epochs, every)
        stats = jax.tree_util.tree_map(
            lambda buf, s: np.concatenate([np.asarray(buf), np.asarray(s)[None]]),
            final.track, last,
        )
        gauss = GaussianityTrack(np.r_[steps, epochs], stats)
    state = LimitState(np.asarray(final.X), np.asarray(X0), np.asarray(weights), gaussianity=gauss)
    return result._replace(state=state)


def _coarser(n: int, step: int) -> int:
    return max(2, n - step)


def learn_limit(
    sigma0,
    task,
    spec: NetworkSpec,
    *,
    loss: str = "sum_dt",
    eta: float,
    epochs: int,
    seed: int = 0,
    nodes: int = 9,
    nodes_rest: int | None = None,
    check: bool = True,
    optimizer: str | None = None,
    rule: LearningRule | None = None,
    track_every: int | None = None,
    chunk: int | None = None,
    progress: bool = False,
    dtype=jnp.float64,
) -> LoopResult:
    """Learning of the N → ∞ network from Σ₀ (docs/theory.md §8): mode `limit`.

    Args:
        sigma0: (P, P) initial overlaps; the initial loadings are X(0) ~ N(0, Σ₀).
        task, loss, eta, epochs, seed: as `learn_overlaps` (same batches, same η).
        nodes, nodes_rest: the quadrature (`limit_nodes`).
        check: also run the coarser rule (nodes − 3, and nodes_rest − 3 for P ≤ 4 or
            nodes_rest − 1 otherwise, at least 2) and report the difference as the run's
            quadrature error.
        optimizer: "gd" (the limit of θ-space GD with step N·η) or "adam" (node-wise Adam).
        rule: a `LearningRule` instead (the limit of θ-space training under it; weight
            noise is refused with a ConfigError, docs/theory.md §9).
        track_every: record Gaussianity statistics every this many epochs.

    Returns:
        `LoopResult`: loss (E+1,), sigma (E+1, P, P), diverged_at, interrupted_at, and state a
        `LimitState` with the final nodes and `quadrature_error` (max relative loss-curve
        difference to the coarser rule), `sigma_error` (max |ΔΣ|) and `coarse_nodes`.

    Raises:
        ConfigError: as `learn_particles` (`epochs`, `seed`, `eta`, `track_every`) and
            `limit_nodes` (`nodes`, `nodes_rest`), before anything is computed.
    """
    _check_run(eta, epochs, seed, track_every)
    check_task_for(task, spec)
    learning_rule = resolve_rule(optimizer, rule)
    check_limit_rule(learning_rule)
    rule = limit_nodes(sigma0, spec, nodes=nodes, nodes_rest=nodes_rest)
    common = dict(loss=loss, rule=learning_rule, eta=eta, epochs=epochs, seed=seed,
                  chunk=chunk, dtype=dtype)
    result = learn_particles(rule, task, spec, track_every=track_every, progress=progress,
                             desc=f"limit K={rule.weights.shape[0]}", **common)
    if not check or result.interrupted_at is not None:
        return result
    rest = nodes_rest if nodes_rest is not None else (nodes if spec.P <= 4 else 3)
    coarse_rest = _coarser(rest, 3 if spec.P <= 4 else 1)
    coarse = limit_nodes(sigma0, spec, nodes=_coarser(nodes, 3), nodes_rest=coarse_rest)
    ref = learn_particles(coarse, task, spec, progress=progress,
                          desc=f"limit check K={coarse.weights.shape[0]}", **common)
    ok = np.isfinite(result.loss) & np.isfinite(ref.loss) & (result.loss != 0)
    q_err = float(np.max(np.abs(ref.loss[ok] / result.loss[ok] - 1.0))) if ok.any() else None
    okS = np.all(np.isfinite(result.sigma), axis=(1, 2)) & np.all(np.isfinite(ref.sigma), axis=(1, 2))
    s_err = float(np.max(np.abs(ref.sigma[okS] - result.sigma[okS]))) if okS.any() else None
    state = result.state._replace(
        quadrature_error=q_err, sigma_error=s_err, coarse_nodes=int(coarse.weights.shape[0])
    )
    return result._replace(state=state)
