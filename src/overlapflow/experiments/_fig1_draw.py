"""The figures of Figure 1: drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

from ._drawing import (
    runs_panels,
    save_figure,
)


def draw_fig1(outcome, folder) -> list[str]:
    """fig1.png: loss, 4 visible and 6 invisible overlaps; θ vs exact / flow / direct."""
    a, p = outcome.arrays, outcome.params
    modes = ["theta"] + list(p["modes"])
    fig = runs_panels(a, modes, f"Rank-1 linear network learns exp(−{p['decay']}t): θ-space "
                       f"(N={p['N']}) vs overlap space; GD η={p['eta']}, {p['epochs']} epochs")
    return [save_figure(fig, folder, "fig1.png")]
