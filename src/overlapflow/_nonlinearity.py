"""Single-neuron nonlinearities φ and their Gaussian gains g(Δ) = ⟨φ'(√Δ ξ)⟩, ξ ~ N(0, 1).

The gain is what the mean-field (Gaussian closure) dynamics of THEORY §3 multiplies the
recurrent drive and the readout by: for jointly Gaussian loadings, (1/N) aᵀφ(h) → g(Δ) · (1/N) aᵀh.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
from jax.scipy.special import erf

from ._errors import ConfigError

__all__ = ["Nonlinearity", "get_nonlinearity", "NONLINEARITIES"]


@dataclass(frozen=True)
class Nonlinearity:
    """A named scalar nonlinearity with its Gaussian gain.

    Attributes:
        name: short name used in configs and results ("linear", "erf", ...).
        phi: elementwise function φ, JAX-differentiable.
        gain: g(Δ) = ⟨φ'(√Δ ξ)⟩ for Δ ≥ 0, elementwise over an array of variances.
        is_linear: True for φ = identity (then g ≡ 1 and the overlap reduction is exact).
    """

    name: str
    phi: Callable
    gain: Callable
    is_linear: bool = False


def _identity(x):
    return x


def _unit_gain(delta):
    return jnp.ones_like(delta)


_SQRT_PI_2 = math.sqrt(math.pi) / 2.0


def _erf_phi(x):
    # erf(√π x / 2): slope 1 at the origin, as in the paper.
    return erf(_SQRT_PI_2 * x)


def _erf_gain(delta):
    # φ'(x) = exp(−π x²/4) ⇒ ⟨φ'(√Δ ξ)⟩ = 1/√(1 + πΔ/2)  (THEORY §3).
    return 1.0 / jnp.sqrt(1.0 + 0.5 * math.pi * delta)


NONLINEARITIES: dict[str, Nonlinearity] = {
    "linear": Nonlinearity("linear", _identity, _unit_gain, is_linear=True),
    "erf": Nonlinearity("erf", _erf_phi, _erf_gain),
}


def get_nonlinearity(phi: str | Nonlinearity) -> Nonlinearity:
    """Return the `Nonlinearity` for a name (or pass one through).

    Raises:
        ConfigError: unknown name; the message lists the known ones.
    """
    if isinstance(phi, Nonlinearity):
        return phi
    if isinstance(phi, str) and phi in NONLINEARITIES:
        return NONLINEARITIES[phi]
    raise ConfigError(
        f"unknown nonlinearity {phi!r}; valid: {', '.join(sorted(NONLINEARITIES))}"
    )
