"""The exact N → ∞ limit of learning: a mean-field particle system on quadrature nodes (docs/theory.md §8).

At large N neuron i is its loading row X_i = (m_i, u_i, v_i, z_i), drawn at the start from
N(0, Σ₀), and its gradient depends only on X_i and population averages, so X_i(t) = F_t(X_i(0)).
Replacing the average (1/N) Σ_i over random neurons by a quadrature Σ_k w_k over X(0) gives the
infinite network with quadrature error instead of 1/√N noise:

    h_{t+1} = h_t + dt ( −h_t + U (Σ_k w_k v_k φ(h_{k,t})) + M x_t ),  y_t = Σ_k w_k z_k φ(h_{k,t+1})
    X_k ← X_k − η (∂L/∂X_k) / w_k                                       (node-wise GD)
    Σ   = Σ_k w_k X_kᵀ X_k

The same engine with N random rows and w_k = 1/N *is* θ-space GD with step N·η
(`sample_nodes`, `theta_nodes`); the scaling study uses it because its gradient is a latent
adjoint (`particle_value_and_grad`): memory O(T·B·(n_in+R)) plus one block instead of the
O(T·B·K) residuals of autodiff through the time loop, and about half the CPU time.

Cost: φ is evaluated twice per (node, step, sample) and epoch (forward scan, then the reverse
block pass) and φ' once, so one epoch costs ~2·K·B·T evaluations; for odd φ (erf, tanh,
linear) only half of a mirror-symmetric rule is simulated (`mirror_half`), and the final
record of a run needs the forward scan only. docs/performance.md#limit has the time of the
docs/theory.md §8 set-up (K = 9⁴, B = 8, T = 4000) and how an epoch splits between the two
passes.

Choice of the quadrature (`limit_nodes`). Write X(0) = [ξ_d F_d | ξ_d F_d B + ξ_r F_r] with
ξ ~ N(0, I): the first d = n_in + R standard coordinates ξ_d generate the *drive* loadings
(M, U) — the only ones φ ever sees, h_i = m_i κ^in + u_i κ^rec — and the other r = R + n_out
coordinates ξ_r the remaining part of (V, Z) given (M, U). V and Z enter every gradient
linearly, the nonlinearity acts through ξ_d only. So the rule is a tensor Gauss–Hermite rule
with `nodes` points along each drive direction and `nodes_rest` along each other direction:
for P ≤ 4 both default to 9 (a plain tensor rule, 9⁴ = 6561 nodes for rank 1); for larger P
the rest directions default to 3 points (exact for polynomials of degree 5 in ξ_r), so rank 2
with one input and output costs 9³·3³ = 19683 nodes instead of 9⁶ = 531441. Sparse (Smolyak)
grids were not chosen: their negative weights turn node-wise descent into ascent for some
nodes. Each run reports its own quadrature error against a coarser rule (`learn_limit`).
"""

from .adjoint import particle_loss, particle_outputs, particle_value_and_grad
from .learners import GaussianityTrack, LimitState, learn_limit, learn_particles
from .quadrature import (
    MAX_NODES,
    QuadratureNodes,
    interpolate_nodes,
    limit_nodes,
    qq_bases,
    sample_nodes,
    theta_nodes,
)
from .theta_adjoint import train_theta_adjoint

__all__ = [
    "MAX_NODES",
    "QuadratureNodes",
    "LimitState",
    "GaussianityTrack",
    "limit_nodes",
    "sample_nodes",
    "theta_nodes",
    "particle_outputs",
    "particle_loss",
    "particle_value_and_grad",
    "interpolate_nodes",
    "qq_bases",
    "learn_particles",
    "learn_limit",
    "train_theta_adjoint",
]
