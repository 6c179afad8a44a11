"""Figures. Drawing only: every function takes computed results and writes a PNG."""

from __future__ import annotations

import numpy as np

from .._model.overlaps import overlap_labels, overlap_names, overlap_pairs
from .._support.io import save_figure_atomic

# The one style table of every figure (colour, line style, width per mode and run): _style.
# Figures are `matplotlib.figure.Figure`s, never pyplot: importing overlapflow leaves the
# user's matplotlib backend alone.
from .style import MODE_STYLES, draw_overlaps, mode_label, new_figure, style

__all__ = ["plot_comparison", "MODE_STYLES"]


#: Plotted values are clipped to ±PLOT_CAP (and losses to [PLOT_FLOOR, PLOT_CAP]): a diverging
#: run reaches 1e300 and more, which matplotlib's transforms cannot handle.
PLOT_CAP = 1e100
PLOT_FLOOR = 1e-300


def _safe(y, *, log: bool = False) -> np.ndarray:
    """Non-finite → NaN (a gap), finite values clipped to a range matplotlib can draw."""
    y = np.array(y, dtype=np.float64)
    y[~np.isfinite(y)] = np.nan
    with np.errstate(invalid="ignore"):
        return np.clip(y, PLOT_FLOOR if log else -PLOT_CAP, PLOT_CAP)


def _last_drawn(y) -> int | None:
    ok = np.flatnonzero(np.isfinite(y))
    return int(ok[-1]) if ok.size else None


def _overlap_panel(ax, comp, pairs, title):
    labels = comp.config.vector_labels  # an imported network's channels: bias, h0
    names = (overlap_labels(comp.config.network, labels) if labels is not None
             else overlap_names(comp.config.network))
    all_pairs = overlap_pairs(comp.config.network)
    x = comp.epochs + 1
    overlaps = []  # colour = overlap, line style = mode; coinciding curves marked (_style)
    calm = []  # values before any divergence: the axis range, so that a blow-up is cut off
    for i, j in pairs:
        label = "σ_" + names[all_pairs.index((i, j))]
        ys = {}
        for mode, run in comp.runs.items():
            y = _safe(run.sigma[:, i, j])
            ys[mode] = y
            calm.append(y if run.diverged_at is None
                        else y[: np.searchsorted(comp.epochs, run.diverged_at)])
        overlaps.append((label, ys))
    handles = draw_overlaps(ax, x, overlaps, list(comp.runs))
    calm = np.concatenate(calm) if calm else np.zeros(0)
    calm = calm[np.isfinite(calm)]
    if calm.size and any(r.diverged_at is not None for r in comp.runs.values()):
        lo, hi = float(calm.min()), float(calm.max())
        pad = 0.1 * (hi - lo) or 0.1 * max(abs(hi), 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel("overlap value")
    ax.set_title(title)
    if handles:
        ax.legend(handles=handles, fontsize=7, ncol=2 if len(handles) > 12 else 1,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # outside
    else:
        ax.text(0.5, 0.5, "none", transform=ax.transAxes, ha="center")


def plot_comparison(comp, path, *, visible: np.ndarray) -> None:
    """Loss curves and visible / invisible overlaps over epochs; θ solid, overlap modes dashed.

    Args:
        comp: a `Comparison`.
        path: output PNG.
        visible: (P, P) boolean mask of loss-visible overlaps.
    """
    pairs = overlap_pairs(comp.config.network)
    vis = [p for p in pairs if visible[p]]
    invis = [p for p in pairs if not visible[p]]
    import warnings

    with warnings.catch_warnings():  # empty or all-NaN panels (interrupted, diverged) are fine
        warnings.simplefilter("ignore")
        fig = _comparison_figure(_thinned(comp), vis, invis)
        save_figure_atomic(fig, path, dpi=110)


#: Most points drawn per curve: a longer record is drawn at about this many epochs, spaced
#: evenly on the figure's logarithmic epoch axis (first and last included).
MAX_DRAWN_POINTS = 4000


def _thinned(comp):
    """`comp` with at most about `MAX_DRAWN_POINTS` recorded entries (a copy; the files keep
    every entry)."""
    n = len(comp.epochs)
    if n <= MAX_DRAWN_POINTS:
        return comp
    import dataclasses

    idx = np.unique(np.r_[0, np.round(np.geomspace(1, n - 1, MAX_DRAWN_POINTS)).astype(int)])
    runs = {m: r._replace(loss=np.asarray(r.loss)[idx], sigma=np.asarray(r.sigma)[idx])
            for m, r in comp.runs.items()}
    return dataclasses.replace(comp, epochs=np.asarray(comp.epochs)[idx], runs=runs)


def _comparison_figure(comp, vis, invis):
    fig = new_figure(figsize=(18, 4.8), layout="constrained")
    axes = fig.subplots(1, 3)
    ax = axes[0]
    x = comp.epochs + 1
    notes = []
    linear = comp.config.network.is_linear  # nonlinear: the Σ-space modes learn the closure
    for mode, run in comp.runs.items():
        y = _safe(run.loss, log=True)
        (line,) = ax.plot(x, y, label=mode_label(mode, linear=linear), **style(mode))
        if run.diverged_at is not None:  # mark the last drawn point and say when
            k = _last_drawn(y[: np.searchsorted(comp.epochs, run.diverged_at, side="right")])
            if k is not None:
                ax.plot([x[k]], [y[k]], marker="X", markersize=9, color=line.get_color(),
                        linestyle="none")
            notes.append(f"{mode} diverged at epoch {run.diverged_at}")
    ax.set_xscale("log")
    if any(np.isfinite(_safe(r.loss, log=True)).any() for r in comp.runs.values()):
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no epoch computed", transform=ax.transAxes, ha="center")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel(f"loss ({comp.config.loss})")
    ax.set_title("Loss (line style = mode, also in the overlap panels)")
    if comp.runs:
        ax.legend(fontsize=8)
    if notes:
        ax.text(0.02, 0.02, "\n".join(notes), transform=ax.transAxes, fontsize=8, color="#b00",
                va="bottom", ha="left")
    _overlap_panel(axes[1], comp, vis, f"Loss-visible overlaps ({len(vis)})")
    _overlap_panel(axes[2], comp, invis, f"Loss-invisible overlaps ({len(invis)})")
    spec = comp.config.network
    title = (
        f"N={spec.N}, rank {spec.rank}, n_in={spec.n_in}, n_out={spec.n_out}, φ={spec.phi_name}, "
        f"dt={spec.dt}; {comp.config.train.optimizer} η={comp.config.train.eta}, "
        f"{comp.config.train.epochs} epochs"
    )
    if getattr(comp, "interrupted", False):
        from .._support.interrupt import interruption_text

        title += f" — {interruption_text(getattr(comp, 'interrupted_at', None)).upper()}"
    fig.suptitle(title, color="#b00" if getattr(comp, "interrupted", False) else "black")
    return fig
