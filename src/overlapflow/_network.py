"""The low-rank RNN in θ-space (THEORY §1): specification, vectors and the time-stepped network.

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

from ._errors import ConfigError
from ._nonlinearity import Nonlinearity, get_nonlinearity

__all__ = [
    "NetworkSpec",
    "split_vectors",
    "stack_vectors",
    "random_vectors",
    "network_outputs",
]


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


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

    Vectors are stacked X = [M | U | V | Z], P = n_in + 2R + n_out columns (THEORY §2).
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
            if not _is_int(value) or value < 1:
                raise ConfigError(f"network.{name} must be an integer ≥ 1, got {value!r}")
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
    key = jax.random.PRNGKey(seed)
    X = jax.random.normal(key, (spec.N, spec.P), dtype=dtype)
    return X * jnp.sqrt(spec.N / jnp.sum(X**2, axis=0, keepdims=True))


def network_outputs(X, x, spec: NetworkSpec):
    """Outputs of the full network for a batch of inputs.

    Args:
        X: (N, P) stacked vectors [M | U | V | Z].
        x: (B, T, n_in) inputs.
        spec: the architecture (dt and φ are read from it).

    Returns:
        y: (B, T, n_out), y[:, t] = (1/N) Zᵀ φ(h_{t+1}) (readout after update t, THEORY §1).
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
