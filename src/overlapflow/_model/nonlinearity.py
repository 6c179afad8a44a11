"""Single-neuron nonlinearities φ and their Gaussian gains g(Δ) = ⟨φ'(√Δ ξ)⟩, ξ ~ N(0, 1).

The gain is what the mean-field (Gaussian closure) dynamics of docs/theory.md §3 multiplies the
recurrent drive and the readout by: for jointly Gaussian loadings, (1/N) aᵀφ(h) → g(Δ) · (1/N) aᵀh.

Closed forms are used where they exist: linear (g ≡ 1), erf (g = 1/√(1 + πΔ/2)), relu and
softplus (g ≡ ½: φ' is ½ plus an odd function). Every other φ, tanh included, gets its gain
by quadrature over ξ (`GaussianRule`), differentiated exactly through the heat equation
dg/dΔ = ½ ⟨φ'''(√Δ ξ)⟩ (so the derivative is finite at Δ = 0, where √Δ is not).

Why the default rule is not Gauss–Hermite: at large Δ the integrand φ'(√Δ ξ) is a narrow bump
(tanh: sech²(10 ξ) at Δ = 100) whose complex poles sit at distance π/(2√Δ) from the real axis.
Gauss–Hermite converges like exp(−c·√order·π/(2√Δ)): measured for tanh at Δ = 100 its error
is 4e-2 with 100 nodes and 1.6e-2 with 200, and numpy's node construction overflows beyond
~360. A trapezoid rule converges like exp(−2π·(pole distance)/h) for such integrands: uniform
on ξ ∈ [−9, 9] it reaches 6e-14 at Δ = 100 with 601 points (h = 0.03). The default, "sinh",
puts the trapezoid rule on s with ξ = ¼ sinh(s), |ξ| ≤ 9: nodes dense near ξ = 0 where the
bump is and sparse in the Gaussian tails; measured against adaptive quadrature for tanh its
error is ≤ 4e-15 for Δ ∈ [0, 100] with 81 points; the default uses 101.
Gauss–Hermite stays available (`GaussianRule("hermite", order)`), exact for polynomial φ'
and fine for Δ ≲ 4 (error 1e-8 at Δ = 4 with order 200).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .._support.errors import ConfigError

__all__ = [
    "Nonlinearity",
    "GaussianRule",
    "get_nonlinearity",
    "gaussian_mean",
    "NONLINEARITIES",
]

_RULE_KINDS = ("sinh", "trapezoid", "hermite")
_TRAPEZOID_HALF_WIDTH = 9.0  # ξ ∈ [−9, 9]: Gaussian mass outside 2e-19
_SINH_SCALE = 0.25  # ξ = ¼ sinh(s)
_HERMITE_MAX_ORDER = 300  # numpy's Gauss–Hermite nodes overflow a little above this


@dataclass(frozen=True)
class GaussianRule:
    """A one-dimensional quadrature rule for ⟨f(ξ)⟩, ξ ~ N(0, 1).

    Attributes:
        kind: "sinh" (the default: trapezoid rule in s, ξ = ¼ sinh(s), |ξ| ≤ 9; accurate to
            4e-15 for tanh up to Δ = 100 with 81 points), "trapezoid" (uniform nodes on
            [−9, 9]; 601 points for 1e-10 at Δ = 100) or "hermite" (Gauss–Hermite,
            probabilists' form, exact for polynomials of degree ≤ 2·order − 1).
        order: number of nodes (odd for the trapezoid rules so that ξ = 0 is a node).
    """

    kind: str = "sinh"
    order: int = 101

    def __post_init__(self):
        if self.kind not in _RULE_KINDS:
            raise ConfigError(
                f"unknown quadrature rule {self.kind!r}; valid: {', '.join(_RULE_KINDS)}"
            )
        if not isinstance(self.order, int) or isinstance(self.order, bool) or self.order < 2:
            raise ConfigError(f"quadrature order must be an integer ≥ 2, got {self.order!r}")
        if self.kind == "hermite" and self.order > _HERMITE_MAX_ORDER:
            raise ConfigError(
                f"Gauss–Hermite order must be ≤ {_HERMITE_MAX_ORDER}, got {self.order}; "
                "use the trapezoid rule for more nodes"
            )

    def nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Nodes ξ_k (order,) and weights w_k (order,), Σ w_k = 1, as float64 numpy arrays."""
        return _rule_nodes(self.kind, self.order)


@functools.lru_cache(maxsize=32)
def _rule_nodes(kind: str, order: int) -> tuple[np.ndarray, np.ndarray]:
    if kind == "hermite":
        xi, w = np.polynomial.hermite_e.hermegauss(order)
    elif kind == "sinh":
        s_max = math.asinh(_TRAPEZOID_HALF_WIDTH / _SINH_SCALE)
        s = np.linspace(-s_max, s_max, order)
        xi = _SINH_SCALE * np.sinh(s)
        w = np.cosh(s) * np.exp(-0.5 * xi**2)
    else:
        xi = np.linspace(-_TRAPEZOID_HALF_WIDTH, _TRAPEZOID_HALF_WIDTH, order)
        w = np.exp(-0.5 * xi**2)
    w = w / np.sum(w)
    xi.setflags(write=False)
    w.setflags(write=False)
    return xi, w


@dataclass(frozen=True)
class _Derivative:
    """Elementwise derivative f' of an elementwise scalar function f (hashable)."""

    f: Callable

    def __call__(self, x):
        return jnp.vectorize(jax.grad(self.f))(x)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _gaussian_mean(f, rule, delta):
    xi, w = rule.nodes()
    s = jnp.sqrt(jnp.maximum(delta, 0.0))
    values = f(s[..., None] * jnp.asarray(xi, s.dtype))
    return values @ jnp.asarray(w, s.dtype)


@_gaussian_mean.defjvp
def _gaussian_mean_jvp(f, rule, primals, tangents):
    # Heat equation: d/dΔ ⟨f(√Δ ξ)⟩ = ½ ⟨f''(√Δ ξ)⟩ (integration by parts twice).
    (delta,), (d_delta,) = primals, tangents
    f2 = _Derivative(_Derivative(f))
    return _gaussian_mean(f, rule, delta), 0.5 * _gaussian_mean(f2, rule, delta) * d_delta


def gaussian_mean(f: Callable, delta, rule: GaussianRule = GaussianRule()):
    """Return ⟨f(√Δ ξ)⟩, ξ ~ N(0, 1), elementwise over `delta` (any shape), by quadrature.

    Args:
        f: elementwise, JAX-differentiable scalar function (hashable: a module-level function
            or a fixed callable object).
        delta: (...) variances Δ ≥ 0 (negative values are treated as 0).
        rule: the `GaussianRule`.

    Differentiable in Δ to any order through dg/dΔ = ½⟨f''(√Δ ξ)⟩ (docs/theory.md §3).
    """
    delta = jnp.asarray(delta)
    if not jnp.issubdtype(delta.dtype, jnp.floating):
        delta = delta.astype(jnp.result_type(float))
    return _gaussian_mean(f, rule, delta)


@dataclass(frozen=True)
class _QuadratureGain:
    """g(Δ) = ⟨φ'(√Δ ξ)⟩ by quadrature (hashable, so specs holding it stay jit-static)."""

    phi: Callable
    rule: GaussianRule = GaussianRule()

    def __call__(self, delta):
        return gaussian_mean(_Derivative(self.phi), delta, self.rule)


@dataclass(frozen=True)
class Nonlinearity:
    """A named scalar nonlinearity with its Gaussian gain.

    Attributes:
        name: short name used in configs and results ("linear", "erf", "tanh", ...).
        phi: elementwise function φ, JAX-differentiable.
        gain: g(Δ) = ⟨φ'(√Δ ξ)⟩ for Δ ≥ 0, elementwise over an array of variances.
        is_linear: True for φ = identity (then g ≡ 1 and the overlap reduction is exact).
        closed_form: True when `gain` is an exact formula, False when it is a quadrature.
        odd: True when φ(−x) = −φ(x); the limit mode then simulates half of a symmetric
            quadrature rule (the node map is odd, docs/theory.md §8), an exact factor-2 saving.
        phi_numpy: the same φ on float64 NumPy arrays (`numpy`), or None.

    Frozen and hashable: a `NetworkSpec` holding it is a valid static jit argument.
    """

    name: str
    phi: Callable
    gain: Callable
    is_linear: bool = False
    closed_form: bool = field(default=True, compare=False)
    odd: bool = False
    phi_numpy: Callable | None = field(default=None, compare=False, repr=False)

    def numpy(self, x) -> np.ndarray:
        """φ(x) as a float64 NumPy array, elementwise over x (any shape), without JAX.

        The same φ as `phi` (docs/theory.md §1; "erf" is erf(√π x/2), by the same formula),
        for computations that must not depend on JAX's 64-bit mode (an imported network's
        checks). Raises a `ConfigError` for a φ given without a NumPy form.
        """
        if self.phi_numpy is None:
            raise ConfigError(f"nonlinearity {self.name!r} has no NumPy form: give "
                              "Nonlinearity.from_function(..., numpy=f)")
        return np.asarray(self.phi_numpy(np.asarray(x, np.float64)), np.float64)

    @classmethod
    def from_function(
        cls,
        phi: Callable,
        *,
        name: str,
        gain: Callable | None = None,
        rule: GaussianRule = GaussianRule(),
        odd: bool = False,
        numpy: Callable | None = None,
    ) -> Nonlinearity:
        """A nonlinearity from any JAX-differentiable elementwise scalar function φ.

        Args:
            phi: φ, applied elementwise to arrays; differentiable three times (the gain's
                derivative uses φ''').
            name: a label for results and figures.
            gain: an exact g(Δ) if known; else it is computed by quadrature with `rule`.
            rule: quadrature for ⟨φ'(√Δ ξ)⟩ (default: 101-point sinh-trapezoid, 4e-15 to
                Δ = 100 for tanh).
            odd: declare φ odd (φ(−x) = −φ(x)); checked on a grid of 2001 points in
                [−20, 20] (to 1e-12 relative), a ConfigError if it fails.
            numpy: the same φ on float64 NumPy arrays (for `Nonlinearity.numpy`), optional.

        Example: `Nonlinearity.from_function(jnp.sin, name="sin")`.
        """
        if not callable(phi):
            raise ConfigError(f"phi must be a callable, got {type(phi).__name__}")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a nonlinearity needs a non-empty name, got {name!r}")
        if not isinstance(rule, GaussianRule):
            raise ConfigError(f"rule must be a GaussianRule, got {type(rule).__name__}")
        if not isinstance(odd, bool):
            raise ConfigError(f"odd must be True or False, got {odd!r}")
        if numpy is not None and not callable(numpy):
            raise ConfigError(f"numpy must be a callable or None, got {type(numpy).__name__}")
        if odd:
            grid = jnp.linspace(-20.0, 20.0, 2001)
            with jax.ensure_compile_time_eval():
                plus, minus = np.asarray(phi(grid)), np.asarray(phi(-grid))
            scale = max(1.0, float(np.max(np.abs(plus))))
            if not np.all(np.abs(plus + minus) <= 1e-12 * scale):
                raise ConfigError(f"phi {name!r} was declared odd but φ(−x) ≠ −φ(x) on [−20, 20]")
        if gain is not None:
            return cls(name, phi, gain, is_linear=False, closed_form=True, odd=odd,
                       phi_numpy=numpy)
        return cls(name, phi, _QuadratureGain(phi, rule), is_linear=False, closed_form=False,
                   odd=odd, phi_numpy=numpy)


def _identity(x):
    return x


def _unit_gain(delta):
    return jnp.ones_like(delta)


def _half_gain(delta):
    return jnp.full_like(delta, 0.5)


_SQRT_PI_2 = math.sqrt(math.pi) / 2.0


# erfcx(y) = e^{y²} erfc(y) on y ∈ [0, ∞) as a degree-16 polynomial in s = (2 − y)/(2 + y)
# ∈ (−1, 1], fitted by least squares with weight e^{−y²} on 6000 Chebyshev points of y ∈ [0, 6.5]
# (beyond, e^{−y²} < 5e-19: only the product e^{−y²}·erfcx = erfc has to be accurate, so the
# far tail needs no terms). Then erf(y) = sign(y) (1 − e^{−y²} erfcx(|y|)): absolute error
# ≤ 6e-16 for all y against scipy (tests/test_nonlinearity.py). The point of it: e^{−y²} is also
# φ'(x), so φ and φ' cost one exp, one division and 17 multiply-adds, all vectorisable; the
# polynomial runs as two interleaved Horner chains in s² (half the dependency depth). Measured
# against the unweighted degree-24 fit it replaces: 1.2–1.4× per element, 1.1× per limit epoch.
_ERFCX_POLY = (
    0.2553956763105063,
    0.4271858474139547,
    0.24165819424186313,
    0.07897858102630093,
    0.0037328923585262263,
    -0.006997462040171195,
    -0.000847139336830468,
    0.000981962340862836,
    4.355563650883458e-05,
    -0.00017414777333856548,
    2.6558924130913062e-05,
    2.9967245135290708e-05,
    -1.7758041078973114e-05,
    2.5698557110824363e-06,
    1.2484489082492542e-06,
    -6.403105737102327e-07,
    9.369958408913664e-08,
)


def _horner(coefficients, x, xp=jnp):
    """Σ_j c_j x^j by Horner's rule (coefficients in increasing order; xp: jnp or np)."""
    acc = xp.full_like(x, coefficients[-1])
    for c in coefficients[-2::-1]:
        acc = acc * x + c
    return acc


def _erfcx_poly(s, xp=jnp):
    # Σ_j c_j s^j = E(s²) + s·O(s²): two independent Horner chains.
    s2 = s * s
    return _horner(_ERFCX_POLY[0::2], s2, xp) + s * _horner(_ERFCX_POLY[1::2], s2, xp)


def _erf_value_and_slope(x, xp=jnp):
    """(φ(x), φ'(x)) of "erf" with the array module xp (jnp, or np for `Nonlinearity.numpy`)."""
    y = _SQRT_PI_2 * x
    z = xp.abs(y)
    e = xp.exp(-z * z)  # = φ'(x) = exp(−π x²/4)
    # (2 − z)·(1/(2 + z)) rather than (2 − z)/(2 + z): the division's result is then used once,
    # so XLA fuses it into the polynomial's kernel (run in parallel) instead of running it as
    # a kernel of its own on one thread (docs/performance.md#limit).
    g = _erfcx_poly((2.0 - z) * (1.0 / (2.0 + z)), xp)
    return xp.sign(y) * (1.0 - e * g), e


def _erf_numpy(x):
    return _erf_value_and_slope(x, np)[0]


@jax.custom_jvp
def _erf_phi(x):
    """erf(√π x / 2): slope 1 at the origin, as in the paper; φ'(x) = exp(−π x²/4)."""
    return _erf_value_and_slope(x)[0]


@_erf_phi.defjvp
def _erf_phi_jvp(primals, tangents):
    (x,), (tx,) = primals, tangents
    value, slope = _erf_value_and_slope(x)
    return value, slope * tx


def _erf_gain(delta):
    # φ'(x) = exp(−π x²/4) ⇒ ⟨φ'(√Δ ξ)⟩ = 1/√(1 + πΔ/2)  (docs/theory.md §3).
    return 1.0 / jnp.sqrt(1.0 + 0.5 * math.pi * delta)


def _relu(x):
    return jnp.maximum(x, 0.0)


def _relu_numpy(x):
    return np.maximum(x, 0.0)


def _softplus(x):
    return jax.nn.softplus(x)


def _softplus_numpy(x):
    return np.logaddexp(0.0, x)


#: The one list of named nonlinearities, each with its JAX φ, gain and float64 NumPy φ.
NONLINEARITIES: dict[str, Nonlinearity] = {
    "linear": Nonlinearity("linear", _identity, _unit_gain, is_linear=True, odd=True,
                           phi_numpy=_identity),
    "erf": Nonlinearity("erf", _erf_phi, _erf_gain, odd=True, phi_numpy=_erf_numpy),
    "tanh": Nonlinearity.from_function(jnp.tanh, name="tanh", odd=True, numpy=np.tanh),
    # φ' = step: ⟨φ'⟩ = ½ for every Δ > 0 (Δ = 0 only occurs with zero drive).
    "relu": Nonlinearity("relu", _relu, _half_gain, phi_numpy=_relu_numpy),
    # φ' = sigmoid = ½ + odd function ⇒ ⟨φ'(√Δ ξ)⟩ = ½ exactly, for every Δ.
    "softplus": Nonlinearity("softplus", _softplus, _half_gain, phi_numpy=_softplus_numpy),
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
