"""The figures of the rank-2 experiment: drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

from ._drawing import runs_figure


def draw_rank2(outcome, folder) -> list[str]:
    """rank2.png: loss and the 21 overlaps (visible / invisible) for rank 2."""
    p = outcome.params
    return runs_figure(outcome, folder, "rank2.png",
                       f"Rank-2 linear network learns exp(−{p['decay']}t)·cos({p['omega']}t):"
                       f" θ-space (N={p['N']}) vs the 21-dimensional overlap dynamics")
