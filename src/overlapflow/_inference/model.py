"""What an observer sees of a learning network, as a function of its initial overlaps Σ₀.

The forward model of `reveal` (docs/theory.md §10): Σ₀ (P, P) is learned by the exact
overlap map of plain gradient descent (docs/theory.md §4.2),

    Σ_{e+1} = (I − 2ηS_e) Σ_e (I − 2ηS_e),      S_e = sym(∂L/∂Σ)(Σ_e) on the batch of epoch e,

(for nonlinear φ the same map on the Gaussian closure's loss, §4.6), and at the observed epochs
e_1 < … < e_E an observer records either

- "loss":    L(Σ_e) on the batch of epoch e — the training-loss curve (`LoopResult.loss[e]`);
- "outputs": the outputs y (B, T, n_out) of the network with overlaps Σ_e on one fixed probe
             input x (B, T, n_in): `effective_outputs(Σ_e, x, spec)`.

Epoch e is the state *before* update e (e updates have been made), as everywhere in the
project; epoch 0 is the untrained network.

The model is differentiated twice (the fit and the Fisher information differentiate through
the learning, which itself uses ∂L/∂Σ), so ∂L/∂Σ must be a function JAX can differentiate
again, exactly. Three sources, the fastest that applies:

- impulse tasks on linear networks with loss "sum_dt": the gradient of the Gramian (Smith
  doubling) form of the closed-form loss (`impulse_loss_parts`, docs/theory.md §3.5), whose
  derivatives of every order are those of the loss (the T-free rank-1 and Newton forms hold
  eigenvalues fixed in their gradient and are not used here). Its trust flag concerns the
  relative accuracy of the loss *value* near convergence (cancellation), which learning does
  not use; a non-finite gradient (overflow of a diverging network) makes the fit reject the
  step;
- other linear networks: autodiff of the stepped loss `overlap_loss`;
- nonlinear networks: the latent adjoint `overlap_value_and_grad` (25 µs per epoch against
  1.1 ms for autodiff of the stepped closure, for erf at T = 400).

The epochs run in a `lax.while_loop` up to a traced last epoch (forward-mode differentiable),
so a fit can observe a growing prefix of the observations without recompiling.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._closed_form.impulse import closed_form_applies, impulse_loss_parts
from .._learn.overlap import exact_overlap_step
from .._model.effective import effective_outputs_many, overlap_loss, overlap_value_and_grad
from .._model.network import NetworkSpec
from .._model.tasks import batch_for_epoch, check_task_for
from .._support.errors import ConfigError

__all__ = ["OBSERVATION_KINDS", "observation_model", "sym_from_coords",
           "coords_from_sym"]

OBSERVATION_KINDS = ("loss", "outputs")


def sym_from_coords(coords, P: int):
    """Symmetric (P, P) matrix from its P(P+1)/2 distinct overlaps in `overlap_pairs` order."""
    iu = np.triu_indices(P)
    upper = jnp.zeros((P, P), coords.dtype).at[iu].set(coords)
    return upper + jnp.triu(upper, 1).T


def coords_from_sym(sigma):
    """The P(P+1)/2 distinct overlaps of a symmetric (..., P, P) matrix, `overlap_pairs` order."""
    P = sigma.shape[-1]
    iu = np.triu_indices(P)
    return sigma[..., iu[0], iu[1]]


def observation_model(spec: NetworkSpec, task, *, loss_kind: str, eta: float, seed: int,
                      epochs, kind: str, probe_x=None, dtype=jnp.float64):
    """`_observation_model` for these arguments, built once and reused (so is its compiled code:
    two fits of the same set-up, say two networks observed alike, compile once)."""
    check_task_for(task, spec)
    if kind not in OBSERVATION_KINDS:
        raise ConfigError(f"observation kind must be one of {', '.join(OBSERVATION_KINDS)}, "
                          f"got {kind!r}")
    epochs = tuple(int(e) for e in np.asarray(epochs).ravel())
    probe = None
    if kind == "outputs":
        probe = np.ascontiguousarray(np.asarray(probe_x, dtype=np.float64))
        probe = (probe.tobytes(), probe.shape)
    return _cached_model(spec, task, loss_kind, float(eta), int(seed), epochs, kind, probe,
                         np.dtype(dtype).name)


@functools.lru_cache(maxsize=16)
def _cached_model(spec, task, loss_kind, eta, seed, epochs, kind, probe, dtype_name):
    probe_x = None
    if probe is not None:
        probe_x = np.frombuffer(probe[0], dtype=np.float64).reshape(probe[1])
    return _observation_model(spec, task, loss_kind=loss_kind, eta=eta, seed=seed,
                              epochs=np.asarray(epochs), kind=kind, probe_x=probe_x,
                              dtype=jnp.dtype(dtype_name))


def _observation_model(spec: NetworkSpec, task, *, loss_kind: str, eta: float, seed: int,
                       epochs, kind: str, probe_x=None, dtype=jnp.float64):
    """Return `f(sigma0, n_active) -> (E, m)`: the observations of a network learning from Σ₀.

    Args:
        spec, task, loss_kind, eta: the network, its task, loss and learning rate η (plain GD
            with step N·η in θ-space; the exact map in overlap space).
        seed: the batch seed: epoch e learns on `batch_for_epoch(task, seed, e)`.
        epochs: (E,) strictly increasing observed epochs (integers ≥ 0).
        kind: "loss" (m = 1) or "outputs" (m = B·T·n_out on `probe_x`).
        probe_x: (B, T, n_in) probe input (kind "outputs").

    Returns:
        f(sigma0 (P, P), n_active: int in 1…E) -> (E, m); rows k ≥ n_active are not computed
        (learning stops at epoch epochs[n_active − 1]) and hold the observation of Σ = 0.
        `f.vmap_tangents` says how its Jacobian is best computed (True: `jax.jacfwd`; False:
        one jvp after the other).
    """
    check_task_for(task, spec)
    epochs_np = np.asarray(epochs, dtype=np.int64)
    ep = jnp.asarray(epochs_np, dtype=jnp.int32)
    E = int(ep.shape[0])
    P = spec.P
    eta = jnp.asarray(eta, dtype)
    fixed = task.deterministic

    def batch_at(epoch):
        b = batch_for_epoch(task, seed, epoch)
        return jax.tree_util.tree_map(lambda a: a.astype(dtype), b)

    fixed_batch = batch_at(0) if fixed else None

    closed = closed_form_applies(task, spec, loss_kind)

    def grad_loss(sigma, batch):
        if closed:  # Gramian form: a non-finite value (overflow) makes the fit reject the step
            return jax.grad(lambda s: impulse_loss_parts(s, spec, task)[0])(sigma)
        if spec.is_linear:
            return jax.grad(overlap_loss)(sigma, batch, spec, loss_kind)
        return overlap_value_and_grad(sigma, batch, spec, loss_kind)[1]

    def trajectory(sigma0, n_active):
        last = ep[jnp.clip(n_active, 1, E) - 1]
        slot = jnp.arange(E)

        def body(carry):
            e, sigma, out, k = carry
            hit = (k < E) & (ep[jnp.minimum(k, E - 1)] == e)
            out = jnp.where(hit & (slot == k)[:, None, None], sigma[None], out)
            batch = fixed_batch if fixed else batch_at(e)
            G = grad_loss(sigma, batch)
            S = 0.5 * (G + G.T)
            return e + 1, exact_overlap_step(sigma, S, eta), out, k + hit.astype(k.dtype)

        init = (jnp.asarray(0, jnp.int32), sigma0, jnp.zeros((E, P, P), dtype),
                jnp.asarray(0, jnp.int32))
        _, _, out, _ = jax.lax.while_loop(lambda c: c[0] <= last, body, init)
        return out

    if kind == "outputs":
        x = jnp.asarray(probe_x, dtype)

        def observe(sigmas):
            return effective_outputs_many(sigmas, x, spec).reshape(E, -1)
    else:
        def observe(sigmas):
            if fixed:
                return jax.vmap(lambda s: overlap_loss(s, fixed_batch, spec, loss_kind))(
                    sigmas)[:, None]
            return jax.vmap(lambda s, e: overlap_loss(s, batch_at(e), spec, loss_kind))(
                sigmas, ep)[:, None]

    def f(sigma0, n_active=E):
        return observe(trajectory(jnp.asarray(sigma0, dtype), jnp.asarray(n_active, jnp.int32)))

    # Tangents of the closed form batch well (`vmap` of jvp); through a stepped time loop
    # they are cheaper one after the other (`lax.map`): measured 53 against 146 ms and 511
    # against 228 ms for the 10 tangents of Figure 1 (20 observed epochs over 475).
    f.vmap_tangents = closed
    f.jit = jax.jit(f)  # the model's own compiled form, shared by its users
    return f
