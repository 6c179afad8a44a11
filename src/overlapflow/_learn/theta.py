"""θ-space training of the full network (docs/theory.md §1, §4, §9): GD with step N·η, Adam, or any
`LearningRule` (momentum, Nesterov, colnorm, weight decay, per-vector rates, clipping, noise)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from .._model.losses import loss_from_outputs
from .._model.network import NetworkSpec, network_outputs
from .._model.overlaps import overlaps
from .._model.tasks import batch_for_epoch, check_task_for
from .._support.errors import ConfigError
from .._support.precision import check_float64
from .._support.validate import count, integer, nonnegative, scalar
from .loop import EpochRecords, LoopResult, make_chunk_runner, run_epochs
from .rules import (
    OPTIMIZERS,
    LearningRule,
    column_scales,
    has_noise,
    resolve_rule,
    theta_chain,
    weight_noise,
)

__all__ = ["OPTIMIZERS", "THETA_CHUNK", "theta_loss", "theta_state", "theta_chunk",
           "train_theta"]

#: Epochs per jitted call of `train_theta` (the last call is padded): a fixed length, so that
#: every number of epochs runs the same compiled program.
THETA_CHUNK = 16


def theta_loss(X, batch, spec: NetworkSpec, loss_kind: str):
    """Loss of the full network with vectors X (N, P) on a `TaskBatch`."""
    return loss_from_outputs(network_outputs(X, batch.x, spec), batch, loss_kind, spec.dt)


def theta_state(X0, rule: LearningRule, eta, spec: NetworkSpec):
    """The start (X0, optimiser state) of θ-space training under `rule`, as `theta_chunk`
    carries it (the chain of the rule's structure, `theta_chain`)."""
    return X0, theta_chain(rule, eta, spec.N, spec=spec).init(X0)


@functools.partial(jax.jit, static_argnames=("spec", "task", "loss_kind", "chunk"))
def theta_chunk(state, epoch0, total, eta, seed, rule, *, spec, task, loss_kind, chunk):
    """`chunk` epochs of θ-space training from `theta_state` (a `make_chunk_runner` chunk:
    returns (state, (EpochRecords, bad))); the runner of `train_theta` and of sweeps.

    The rule is a pytree argument: its numbers (and noise seed) are traced, its structure
    static, so a new value of any of them runs the same compiled program.
    """
    opt = theta_chain(rule, eta, spec.N, spec=spec)
    scales = column_scales(rule, spec) if has_noise(rule) else None

    def step(st, epoch):
        X, opt_state = st
        batch = jax.tree_util.tree_map(
            lambda a: a.astype(X.dtype), batch_for_epoch(task, seed, epoch)
        )
        loss, grad = jax.value_and_grad(theta_loss)(X, batch, spec, loss_kind)
        updates, opt_state = opt.update(grad, opt_state, X)
        new = optax.apply_updates(X, updates)
        if has_noise(rule):  # docs/theory.md §9: X ← X + sqrt(2ηT d_j) ξ
            new = new + weight_noise(rule, eta, epoch, X.shape, X.dtype, scales=scales)
        return (new, opt_state), EpochRecords(loss, overlaps(X))

    return make_chunk_runner(step, chunk)(state, epoch0, total)


def train_theta(
    X0,
    task,
    spec: NetworkSpec,
    *,
    loss: str = "sum_dt",
    optimizer: str | None = None,
    rule: LearningRule | None = None,
    eta: float,
    epochs: int,
    seed: int = 0,
    chunk: int | None = None,
    progress: bool = False,
    dtype=jnp.float64,
) -> LoopResult:
    """Train the vectors X (N, P) of the full network for `epochs` epochs.

    GD: X ← X − N·η ∂L/∂X. Adam: optax.adam with learning rate η. Any other `LearningRule`
    (`rule=`): the optax chain of `theta_optimizer`, then the rule's weight noise
    (docs/theory.md §9). `optimizer` is a shorthand for `LearningRule(optimizer=...)`; the
    default is plain GD. Epoch e uses the batch `batch_for_epoch(task, seed, e)`. The rule's
    numbers, η and `epochs` are traced: new values never compile again (`chunk`, default
    `THETA_CHUNK` epochs per jitted call, is static).

    Returns:
        `LoopResult`: loss (E+1,), sigma = XᵀX/N (E+1, P, P) before each update,
        diverged_at, interrupted_at, and state = (X_final, optimizer_state).

    Raises:
        ConfigError: `epochs` not an integer ≥ 0, `seed` not an integer ≥ 0, `eta` not a
            finite number ≥ 0 (a number or a 0-d array), before anything is computed.
    """
    count("epochs", epochs, minimum=0)
    integer("seed", seed, minimum=0)
    nonnegative("eta", scalar(eta))
    check_float64(dtype, "train_theta")
    check_task_for(task, spec)
    chunk = chunk or THETA_CHUNK
    X0 = jnp.asarray(X0, dtype=dtype)
    if X0.shape != (spec.N, spec.P):
        raise ConfigError(f"X must have shape ({spec.N}, {spec.P}), got {X0.shape}")
    rule = resolve_rule(optimizer, rule)
    column_scales(rule, spec)  # unknown lr_scale names: ConfigError before tracing
    eta_arr = jnp.asarray(eta, dtype)
    runner = functools.partial(
        theta_chunk,
        eta=eta_arr,
        seed=seed,
        rule=rule,
        spec=spec,
        task=task,
        loss_kind=loss,
        chunk=chunk,
    )
    return run_epochs(runner, theta_state(X0, rule, eta_arr, spec), epochs,
                      chunk, progress=progress, desc="theta", P=spec.P)
