"""Figures. Drawing only: every function takes computed results and writes a PNG."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from ._io import save_figure_atomic  # noqa: E402
from ._overlaps import overlap_names, overlap_pairs  # noqa: E402

__all__ = ["plot_comparison", "MODE_STYLES"]

MODE_STYLES = {
    "theta": dict(linestyle="-", linewidth=2.2, alpha=0.55),
    "exact": dict(linestyle="--", linewidth=1.4),
    "flow": dict(linestyle=(0, (1, 1.5)), linewidth=1.6),
    "euler": dict(linestyle="-.", linewidth=1.2),
    "direct": dict(linestyle=(0, (5, 2, 1, 2, 1, 2)), linewidth=1.2),
    "limit": dict(linestyle=(0, (3, 1, 1, 1)), linewidth=1.4),
}
MODE_LABELS = {
    "theta": "θ-space (network)",
    "exact": "overlap: exact map",
    "flow": "overlap: gradient flow",
    "euler": "overlap: Euler",
    "direct": "overlap: direct (identity metric)",
    "limit": "N → ∞ limit",
}


def _overlap_panel(ax, comp, pairs, title):
    names = overlap_names(comp.config.network)
    all_pairs = overlap_pairs(comp.config.network)
    x = comp.epochs + 1
    colors = plt.cm.tab10(np.linspace(0, 1, 10))
    handles = []
    for k, (i, j) in enumerate(pairs):
        color = colors[k % 10]
        label = "σ_" + names[all_pairs.index((i, j))]
        for mode, run in comp.runs.items():
            ax.plot(x, run.sigma[:, i, j], color=color, **MODE_STYLES.get(mode, {}))
        handles.append(Line2D([], [], color=color, label=label))
    ax.set_xscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel("overlap value")
    ax.set_title(title)
    if handles:
        ax.legend(handles=handles, fontsize=7, ncol=2 if len(handles) > 6 else 1, loc="best")
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
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), constrained_layout=True)
    ax = axes[0]
    x = comp.epochs + 1
    for mode, run in comp.runs.items():
        ax.plot(x, run.loss, color="k" if mode == "theta" else None,
                label=MODE_LABELS.get(mode, mode), **MODE_STYLES.get(mode, {}))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel(f"loss ({comp.config.loss})")
    ax.set_title("Loss (line style = mode, also in the overlap panels)")
    ax.legend(fontsize=8)
    _overlap_panel(axes[1], comp, vis, f"Loss-visible overlaps ({len(vis)})")
    _overlap_panel(axes[2], comp, invis, f"Loss-invisible overlaps ({len(invis)})")
    spec = comp.config.network
    fig.suptitle(
        f"N={spec.N}, rank {spec.rank}, n_in={spec.n_in}, n_out={spec.n_out}, φ={spec.phi_name}, "
        f"dt={spec.dt}; {comp.config.train.optimizer} η={comp.config.train.eta}, "
        f"{comp.config.train.epochs} epochs"
    )
    save_figure_atomic(fig, path, dpi=110)
    plt.close(fig)
