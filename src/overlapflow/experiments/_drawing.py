"""What every experiment figure shares: legend placement, the saving of a PNG, axis labels, loss
panels, overlap families, run panels (and the θ-vs-modes figure) and phase shading. Each
experiment draws in `_<name>_draw.py` next to it; drawing only: a draw function reads an
`Outcome` and writes PNGs.

Every colour, line style and width comes from the one style table of `overlapflow._plots.style`
(per mode: theta, exact, flow, euler, direct, limit; per run: gd_small, gd_large, gd_noise,
adam, ...), so a name looks the same in every figure. θ-space is a thick, translucent solid
line; overlap-space modes are thinner broken lines on top of it, so agreement shows as a broken
line inside a solid one. Overlap curves that coincide are drawn as markers on top of each other
and say so in the legend. Legends sit outside the axes. No pyplot: figures are
`matplotlib.figure.Figure`s, and importing this module leaves matplotlib's backend alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..internal import (
    MODE_LABELS,
    draw_overlaps,
    legend_handle,
    new_figure,
    save_figure_atomic,
    style,
)

#: Keyword arguments of an axes legend to the right of the axes, outside them.
RIGHT = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
#: ... and below the axes (under the x label).
BELOW = dict(loc="upper center", bbox_to_anchor=(0.5, -0.16), borderaxespad=0)


def save_figure(fig, folder: Path, name: str) -> str:
    save_figure_atomic(fig, Path(folder) / name, dpi=100)
    return name


def label_axes(ax, xlabel: str, ylabel: str, title: str, *, xlog: bool = False,
               ylog: bool = False, **title_kw) -> None:
    """Log scales where asked, then the axis labels and the title (`title_kw`: its font)."""
    if xlog:
        ax.set_xscale("log")
    if ylog:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, **title_kw)


def loss_panel(ax, x, a: dict, runs, *, xlabel: str, ylabel: str, title: str) -> None:
    """The loss curves a["loss_<run>"] of `runs` against x, each in its style; log y."""
    for run in runs:
        ax.plot(x, a[f"loss_{run}"], **style(run))
    label_axes(ax, xlabel, ylabel, title, ylog=True)


def _method_legend(fig, modes, *, title: str | None = None) -> None:
    """One figure legend under the panels: colour and line style of each mode (method)."""
    fig.legend(handles=[legend_handle(m, MODE_LABELS.get(m, m)) for m in modes],
               loc="outside lower center", ncol=len(modes), fontsize=9,
               title=title or "method: colour and line style in the loss panel; line style in "
               "the overlap panels (there colour = overlap)", title_fontsize=8)


def overlap_family(a: dict, idx, keys, sigma_key=lambda k: f"sigma_{k}"):
    """[(σ label, {key: trajectory})] for the overlaps `idx` of results `a`."""
    names, rows, cols = a["names"], a["rows"], a["cols"]
    return [(f"σ_{names[d]}", {k: a[sigma_key(k)][:, rows[d], cols[d]] for k in keys})
            for d in idx]


def runs_panels(a: dict, modes: list[str], title: str, *, xlog=True):
    """Loss (log) and visible / invisible overlap trajectories for θ and overlap modes."""
    vis = a["visible"].astype(bool)
    x = a["epochs"] + 1
    fig = new_figure(figsize=(18, 5.6), layout="constrained")
    axes = fig.subplots(1, 3)
    loss_panel(axes[0], x, a, modes, xlabel="epoch + 1", ylabel="loss",
               title="Loss (colour and line style = method)")
    for ax, sel, label in ((axes[1], vis, "Loss-visible"), (axes[2], ~vis, "Loss-invisible")):
        idx = np.flatnonzero(sel)
        handles = draw_overlaps(ax, x, overlap_family(a, idx, modes), modes)
        ax.set_title(f"{label} overlaps ({len(idx)}); colour = overlap")
        ax.set_xlabel("epoch + 1")
        ax.set_ylabel("overlap value")
        if handles:
            ax.legend(handles=handles, fontsize=7, ncol=1 + len(handles) // 14, **RIGHT)
    if xlog:
        for ax in axes:
            ax.set_xscale("log")
    _method_legend(fig, modes)
    fig.suptitle(title)
    return fig


def runs_figure(outcome, folder, name: str, title: str) -> list[str]:
    """[name]: the `runs_panels` of θ-space and the outcome's overlap modes (params["modes"])
    under `title`, saved in `folder`."""
    modes = ["theta"] + list(outcome.params["modes"])
    return [save_figure(runs_panels(outcome.arrays, modes, title), folder, name)]


def phase_shading(ax, bounds, decays):
    """Shade the B phases and label each phase with its decay c, inside the axes.

    Call after everything is drawn: the view is kept, a label goes in the middle of the part
    of its phase that is in view (none for a phase outside it or barely in it), and the y range
    gets a band of headroom at the top for the labels.
    """
    lo, hi = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    if ax.get_yscale() == "log":
        ax.set_ylim(y0, y1 * (y1 / y0) ** 0.12)
    else:
        ax.set_ylim(y0, y1 + 0.12 * (y1 - y0))
    for k in range(len(bounds) - 1):
        b0, b1 = float(bounds[k]), float(bounds[k + 1])
        if k % 2 == 1:
            ax.axvspan(b0, b1, color="0.92", zorder=0)
        v0, v1 = max(b0, lo), min(b1, hi)
        if v1 - v0 < 0.05 * (hi - lo):
            continue
        ax.text((v0 + v1) / 2, 0.985, f"c={decays[k]:g}", ha="center", va="top", fontsize=7,
                transform=ax.get_xaxis_transform(), clip_on=True, zorder=7)
    ax.set_xlim(lo, hi)  # the spans must not widen the view
