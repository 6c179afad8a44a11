"""Small dense linear algebra shared by the layers.

- `rref` (NumPy, float64): the analysis layers' row reduction.
- Lane algebra (JAX): small matrices (k, l, *lanes) whose trailing axes are independent runs
  ("lanes"). With the batch axes last, every elementwise operation of a product runs over the
  runs in SIMD lanes, which on a CPU is much faster than `vmap`'s leading batch for matrices
  of side ≲ 8. The closed-form losses and every overlap update map are written in it, so one
  formula serves a single run (no lane axes) and many runs at once.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["rref", "lane_matmul", "matrix_product", "lane_transpose", "lane_lift", "lane_eye",
           "lane_diag", "lane_trace", "lane_diagonal", "n_lanes"]


def rref(A: np.ndarray, tol: float) -> tuple[np.ndarray, int]:
    """Reduced row echelon form of A (k, D) by partial pivoting, and its rank.

    Columns whose pivot candidates are all ≤ `tol` in magnitude are skipped. Returns the (k, D)
    reduced array (rows past the rank are what elimination left of the dependent rows) and the
    number of pivots.
    """
    A = np.array(A, dtype=np.float64)
    k, D = A.shape
    row = 0
    for col in range(D):
        if row == k:
            break
        piv = row + int(np.argmax(np.abs(A[row:, col])))
        if abs(A[piv, col]) <= tol:
            continue
        A[[row, piv]] = A[[piv, row]]
        A[row] /= A[row, col]
        for r in range(k):
            if r != row:
                A[r] -= A[r, col] * A[row]
        row += 1
    return A, row


# ---------------------------------------------------------------------------------------
# lane algebra: (k, l, *lanes) arrays, runs on the trailing axes


def n_lanes(a) -> int:
    """Number of trailing lane axes of a stack of matrices (k, l, *lanes)."""
    return a.ndim - 2


def lane_matmul(a, b):
    """(k, l, *lanes) @ (l, m, *lanes) as one broadcast product summed over l (fusible)."""
    return jnp.sum(a[:, :, None] * b[None], axis=1)


def matrix_product(a, b):
    """a @ b for two plain matrices, `lane_matmul` when either has lane axes.

    The update maps use it: a single run keeps XLA's dot (the rounding its results always had),
    lanes vectorise over the runs.
    """
    if a.ndim == 2 and b.ndim == 2:
        return a @ b
    return lane_matmul(a, b)


def lane_transpose(a):
    """(k, l, *lanes) → (l, k, *lanes)."""
    return jnp.swapaxes(a, 0, 1)


def lane_lift(x, lanes: int):
    """(k, …) → (k, …, 1, …, 1) with `lanes` axes of length 1 appended (broadcasts against
    trailing lane axes)."""
    return jnp.reshape(x, jnp.shape(x) + (1,) * lanes)


def lane_eye(P: int, dtype, lanes: int):
    """The identity (P, P, 1, …) broadcastable against (P, P, *lanes)."""
    return lane_lift(jnp.eye(P, dtype=dtype), lanes)


def lane_diag(d, lanes: int):
    """Diagonal matrices (P, P, *lanes) (or broadcastable) of the vectors d (P,) or (P, *lanes)."""
    d = jnp.asarray(d)
    if d.ndim == 1:
        d = lane_lift(d, lanes)
    return lane_eye(d.shape[0], d.dtype, lanes) * d[None]


def lane_trace(a):
    """tr of (k, k, *lanes) → (*lanes,)."""
    return jnp.trace(a, axis1=0, axis2=1)


def lane_diagonal(a):
    """The diagonal of (k, k, *lanes) → (k, *lanes)."""
    return jnp.moveaxis(jnp.diagonal(a, axis1=0, axis2=1), -1, 0)
