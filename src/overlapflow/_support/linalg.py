"""Small dense linear algebra shared by the analysis layers (NumPy, float64)."""

from __future__ import annotations

import numpy as np

__all__ = ["rref"]


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
