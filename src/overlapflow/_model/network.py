"""The low-rank RNN in θ-space (docs/theory.md §1): specification, vectors and the time-stepped network.

    h_{t+1} = h_t + dt · ( −h_t + (1/N) U Vᵀ φ(h_t) + M x_t ),   h_0 = 0
    y_t     = (1/N) Zᵀ φ(h_{t+1})

The N×N matrix U Vᵀ/N is never formed: each step costs O(N·P).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .._support.errors import ConfigError
from .._support.precision import check_float64
from .._support.validate import count, integer
from .nonlinearity import Nonlinearity, get_nonlinearity

__all__ = [
    "NetworkSpec",
    "split_vectors",
    "stack_vectors",
    "random_vectors",
    "network_outputs",
]


@dataclass(frozen=True)
class NetworkSpec:
    """Architecture of a low-rank RNN; validated at construction.

    Attributes:
        N: number of neurons (only θ-space uses it; overlap space is N-independent).
        rank: R ≥ 1, rank of the connectivity U Vᵀ / N.
        n_in: number of input vectors (columns of M), ≥ 1.
        n_out: number of readout vectors (columns of Z), ≥ 1.
        phi: nonlinearity name ("linear", "erf", ...) or a `Nonlinearity`.
        dt: Euler time step in units of τ = 1, 0 < dt ≤ 1.

    Vectors are stacked X = [M | U | V | Z], P = n_in + 2R + n_out columns (docs/theory.md §2).
    """

    N: int = 500
    rank: int = 1
    n_in: int = 1
    n_out: int = 1
    phi: str | Nonlinearity = "linear"
    dt: float = 0.05

    def __post_init__(self):
        for name in ("N", "rank", "n_in", "n_out"):
            value = getattr(self, name)
            count(f"network.{name}", value)
        get_nonlinearity(self.phi)
        if not isinstance(self.dt, (int, float)) or isinstance(self.dt, bool):
            raise ConfigError(f"network.dt must be a number, got {self.dt!r}")
        if not (math.isfinite(self.dt) and 0.0 < self.dt <= 1.0):
            raise ConfigError(f"network.dt must be in (0, 1], got {self.dt!r}")

    # -- derived sizes and index sets -------------------------------------------------------
    @property
    def P(self) -> int:
        """Number of stacked vectors, n_in + 2R + n_out."""
        return self.n_in + 2 * self.rank + self.n_out

    @property
    def latent_dim(self) -> int:
        """Dimension of the latent state κ = (κ^in, κ^rec): n_in + R."""
        return self.n_in + self.rank

    @property
    def nonlinearity(self) -> Nonlinearity:
        return get_nonlinearity(self.phi)

    @property
    def phi_name(self) -> str:
        return self.nonlinearity.name

    @property
    def is_linear(self) -> bool:
        return self.nonlinearity.is_linear

    @property
    def m(self) -> slice:
        return slice(0, self.n_in)

    @property
    def u(self) -> slice:
        return slice(self.n_in, self.n_in + self.rank)

    @property
    def v(self) -> slice:
        return slice(self.n_in + self.rank, self.n_in + 2 * self.rank)

    @property
    def z(self) -> slice:
        return slice(self.n_in + 2 * self.rank, self.P)

    @property
    def vector_names(self) -> tuple[str, ...]:
        """Column names of X: m / m1…, u / u1…, v / v1…, z / z1… (index suffix only when >1)."""

        def group(letter, count):
            return [letter] if count == 1 else [f"{letter}{i + 1}" for i in range(count)]

        return tuple(
            group("m", self.n_in)
            + group("u", self.rank)
            + group("v", self.rank)
            + group("z", self.n_out)
        )

    def with_N(self, N: int) -> NetworkSpec:
        """The same architecture at another N."""
        return NetworkSpec(N, self.rank, self.n_in, self.n_out, self.phi, self.dt)


def split_vectors(X, spec: NetworkSpec):
    """Split X (N, P) into (M, U, V, Z) of shapes (N, n_in), (N, R), (N, R), (N, n_out)."""
    return X[:, spec.m], X[:, spec.u], X[:, spec.v], X[:, spec.z]


def stack_vectors(M, U, V, Z):
    """Stack vectors into X = [M | U | V | Z], shape (N, P)."""
    return jnp.concatenate([M, U, V, Z], axis=1)


def random_vectors(spec: NetworkSpec, *, seed: int, dtype=jnp.float64):
    """Independent Gaussian vectors, each rescaled to squared norm N (self-overlaps 1).

    Returns:
        X: (N, P) array, columns [M | U | V | Z].
    """
    check_float64(dtype, "random_vectors")
    key = jax.random.PRNGKey(seed)
    X = jax.random.normal(key, (spec.N, spec.P), dtype=dtype)
    return X * jnp.sqrt(spec.N / jnp.sum(X**2, axis=0, keepdims=True))


def balanced_vectors(spec: NetworkSpec, *, seed: int, tol: float = 1e-3,
                     max_draws: int = 1_000_000, dtype=jnp.float64):
    """The paper's "balanced" start of its Figures 4 and 8 (docs/theory.md §7): random vectors redrawn
    until σ_zu ≈ σ_vm and σ_mu ≈ σ_zv.

    Each draw is `random_vectors`' distribution (i.i.d. N(0, 1) loadings, every vector rescaled
    to squared norm N); draws are made in order from `numpy.random.default_rng(seed)` and the
    first one with |σ_zu − σ_vm| < tol, |σ_mu − σ_zv| < tol and both pairs of the same sign is
    returned. This is plain rejection sampling, so the result has exactly the distribution of a
    random start conditioned on the two constraints. The overlaps of i.i.d. vectors have sd
    ≈ 1/√N, so about π / (N·tol²) draws are needed (N = 600, tol = 1e-3: ≈ 5200; counted
    over seeds 0–99: mean 6200, median 4200, max 32 000; the time per call is on
    docs/performance.md#python); they are made in vectorised blocks.

    Defined for rank 1 with one input and one output (the paper's networks).

    Returns:
        (X, draws): X (N, P) with columns [m | u | v | z], and the number of draws made
        (1 + the number of redraws). Deterministic in `seed`.

    Raises:
        ConfigError: another architecture, a bad seed / tol / max_draws, or no draw accepted
            within `max_draws` (the message gives the expected number).
    """
    if not isinstance(spec, NetworkSpec):
        raise ConfigError(f"balanced_vectors: spec must be a NetworkSpec, got {type(spec).__name__}")
    if (spec.rank, spec.n_in, spec.n_out) != (1, 1, 1):
        raise ConfigError(
            "balanced start (σ_zu ≈ σ_vm, σ_mu ≈ σ_zv) is defined for rank 1 with one input and "
            f"one output; got rank={spec.rank}, n_in={spec.n_in}, n_out={spec.n_out}"
        )
    integer("balanced_vectors: seed", seed, minimum=0)
    if (not isinstance(tol, (int, float)) or isinstance(tol, bool) or not math.isfinite(tol)
            or not 0.0 < tol < 1.0):
        raise ConfigError(f"balanced_vectors: tol must be a number in (0, 1), got {tol!r}")
    count("balanced_vectors: max_draws", max_draws)
    N, P = spec.N, spec.P
    m, u, v, z = (s.start for s in (spec.m, spec.u, spec.v, spec.z))
    rng = np.random.default_rng(int(seed))
    block = max(1, min(4096, (1 << 21) // (N * P)))  # ~16 MB per block of draws
    done = 0
    while done < max_draws:
        k = min(block, max_draws - done)
        X = rng.standard_normal((k, N, P))  # the stream does not depend on the block size
        gram = np.matmul(np.swapaxes(X, 1, 2), X)  # (k, P, P)
        norms = np.sqrt(np.diagonal(gram, axis1=1, axis2=2))  # (k, P)
        cos = gram / (norms[:, :, None] * norms[:, None, :])  # σ of the rescaled vectors
        zu, vm, mu, zv = cos[:, z, u], cos[:, v, m], cos[:, m, u], cos[:, z, v]
        ok = ((np.abs(zu - vm) < tol) & (np.sign(zu) == np.sign(vm))
              & (np.abs(mu - zv) < tol) & (np.sign(mu) == np.sign(zv)))
        hits = np.flatnonzero(ok)
        if hits.size:
            j = int(hits[0])
            Xj = X[j] * (np.sqrt(N) / norms[j])
            return jnp.asarray(Xj, dtype=dtype), done + j + 1
        done += k
    raise ConfigError(
        f"balanced_vectors: no balanced start (|σ_zu − σ_vm|, |σ_mu − σ_zv| < {tol:g}) in "
        f"{max_draws} draws at N = {N} (about π/(N·tol²) = {math.pi / (N * tol**2):.3g} expected); "
        "raise max_draws or tol"
    )


def network_outputs(X, x, spec: NetworkSpec):
    """Outputs of the full network for a batch of inputs.

    Args:
        X: (N, P) stacked vectors [M | U | V | Z].
        x: (B, T, n_in) inputs.
        spec: the architecture (dt and φ are read from it).

    Returns:
        y: (B, T, n_out), y[:, t] = (1/N) Zᵀ φ(h_{t+1}) (readout after update t, docs/theory.md §1).
    """
    M, U, V, Z = split_vectors(X, spec)
    N = X.shape[0]
    phi = spec.nonlinearity.phi
    dt = spec.dt

    def step(h, x_t):
        # (1/N) U (Vᵀ φ(h)) costs O(N R) per sample, never N².
        drive = (phi(h) @ V) @ U.T / N + x_t @ M.T
        h = h + dt * (drive - h)
        return h, phi(h) @ Z / N

    h0 = jnp.zeros((x.shape[0], N), dtype=X.dtype)
    _, y = jax.lax.scan(step, h0, jnp.swapaxes(x, 0, 1).astype(X.dtype))
    return jnp.swapaxes(y, 0, 1)


def network_outputs_noisy(X, x, spec: NetworkSpec, *, key, state_noise_sd: float,
                          return_states: bool = False):
    """Outputs of the full network when independent noise perturbs the hidden state each step.

    The step of docs/theory.md §1 with additive Gaussian noise on h (the paper's "noise perturbation"):

        h_{t+1} = h_t + dt · ( −h_t + (1/N) U Vᵀ φ(h_t) + M x_t ) + sd · ξ_t,   h_0 = 0
        y_t     = (1/N) Zᵀ φ(h_{t+1})                                            (after update t)

    with ξ_t ~ N(0, I_N) independent per step and per batch element, sd = `state_noise_sd`
    per step (not scaled by √dt). The noise is added after the deterministic Euler update, so
    it enters the readout of the same step. ξ_t is `jax.random.normal(jax.random.fold_in(key,
    t), (B, N), X.dtype)`: two networks of the same N and batch size given the same `key` see
    the same noise draws. With sd = 0 the result equals `network_outputs` exactly. U Vᵀ/N is
    never formed: the recurrence is U (Vᵀ φ(h)) / N, O(N·P) per step.

    Args:
        X: (N, P) stacked vectors [M | U | V | Z].
        x: (B, T, n_in) inputs.
        spec: the architecture (dt and φ are read from it).
        key: a `jax.random` key for the noise.
        state_noise_sd: standard deviation of the noise added to each h_i at each step (≥ 0).
        return_states: also return the hidden states.

    Returns:
        y: (B, T, n_out); with `return_states`, (y, h) with h (B, T, N) the states h_{t+1}
        (h[:, t] is the state that y[:, t] reads).

    Raises:
        ConfigError: `state_noise_sd` negative or not finite.
    """
    if isinstance(state_noise_sd, (int, float)) and not (
            math.isfinite(state_noise_sd) and state_noise_sd >= 0):
        raise ConfigError(f"state_noise_sd must be a finite number ≥ 0, got {state_noise_sd!r}")
    return _noisy_scan(jnp.asarray(X), jnp.asarray(x), key, state_noise_sd, spec=spec,
                       return_states=bool(return_states))


def _noisy_scan_impl(X, x, key, state_noise_sd, *, spec: NetworkSpec, return_states: bool):
    """`network_outputs_noisy` (jitted as `_noisy_scan`: the noise draws make tracing costly)."""
    M, U, V, Z = split_vectors(X, spec)
    N = X.shape[0]
    B = x.shape[0]
    phi = spec.nonlinearity.phi
    dt = spec.dt
    sd = jnp.asarray(state_noise_sd, dtype=X.dtype)

    def step(h, inp):
        t, x_t = inp
        drive = (phi(h) @ V) @ U.T / N + x_t @ M.T
        h = h + dt * (drive - h)
        xi = jax.random.normal(jax.random.fold_in(key, t), (B, N), dtype=X.dtype)
        h = h + sd * xi
        out = phi(h) @ Z / N
        return h, ((out, h) if return_states else out)

    h0 = jnp.zeros((B, N), dtype=X.dtype)
    xs = (jnp.arange(x.shape[1]), jnp.swapaxes(x, 0, 1).astype(X.dtype))
    _, res = jax.lax.scan(step, h0, xs)
    if return_states:
        y, h = res
        return jnp.swapaxes(y, 0, 1), jnp.swapaxes(h, 0, 1)
    return jnp.swapaxes(res, 0, 1)


_noisy_scan = jax.jit(_noisy_scan_impl, static_argnames=("spec", "return_states"))
