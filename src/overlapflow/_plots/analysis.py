"""Figures of the analysis tools (docs/theory.md §4–§6). Drawing only: takes computed arrays, writes a PNG."""

from __future__ import annotations

import numpy as np

from .._support.io import save_figure_atomic
from .style import new_figure, style

__all__ = ["plot_metric"]


def plot_metric(G, structural_zero, names, visible, path, *, title: str = "") -> None:
    """Draw the metric G(Σ) and its structural sparsity, visible overlaps first.

    Args:
        G: (D, D) metric in `overlap_pairs` order.
        structural_zero: (D, D) boolean, True where G is zero for every Σ.
        names: (D,) overlap names ("zm", ...).
        visible: (D,) boolean, True for loss-visible overlaps.
        path: output PNG.
        title: figure title (the architecture, say).

    Left: the sparsity pattern (dark = entry depends on Σ, white = structural zero). Right:
    G(Σ) on a diverging scale with structural zeros hatched grey. Lines separate the
    visible | invisible blocks; tick labels are bold green for visible overlaps, grey for invisible.
    """
    from matplotlib.colors import TwoSlopeNorm  # matplotlib (the [plots] extra) on first use
    from matplotlib.patches import Rectangle

    G = np.asarray(G, dtype=float)
    zero = np.asarray(structural_zero, dtype=bool)
    visible = np.asarray(visible, dtype=bool)
    order = np.r_[np.flatnonzero(visible), np.flatnonzero(~visible)]
    n_vis = int(visible.sum())
    D = len(order)
    Gs, Zs = G[np.ix_(order, order)], zero[np.ix_(order, order)]
    labels = ["σ_" + names[k] for k in order]

    size = max(5.0, 0.38 * D + 2.0)
    fig = new_figure(figsize=(2 * size + 1.5, size), layout="constrained")
    axes = fig.subplots(1, 2)
    pattern = np.where(Zs, 0.0, 1.0)
    axes[0].imshow(pattern, cmap="Greys", vmin=0, vmax=1.6, interpolation="nearest")
    axes[0].set_title(
        f"structure of G: {int(Zs.sum())} of {D * D} entries structurally zero (white)"
    )
    vmax = max(float(np.max(np.abs(Gs))), 1e-300)
    im = axes[1].imshow(
        np.ma.masked_where(Zs, Gs), cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -vmax, vmax),
        interpolation="nearest",
    )
    for r, c in zip(*np.nonzero(Zs)):
        axes[1].add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor="0.85",
                                    edgecolor="0.6", hatch="//", linewidth=0.0))
    axes[1].set_title("G(Σ) (structural zeros hatched)")
    fig.colorbar(im, ax=axes[1], shrink=0.8,
                 label="G entry: weight of ∂L/∂σ (column)\nin dσ/dt (row)")
    for ax in axes:
        ax.set_xticks(range(D))
        ax.set_yticks(range(D))
        ax.set_xticklabels(labels, rotation=90, fontsize=8)
        ax.set_yticklabels(labels, fontsize=8)
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            for k, tick in enumerate(ticks):
                tick.set_color(style("visible")["color"] if k < n_vis else "0.5")
                tick.set_fontweight("bold" if k < n_vis else "normal")
        if 0 < n_vis < D:
            ax.axhline(n_vis - 0.5, color="k", linewidth=1.5)
            ax.axvline(n_vis - 0.5, color="k", linewidth=1.5)
        ax.set_xlabel(f"visible ({n_vis}, bold green) | invisible ({D - n_vis}, grey)   "
                      "— lines mark the blocks")
    if title:
        fig.suptitle(title)
    save_figure_atomic(fig, path, dpi=110)
