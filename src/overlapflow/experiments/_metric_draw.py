"""The figures of the metric experiment: drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from ..internal import new_figure, style
from ._drawing import (
    save_figure,
)


def draw_metric(outcome, folder) -> list[str]:
    """metric.png: G(Σ_end) for linear and erf rank 1, structural zeros and visible columns marked."""
    a, info = outcome.arrays, outcome.info
    names = [f"σ_{n}" for n in a["names"]]
    zeros = a["zeros"].astype(bool)
    fig = new_figure(figsize=(14, 6.4), layout="constrained")
    axes = fig.subplots(1, 2)
    c_vis = style("visible")["color"]
    for ax, label in zip(axes, ("linear", "erf")):
        G = a[f"G_{label}_end"]
        vis = a[f"visible_{label}"].astype(bool)
        shown = np.where(zeros, np.nan, G)
        lim = np.nanmax(np.abs(shown))
        im = ax.imshow(shown, cmap="RdBu_r", vmin=-lim, vmax=lim)
        for i, j in zip(*np.nonzero(zeros)):
            ax.text(j, i, "0", ha="center", va="center", fontsize=7, color="0.5")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        for k, t in enumerate(ax.get_xticklabels()):
            t.set_color(c_vis if vis[k] else "0.4")
            t.set_fontweight("bold" if vis[k] else "normal")
        for k in np.flatnonzero(vis):
            ax.add_patch(Rectangle((k - 0.5, -0.5), 1, len(names), fill=False, ec=c_vis, lw=1))
        ax.set_xlabel("gradient component ∂L/∂σ (green, boxed: loss-visible)")
        ax.set_ylabel("velocity component dσ/dt")
        ax.set_title(f"rank-1 {label}: G(Σ) after learning\n{info[f'{label}_structural_zeros']} of "
                     f"{G.size} entries structurally zero ('0'); {info[f'{label}_n_visible']} "
                     "visible columns", fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.7,
                     label="G entry: weight of ∂L/∂σ (column)\nin dσ/dt (row)")
    fig.suptitle("Overlap-space metric: dσ/dt = −η G(Σ) ∇_σL")
    return [save_figure(fig, folder, "metric.png")]
