"""The figures of Figure 1: drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

from ._drawing import runs_figure


def draw_fig1(outcome, folder) -> list[str]:
    """fig1.png: loss, 4 visible and 6 invisible overlaps; θ vs exact / flow / direct."""
    p = outcome.params
    return runs_figure(outcome, folder, "fig1.png",
                       f"Rank-1 linear network learns exp(−{p['decay']}t): θ-space "
                       f"(N={p['N']}) vs overlap space; GD η={p['eta']}, {p['epochs']} epochs")
