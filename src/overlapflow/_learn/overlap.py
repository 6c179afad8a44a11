"""Learning in overlap space (docs/theory.md §4).

With S = sym(∂L/∂Σ) (S_ab = S_ba = ½ ∂L/∂σ_ab off the diagonal, S_aa = ∂L/∂σ_aa):

- `exact`:  Σ ← (I − 2ηS) Σ (I − 2ηS)       the image of θ-space GD with step N·η
- `flow`:   dΣ/dt = −2η (SΣ + ΣS)            gradient flow, adaptive solver, saved per epoch
- `euler`:  Σ ← Σ − 2η (SΣ + ΣS)             one Euler step of the flow per epoch (the paper's)
- `direct`: σ ← σ − η ∂L/∂σ                  identity metric on the distinct overlaps (baseline)

Under a `LearningRule` (`rule=`, docs/theory.md §9) `exact` runs the rule's exact map (the
state is Γ (2P, 2P) of [X | W] for momentum / Nesterov; the recorded `sigma` is its Σ block)
and `flow` / `euler` its first-order form where one exists; otherwise a ConfigError.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import diffrax
import jax
import jax.numpy as jnp

from .._model.effective import overlap_loss
from .._model.network import NetworkSpec
from .._model.tasks import batch_for_epoch, check_task_for
from .._support.errors import ConfigError
from .._support.linalg import lane_eye, matrix_product, n_lanes
from .._support.precision import check_float64
from .._support.validate import count, integer, nonnegative, scalar
from .loop import EpochRecords, LoopResult, make_chunk_runner, run_epochs
from .rules import (
    LearningRule,
    check_rule_mode,
    column_scales,
    initial_rule_state,
    rule_euler_step,
    rule_exact_step,
    rule_flow_velocity,
)

__all__ = [
    "OVERLAP_MODES",
    "OVERLAP_CHUNK",
    "CLOSED_FORM_CHUNK",
    "FlowTolerances",
    "overlap_gradient",
    "exact_overlap_step",
    "euler_overlap_step",
    "direct_overlap_step",
    "flow_velocity",
    "overlap_update",
    "overlap_velocity",
    "learn_overlaps",
]

OVERLAP_MODES = ("exact", "flow", "euler", "direct")

#: Epochs per jitted call of `learn_overlaps` (the last call is padded): a fixed length, so
#: that every number of epochs runs the same compiled program.
OVERLAP_CHUNK = 64
#: The same for a discrete mode whose loss has a T-independent closed form (impulse tasks on
#: linear networks): an epoch costs microseconds, so a longer chunk keeps the per-call cost of
#: Python and of copying the records out small beside the epochs, and a chunk still takes
#: milliseconds (Ctrl-C acts between chunks).
CLOSED_FORM_CHUNK = 1024


@dataclass(frozen=True)
class FlowTolerances:
    """Tolerances of the adaptive solver (Tsit5 + PID controller) used by mode `flow`."""

    rtol: float = 1e-8
    atol: float = 1e-10
    max_steps: int = 100_000


def overlap_gradient(sigma, batch, spec: NetworkSpec, loss_kind: str, task=None):
    """Return (L, S): the loss and its symmetric gradient S = sym(∂L/∂Σ), S of shape (P, P).

    Given `task`, impulse tasks on linear networks with loss "sum_dt" use the T-independent
    closed form of `_closed_form.impulse` (the same loss; stepping elsewhere and as its fall-back).
    """
    from .._closed_form.impulse import value_and_grad_for

    loss, grad = value_and_grad_for(task, spec, loss_kind)(sigma, batch)
    return loss, 0.5 * (grad + grad.T)


def exact_overlap_step(sigma, S, eta):
    """Σ ← (I − 2ηS) Σ (I − 2ηS): θ-space GD with step N·η, exactly, in overlap space.

    Σ, S (P, P), or (P, P, *lanes) for many runs at once (lane axes last, `_support.linalg`);
    η a scalar or (*lanes,). The same holds for the three maps below.
    """
    A = lane_eye(sigma.shape[0], sigma.dtype, n_lanes(sigma)) - 2.0 * eta * S
    return matrix_product(matrix_product(A, sigma), A)


def flow_velocity(sigma, S, eta):
    """dΣ/dt = −2η (SΣ + ΣS), per epoch of gradient flow."""
    return -2.0 * eta * (matrix_product(S, sigma) + matrix_product(sigma, S))


def euler_overlap_step(sigma, S, eta):
    """One Euler step of size one epoch of the gradient flow."""
    return sigma + flow_velocity(sigma, S, eta)


def direct_overlap_step(sigma, S, eta):
    """σ_ab ← σ_ab − η ∂L/∂σ_ab on the distinct overlaps (identity metric; the paper's contrast).

    ∂L/∂σ_ab = 2 S_ab off the diagonal and S_aa on it; invisible overlaps have zero gradient.
    """
    dL = 2.0 * S - lane_eye(S.shape[0], S.dtype, n_lanes(S)) * S
    return sigma - eta * dL


_PLAIN_STEPS = {
    "exact": exact_overlap_step,
    "euler": euler_overlap_step,
    "direct": direct_overlap_step,
}


def overlap_update(mode: str, rule: LearningRule | None, spec: NetworkSpec):
    """The one update map of a discrete overlap mode: `update(state, S, eta) -> state`.

    mode "exact", "euler" or "direct"; `rule` None (plain GD: the maps above) or a
    `LearningRule` that `check_rule_mode` accepted for the mode (its exact map or its Euler
    step, docs/theory.md §9, its column scales bound). Every learner of overlap space steps
    through it: `learn_overlaps`, the batched engine (lanes), and through them sweeps and the
    experiments. The state may carry lane axes (`_support.linalg`), the rule's leaves and η
    one value per lane.
    """
    if rule is None:
        return _PLAIN_STEPS[mode]
    scales = column_scales(rule, spec)
    step = {"exact": rule_exact_step, "euler": rule_euler_step}[mode]
    return functools.partial(step, rule=rule, scales=scales)


def overlap_velocity(rule: LearningRule | None, spec: NetworkSpec):
    """The velocity field of mode flow, `velocity(Σ, S, eta)`: `flow_velocity` (plain GD) or
    the rule's first-order form (`rule_flow_velocity`)."""
    if rule is None:
        return flow_velocity
    return functools.partial(rule_flow_velocity, rule=rule, scales=column_scales(rule, spec))


def _flow_solve(sigma, batch, spec, loss_kind, eta, t1, tol: FlowTolerances, ts=None,
                velocity=flow_velocity):
    def field(t, y, args):
        _, S = overlap_gradient(y, batch, spec, loss_kind)
        return velocity(y, S, eta)

    saveat = diffrax.SaveAt(ts=ts) if ts is not None else diffrax.SaveAt(t1=True)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        diffrax.Tsit5(),
        t0=0.0,
        t1=t1,
        dt0=None,
        y0=sigma,
        saveat=saveat,
        stepsize_controller=diffrax.PIDController(rtol=tol.rtol, atol=tol.atol),
        max_steps=tol.max_steps,
        throw=False,
    )
    ok = sol.result == diffrax.RESULTS.successful
    return sol.ys, ok


@functools.partial(jax.jit, static_argnames=("spec", "task", "loss_kind", "mode", "chunk", "tol"))
def _overlap_chunk(sigma, epoch0, total, eta, seed, rule=None, *, spec, task, loss_kind, mode,
                   chunk, tol):
    # rule None: plain GD (the historical code path, bit for bit); otherwise a LearningRule
    # whose modes `check_rule_mode` has accepted, a pytree argument (its numbers traced, its
    # structure static). `sigma` is the rule's state (Σ or Γ).
    dtype = sigma.dtype
    P = spec.P

    def batch_at(epoch):
        b = batch_for_epoch(task, seed, epoch)
        return jax.tree_util.tree_map(lambda a: a.astype(dtype), b)

    if mode in _PLAIN_STEPS:
        update = overlap_update(mode, rule, spec)

        def step(state, epoch):
            sig = state[:P, :P]  # Σ, or the Σ block of a momentum rule's Γ
            loss, S = overlap_gradient(sig, batch_at(epoch), spec, loss_kind, task)
            return update(state, S, eta), EpochRecords(loss, sig)

        return make_chunk_runner(step, chunk)(sigma, epoch0, total)

    velocity = overlap_velocity(rule, spec)

    if task.deterministic:
        # One adaptive solve across the chunk, saved at integer epochs: the step size is not
        # reset every epoch. Entry k is the state before update epoch0 + k.
        batch = batch_at(0)
        n_upd = jnp.clip(total - epoch0, 0, chunk - 1)
        ts = jnp.minimum(jnp.arange(chunk, dtype=dtype), n_upd.astype(dtype))
        ys, ok = _flow_solve(sigma, batch, spec, loss_kind, eta, n_upd.astype(dtype) + 1e-30,
                             tol, ts=ts, velocity=velocity)
        losses = jax.vmap(lambda s: overlap_loss(s, batch, spec, loss_kind))(ys)
        nonfinite = ~(jnp.isfinite(losses) & jnp.all(jnp.isfinite(ys), axis=(1, 2)))
        # A failed solve (e.g. max_steps reached) leaves the entries it did not reach at inf:
        # the update of the entry before the first of them is the one the solver failed.
        stop = jnp.where(nonfinite.any(), jnp.maximum(jnp.argmax(nonfinite) - 1, 0), n_upd)
        failed = ~ok & (jnp.arange(chunk) == stop)
        # The next chunk starts from the state after the last entry's update, if any.
        last = jnp.where(total - epoch0 >= chunk, 1.0, 0.0).astype(dtype)
        ys_next, ok2 = _flow_solve(ys[-1], batch, spec, loss_kind, eta, last + 1e-30, tol,
                                   velocity=velocity)
        nxt = jnp.where(last > 0, ys_next[-1], ys[-1])
        failed = failed.at[-1].set(failed[-1] | (~ok2 & ~nonfinite[-1]))
        return nxt, (EpochRecords(losses, ys, failed), nonfinite | failed)

    def step(sig, epoch):
        batch = batch_at(epoch)
        loss = overlap_loss(sig, batch, spec, loss_kind)
        ys, ok = _flow_solve(sig, batch, spec, loss_kind, eta, 1.0, tol, velocity=velocity)
        return ys[-1], EpochRecords(loss, sig, ~ok)  # not propagated when the solve failed

    return make_chunk_runner(step, chunk)(sigma, epoch0, total)


def learn_overlaps(
    sigma0,
    task,
    spec: NetworkSpec,
    *,
    loss: str = "sum_dt",
    mode: str = "exact",
    eta: float,
    epochs: int,
    seed: int = 0,
    tol: FlowTolerances = FlowTolerances(),
    chunk: int | None = None,
    progress: bool = False,
    dtype=jnp.float64,
    rule: LearningRule | None = None,
) -> LoopResult:
    """Learn in overlap space from Σ₀ (P, P) for `epochs` epochs.

    Args:
        sigma0: (P, P) initial overlaps.
        task: a `Task`; epoch e uses `batch_for_epoch(task, seed, e)` (the batches θ-space sees).
        spec: network architecture (N is not used).
        loss: loss kind ("sum_dt", "masked_mean", "mean_t_dt").
        mode: one of "exact", "flow", "euler", "direct".
        eta: overlap-space learning rate η (θ-space GD uses N·η).
        epochs: number of updates; E + 1 states are recorded (entry e = before update e).
        rule: a `LearningRule` (docs/theory.md §9); None or plain GD: the maps above. Mode
            "exact" runs the rule's exact map (momentum / Nesterov on Γ = blockdiag(Σ₀, 0),
            2P × 2P: the velocity starts at zero), "flow" / "euler" its first-order form
            (GD-family rules only); a mode without a form for the rule, or Adam, raises a
            one-line ConfigError saying why.

    Returns:
        `LoopResult` with loss (E+1,), sigma (E+1, P, P) (the Σ block), diverged_at,
        interrupted_at, state (Σ, or Γ for momentum / Nesterov).

    The rule's numbers, η and `epochs` are traced: new values never compile again (`chunk`,
    default `OVERLAP_CHUNK` epochs per jitted call and per adaptive solve of mode flow, or
    `CLOSED_FORM_CHUNK` for a discrete mode on a closed-form loss, is
    static). Plain GD runs the maps above, any other rule its own map. `epochs` (an integer
    ≥ 0), `seed` (an integer ≥ 0) and `eta` (a finite number ≥ 0, or a 0-d array) are checked
    before anything is computed (a one-line ConfigError naming the argument).
    """
    count("epochs", epochs, minimum=0)
    integer("seed", seed, minimum=0)
    nonnegative("eta", scalar(eta))
    check_float64(dtype, "learn_overlaps")
    check_task_for(task, spec)
    if mode not in OVERLAP_MODES:
        raise ConfigError(f"unknown overlap mode {mode!r}; valid: {', '.join(OVERLAP_MODES)}")
    if rule is not None:
        if not isinstance(rule, LearningRule):
            raise ConfigError(f"rule must be a LearningRule, got {type(rule).__name__}")
        check_rule_mode(rule, mode)
        column_scales(rule, spec)  # unknown lr_scale names: ConfigError before tracing
        if rule.is_plain and rule.optimizer == "gd":
            rule = None  # plain GD: the historical maps
    if chunk is None:
        from .._closed_form.impulse import closed_form_applies

        fast = mode in _PLAIN_STEPS and closed_form_applies(task, spec, loss)
        chunk = CLOSED_FORM_CHUNK if fast else OVERLAP_CHUNK
    sigma0 = jnp.asarray(sigma0, dtype=dtype)
    if rule is not None:
        sigma0 = initial_rule_state(sigma0, rule)
    runner = functools.partial(
        _overlap_chunk,
        eta=jnp.asarray(eta, dtype),
        seed=seed,
        spec=spec,
        task=task,
        loss_kind=loss,
        mode=mode,
        chunk=chunk,
        tol=tol,
        rule=rule,
    )
    return run_epochs(runner, sigma0, epochs, chunk, progress=progress,
                      desc=mode, P=spec.P)
