"""Figures of nonlinear learning (THEORY §8): the two errors against N, and Gaussianity over epochs.

Drawing only: every function takes computed results and writes a PNG.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ._io import save_figure_atomic  # noqa: E402
from ._plots import MODE_LABELS, MODE_STYLES  # noqa: E402

__all__ = ["plot_scaling", "plot_gaussianity"]


def plot_scaling(result, summary: dict, path) -> None:
    """Left: discrepancy vs N (log-log) against the limit and the closure, per seed and median,
    with the fitted slope and the closure error. Right: loss curves (limit, closure, θ seed 0).
    """
    N = np.asarray(result.N, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    ax = axes[0]
    for vals, med, color, label in (
        (result.vs_limit, summary["vs_limit_median"], "C0", "network vs N → ∞ limit"),
        (result.vs_closure, summary["vs_closure_median"], "C3", "network vs overlap closure"),
    ):
        for j in range(vals.shape[1]):
            ax.scatter(N, vals[:, j], color=color, alpha=0.35, s=14)
        ax.plot(N, med, "o-", color=color, label=label)
    slope = summary["slope_vs_limit"]
    med = np.asarray(summary["vs_limit_median"], dtype=float)
    if np.isfinite(slope) and np.all(med > 0):
        c = np.exp(np.mean(np.log(med) - slope * np.log(N)))
        lo, hi = summary["slope_ci"]
        ax.plot(N, c * N**slope, ":", color="C0",
                label=f"fit slope {slope:.2f} [{lo:.2f}, {hi:.2f}]")
    ce = summary["closure_error"]
    if ce is not None and np.isfinite(ce) and ce > 0:
        ax.axhline(ce, color="C3", linestyle="--", linewidth=1, label=f"limit vs closure {ce:.2g}")
    ax.axhline(result.tol, color="gray", linestyle=":", linewidth=1, label=f"tol {result.tol:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N")
    ax.set_ylabel("max relative loss-curve difference")
    ax.set_title("Finite-N error and closure error")
    ax.legend(fontsize=8)

    ax = axes[1]
    x = result.epochs + 1
    ax.plot(x, result.loss_limit, color="k", label=MODE_LABELS["limit"], **MODE_STYLES["limit"])
    ax.plot(x, result.loss_closure, color="C3", label="overlap closure (exact map)",
            **MODE_STYLES["exact"])
    colors = plt.cm.viridis(np.linspace(0.1, 0.9, len(result.N)))
    for i, n in enumerate(result.N):
        ax.plot(x, result.loss_theta[i, 0], color=colors[i], linewidth=1, alpha=0.8,
                label=f"θ-space N={n} (seed {result.seeds[0]})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel(f"loss ({result.config.loss})")
    ax.set_title("Loss curves")
    ax.legend(fontsize=7)
    spec = result.config.network
    q = summary["quadrature_error"]
    fig.suptitle(
        f"rank {spec.rank}, φ={spec.phi_name}, dt={spec.dt}; {result.config.train.optimizer} "
        f"η={result.config.train.eta}, {int(result.epochs[-1])} epochs; limit "
        f"{result.limit_nodes} nodes (quadrature error {'—' if q is None else f'{q:.2g}'})"
    )
    save_figure_atomic(fig, path, dpi=110)
    plt.close(fig)


_PANELS = (
    ("kurtosis", "excess kurtosis", 0.0),
    ("skewness", "skewness", 0.0),
    ("qq_corr", "1 − Q-Q correlation", None),
    ("out_of_span", "fraction of ‖x‖² outside span X(0)", None),
)


def plot_gaussianity(comp, path) -> bool:
    """Per-vector Gaussianity statistics over epochs for every run that tracked them.

    Returns:
        True when a figure was written (False: no run tracked Gaussianity, nothing drawn).
    """
    tracks = {m: getattr(r.state, "gaussianity", None) for m, r in comp.runs.items()}
    tracks = {m: t for m, t in tracks.items() if t is not None}
    if not tracks:
        return False
    names = comp.names
    fig, axes = plt.subplots(1, len(_PANELS), figsize=(18, 4.2), constrained_layout=True)
    colors = plt.cm.tab10(np.arange(len(names)) % 10)
    for ax, (key, label, zero) in zip(axes, _PANELS):
        for mode, track in tracks.items():
            vals = np.asarray(getattr(track.stats, key))
            if key == "qq_corr":
                vals = 1.0 - vals
            for p, name in enumerate(names):
                ax.plot(track.epochs, vals[:, p], color=colors[p],
                        label=f"{name} ({mode})" if ax is axes[0] else None,
                        **MODE_STYLES.get(mode, {}))
        if zero is not None:
            ax.axhline(zero, color="gray", linewidth=0.8)
        if key in ("qq_corr", "out_of_span"):
            ax.set_yscale("symlog", linthresh=1e-6)
        ax.set_xlabel("epoch")
        ax.set_title(label)
    axes[0].legend(fontsize=7, ncol=2)
    spec = comp.config.network
    fig.suptitle(f"Gaussianity of the loadings (φ={spec.phi_name}); a Gaussian has 0, 0, 0, 0")
    save_figure_atomic(fig, path, dpi=110)
    plt.close(fig)
    return True
