"""The figures of the rank-2 experiment: drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

from ._drawing import (
    _runs_panels,
    _save,
)


def draw_rank2(outcome, folder) -> list[str]:
    """rank2.png: loss and the 21 overlaps (visible / invisible) for rank 2."""
    a, p = outcome.arrays, outcome.params
    modes = ["theta"] + list(p["modes"])
    fig = _runs_panels(a, modes, f"Rank-2 linear network learns exp(−{p['decay']}t)·cos({p['omega']}t):"
                       f" θ-space (N={p['N']}) vs the 21-dimensional overlap dynamics")
    return [_save(fig, folder, "rank2.png")]
