"""The figures of the rank-2 experiment: drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

from ._drawing import (
    runs_panels,
    save_figure,
)


def draw_rank2(outcome, folder) -> list[str]:
    """rank2.png: loss and the 21 overlaps (visible / invisible) for rank 2."""
    a, p = outcome.arrays, outcome.params
    modes = ["theta"] + list(p["modes"])
    fig = runs_panels(a, modes, f"Rank-2 linear network learns exp(−{p['decay']}t)·cos({p['omega']}t):"
                       f" θ-space (N={p['N']}) vs the 21-dimensional overlap dynamics")
    return [save_figure(fig, folder, "rank2.png")]
