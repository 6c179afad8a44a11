"""The figures of the Adam experiment: drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

import numpy as np

from ..internal import draw_overlaps, legend_handle, new_figure, plots_style, style
from ._drawing import (
    RIGHT,
    loss_panel,
    overlap_family,
    phase_shading,
    save_figure,
)


def draw_adam(outcome, folder) -> list[str]:
    """adam.png: loss, visible overlaps of two same-Σ starts under Adam vs GD, the invariant."""
    a, p = outcome.arrays, outcome.params
    vis = a["visible"].astype(bool)
    x = a["epochs"]
    runs = ("adam", "adam_rot", "gd_theta", "exact")  # styles: the table (overlapflow._plots.style)
    labels = {"adam": "Adam, θ-space, start X₀", "adam_rot": "Adam, θ-space, rotated X₀ (same Σ)",
              "gd_theta": "GD, θ-space, rotated X₀",
              "exact": f"GD, {plots_style.mode_label('exact')}"}
    fig = new_figure(figsize=(18, 10), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    loss_panel(axes[0], x, a, runs, xlabel="epoch (tasks in sequence)", ylabel="loss (sum·dt)",
               title="Loss")
    phase_shading(axes[0], a["bounds"], a["decays"])
    drawn = ("adam", "adam_rot", "exact")
    for ax, sel, label in ((axes[2], vis, "visible"), (axes[3], ~vis, "invisible")):
        handles = draw_overlaps(ax, x, overlap_family(a, np.flatnonzero(sel), drawn), drawn,
                                short={r: r for r in drawn})
        ax.legend(handles=handles, fontsize=7, **RIGHT)
        ax.set_xlabel("epoch")
        ax.set_ylabel("overlap value")
        ax.set_title(f"Loss-{label} overlaps (colour = overlap, line style = run)")
        phase_shading(ax, a["bounds"], a["decays"])
    ax = axes[1]
    for r in runs:
        q = a[f"conserved_{r}"]
        ax.plot(x, q - q[0], **style(r))
    ax.set_xlabel("epoch")
    ax.set_ylabel("tr(ΣJ) − initial\n(σ_zz + σ_vv − σ_mm − σ_uu)")
    ax.set_title("Invariant of gradient flow: GD keeps it, Adam does not")
    fig.legend(handles=[legend_handle(r, labels[r]) for r in runs], loc="outside lower center",
               ncol=len(runs), fontsize=9,
               title="run: colour and line style in the loss and invariant panels; line style "
                     "in the overlap panels", title_fontsize=8)
    fig.suptitle(f"Adam (lr {p['adam_lr']}) vs GD (η {p['eta']}), rank-1 linear, N={p['N']}, "
                 "tasks exp(−c t) in sequence")
    return [save_figure(fig, folder, "adam.png")]
