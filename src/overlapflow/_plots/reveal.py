"""reveal.png: the observations against the fitted model, and the estimated Σ₀ (docs/theory.md §10).

Drawing only (arrays in, PNG out), matplotlib without pyplot.
"""

from __future__ import annotations

import numpy as np

from .style import new_figure, style

__all__ = ["plot_reveal"]


def _observation_panel(ax, summary: dict, observed: np.ndarray, fitted: np.ndarray,
                       epochs: np.ndarray, kind: str) -> None:
    obs_st = dict(style("original"))
    fit_st = dict(style("twin"))
    if kind == "loss":
        y_obs, y_fit = observed.ravel(), fitted.ravel()
        positive = np.all(y_obs > 0) and np.all(y_fit > 0)
        ax.plot(epochs, y_obs, marker="o", markersize=4, linestyle="none",
                color=obs_st["color"], label="observed loss")
        ax.plot(epochs, y_fit, **fit_st, label="fitted model")
        if positive:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
    else:  # outputs (E, B, T, n_out): trial 0, output 0 at up to four epochs
        E = observed.shape[0]
        picks = sorted(set(np.linspace(0, E - 1, min(E, 4)).round().astype(int)))
        T = observed.shape[2]
        t = np.arange(1, T + 1)
        colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
        for c, k in zip(colors, picks):
            ax.plot(t, observed[k, 0, :, 0], color=c, linewidth=2.6, alpha=0.4,
                    label=f"observed, epoch {epochs[k]}")
            ax.plot(t, fitted[k, 0, :, 0], color=c, linestyle=fit_st["linestyle"],
                    linewidth=1.2)
        ax.plot([], [], color="0.3", linestyle=fit_st["linestyle"], linewidth=1.2,
                label="fitted model (dashed)")
        ax.set_xlabel("time step (trial 0, output 0)")
        ax.set_ylabel("output")
    ax.set_title(f"observations ({kind}) and fit: objective {summary['fit_loss']:.3g}",
                 fontsize=10)
    ax.legend(fontsize=7, loc="best")


def _orbit(summary: dict, names) -> list[list[float]]:
    """Per overlap, the estimate's value and the values exact symmetries map it to."""
    upto = summary.get("determined_up_to", {})
    return [[summary["overlaps"][n]] + [e["value"] for e in upto.get(n, [])
                                        if e["value"] is not None] for n in names]


def _marker(ident: bool, local: bool) -> dict:
    """Filled: identifiable; half-filled: only up to exact symmetries; hollow: not locally."""
    if ident:
        return {"fillstyle": "full"}
    if local:
        return {"fillstyle": "left", "markerfacecoloralt": "white"}
    return {"markerfacecolor": "white"}


def _estimate_panel(ax, summary: dict) -> None:
    names = summary["overlap_names"]
    sig = np.asarray(summary["sigma0"], dtype=np.float64)
    P = sig.shape[0]
    iu = np.triu_indices(P)
    est = sig[iu]
    ident = np.array([summary["identifiable"][n] for n in names])
    local = np.array([summary.get("locally_identifiable", summary["identifiable"])[n]
                      for n in names])
    se = np.array([summary["stderr"][n] if summary["stderr"][n] is not None else np.nan
                   for n in names], dtype=np.float64)
    vis = np.array([summary["visible"][n] for n in names])
    orbit = _orbit(summary, names)
    n_up = int(np.sum(local & ~ident))
    truth = summary.get("truth")
    labels = [f"σ_{n}" for n in names]
    alt_style = dict(marker="x", markersize=5, color="0.45", linestyle="none")
    if truth is not None:
        true = np.asarray(truth["sigma0"], dtype=np.float64)[iu]
        est = np.asarray(truth["aligned_estimate"], dtype=np.float64)[iu]
        alts = [[v for v in orbit[i] if abs(v - est[i]) > 1e-9 * (abs(est[i]) + 1e-300)]
                for i in range(len(names))]
        every = np.concatenate([true, est] + [np.asarray(a, float) for a in alts])
        lo, hi = float(every.min()), float(every.max())
        pad = 0.05 * (hi - lo + 1e-12)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], **style("reference"))
        for i in range(len(names)):
            color = style("visible" if vis[i] else "invisible")["color"]
            ax.errorbar(true[i], est[i], yerr=1.96 * se[i] if local[i] else None,
                        marker="o", markersize=6, color=color, linestyle="none", capsize=2,
                        **_marker(ident[i], local[i]))
            if alts[i] and local[i]:
                ax.plot([true[i]] * len(alts[i]), alts[i], **alt_style)
            ax.annotate(labels[i], (true[i], est[i]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel("true overlap")
        ax.set_ylabel("estimate (its symmetric image closest to the truth)")
        err = truth.get("max_error_locally_identifiable", truth.get("max_error_identifiable"))
        title = "estimate vs truth" + (f": max error {err:.2g} (locally identifiable)"
                                       if err is not None else "")
    else:
        x = np.arange(len(names))
        for i in range(len(names)):
            color = style("visible" if vis[i] else "invisible")["color"]
            ax.errorbar(x[i], est[i], yerr=1.96 * se[i] if local[i] else None, marker="o",
                        markersize=6, color=color, linestyle="none", capsize=2,
                        **_marker(ident[i], local[i]))
            if len(orbit[i]) > 1 and local[i]:
                ax.plot([x[i]] * (len(orbit[i]) - 1), orbit[i][1:], **alt_style)
        ax.axhline(0.0, **style("reference"))
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=45, fontsize=8)
        ax.set_ylabel("estimated overlap (±1.96 standard errors)")
        title = f"estimated Σ₀: Fisher rank {summary['fisher_rank']} of {summary['fisher_dim']}"
    if n_up:
        title += f"\n{n_up} fixed only up to exact symmetries (half-filled; ×: alternatives)"
    ax.plot([], [], marker="o", linestyle="none", color=style("visible")["color"],
            label="loss-visible")
    ax.plot([], [], marker="o", linestyle="none", color=style("invisible")["color"],
            label="loss-invisible")
    ax.plot([], [], marker="o", linestyle="none", color="0.4", fillstyle="left",
            markerfacecoloralt="white", label="only up to an exact symmetry (half-filled)")
    ax.plot([], [], label="its value under an exact symmetry (fits as well)", **alt_style)
    ax.plot([], [], marker="o", linestyle="none", color="0.4", markerfacecolor="white",
            label="not identifiable (hollow)")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title, fontsize=10)


def plot_reveal(summary: dict, observed: np.ndarray, fitted: np.ndarray, path) -> None:
    """Draw reveal.png.

    Args:
        summary: the reveal.json record (`reveal_summary`).
        observed: (E,) losses or (E, B, T, n_out) outputs; fitted: the same shape.
        path: the PNG to write (atomically).
    """
    from .._support.io import save_figure_atomic

    fig = new_figure(figsize=(11, 4.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    epochs = np.asarray(summary["epochs"])
    _observation_panel(ax1, summary, np.asarray(observed), np.asarray(fitted), epochs,
                       summary["observation"])
    _estimate_panel(ax2, summary)
    fig.suptitle("reveal: initial overlaps from learning (invisible ones included)", fontsize=11)
    save_figure_atomic(fig, path, dpi=110)
