"""Figures of nonlinear learning (docs/theory.md §8): the two errors against N, Gaussianity over epochs,
and the panels of the paper's Figures 4 and 8 (outputs on a long trial, loading histograms).

Drawing only: every function takes computed results and writes a PNG.
"""

from __future__ import annotations

import numpy as np

from .._support.io import save_figure_atomic
from .style import line_style, mode_label, new_figure, overlap_colors, style

__all__ = ["plot_scaling", "plot_gaussianity", "output_trial_panels", "loadings_histograms"]


def plot_scaling(result, summary: dict, path) -> None:
    """Left: discrepancy vs N (log-log) against the limit and the closure, per seed and median,
    with the fitted slope and the closure error. Right: loss curves (limit, closure, θ seed 0).
    """
    N = np.asarray(result.N, dtype=float)
    fig = new_figure(figsize=(12, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    ax = axes[0]
    c_limit, c_closure = style("limit")["color"], style("exact")["color"]
    for vals, med, color, label in (
        (result.vs_limit, summary["vs_limit_median"], c_limit, "network vs N → ∞ limit"),
        (result.vs_closure, summary["vs_closure_median"], c_closure,
         "network vs overlap closure"),
    ):
        for j in range(vals.shape[1]):
            ax.scatter(N, vals[:, j], color=color, alpha=0.35, s=14)
        ax.plot(N, med, "o-", color=color, label=label)
    slope = summary["slope_vs_limit"]
    med = np.asarray(summary["vs_limit_median"], dtype=float)
    if np.isfinite(slope) and np.all(med > 0):
        c = np.exp(np.mean(np.log(med) - slope * np.log(N)))
        lo, hi = summary["slope_ci"]
        ax.plot(N, c * N**slope, ":", color=c_limit,
                label=f"fit slope {slope:.2f} [{lo:.2f}, {hi:.2f}]")
    ce = summary["closure_error"]
    if ce is not None and np.isfinite(ce) and ce > 0:
        ax.axhline(ce, color=c_closure, linestyle="--", linewidth=1,
                   label=f"limit vs closure {ce:.2g}")
    ax.axhline(result.tol, color="gray", linestyle=":", linewidth=1, label=f"tol {result.tol:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N")
    ax.set_ylabel("max relative loss-curve difference")
    ax.set_title("Finite-N error and closure error")
    ax.legend(fontsize=8)

    ax = axes[1]
    x = result.epochs + 1
    from matplotlib import colormaps

    # θ-space runs underneath (solid, coloured by N), the limit and the closure on top
    colors = colormaps["viridis"](np.linspace(0.1, 0.9, len(result.N)))
    for i, n in enumerate(result.N):
        ax.plot(x, result.loss_theta[i, 0], color=colors[i], linewidth=1.2, alpha=0.8, zorder=2,
                label=f"θ-space N={n} (seed {result.seeds[0]})")
    linear = result.config.network.is_linear
    ax.plot(x, result.loss_limit, label=mode_label("limit", linear=linear), **style("limit"))
    ax.plot(x, result.loss_closure, label=mode_label("exact", linear=linear), **style("exact"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel(f"loss ({result.config.loss})")
    ax.set_title("Loss curves")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    spec = result.config.network
    q = summary["quadrature_error"]
    fig.suptitle(
        f"rank {spec.rank}, φ={spec.phi_name}, dt={spec.dt}; {result.config.train.optimizer} "
        f"η={result.config.train.eta}, {int(result.epochs[-1])} epochs; limit "
        f"{result.limit_nodes} nodes (quadrature error {'—' if q is None else f'{q:.2g}'})"
    )
    save_figure_atomic(fig, path, dpi=110)


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
    fig = new_figure(figsize=(18, 4.6), layout="constrained")
    axes = fig.subplots(1, len(_PANELS))
    colors = overlap_colors(len(names))  # colour = vector, line style = mode
    for ax, (key, label, zero) in zip(axes, _PANELS):
        for mode, track in tracks.items():
            vals = np.asarray(getattr(track.stats, key))
            if key == "qq_corr":
                vals = 1.0 - vals
            for p, name in enumerate(names):
                ax.plot(track.epochs, vals[:, p], color=colors[p],
                        label=f"{name} ({mode})" if ax is axes[0] else None,
                        **line_style(mode))
        if zero is not None:
            ax.axhline(zero, color="gray", linewidth=0.8)
        if key in ("qq_corr", "out_of_span"):
            ax.set_yscale("symlog", linthresh=1e-6)
        ax.set_xlabel("epoch")
        ax.set_title(label)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 8), fontsize=7)
    spec = comp.config.network
    fig.suptitle(f"Gaussianity of the loadings (φ={spec.phi_name}); a Gaussian has 0, 0, 0, 0")
    save_figure_atomic(fig, path, dpi=110)
    return True


def _shade_unsupervised(ax, t, mask) -> None:
    """Grey background where the loss is off (mask 0), over the whole height of `ax`."""
    ax.fill_between(t, 0, 1, where=np.asarray(mask) == 0, step="mid", color="0.88", linewidth=0,
                    transform=ax.get_xaxis_transform(), zorder=0)


def output_trial_panels(ax_in, ax_out, arrays: dict, curves) -> None:
    """Input (top) and outputs (bottom) on one long flip-flop trial after learning.

    Args:
        ax_in, ax_out: two axes sharing time.
        arrays: needs trial_time, trial_input, trial_target, trial_mask (each (T,)) and the
            keys named in `curves`.
        curves: [(key, label, plot kwargs)], drawn in order (the first, θ-space, underneath).

    Legends sit outside the axes, to the right, so they cover no data.
    """
    t = arrays["trial_time"]
    for ax in (ax_in, ax_out):
        _shade_unsupervised(ax, t, arrays["trial_mask"])
    ax_in.plot(t, arrays["trial_input"], color="0.3", linewidth=1, drawstyle="steps-mid")
    ax_in.set_ylabel("input x")
    ax_in.set_title("Flip-flop trial after learning (grey background: loss off, mask 0)",
                    fontsize=10)
    ax_out.plot(t, arrays["trial_target"], color="0.55", linewidth=1.0, drawstyle="steps-mid",
                zorder=1, label="target y*")
    for key, label, kw in curves:
        if key in arrays:
            ax_out.plot(t, arrays[key], label=label, **kw)
    ax_out.set_xlabel("time (s)")
    ax_out.set_ylabel("output y")
    ax_out.set_xlim(t[0], t[-1])
    ax_out.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0)


def loadings_histograms(axes, arrays: dict, runs, labels: dict, short: dict, colors) -> None:
    """Histograms of the entries of each vector (one axis per column of X) per run.

    Args:
        axes: one axis per vector (P).
        arrays: X0 (N, P), X_<run> (N, P), kurtosis_<run> (P,), vector_names (P,).
        runs: run keys; labels: run key → legend text; short: run key → short name (titles);
            colors: one per run.

    The initial loadings are the grey filled histogram; each run's final loadings a line.
    """
    X0 = np.asarray(arrays["X0"])
    names = [str(v) for v in arrays["vector_names"]]
    for k, ax in enumerate(axes):
        cols = [X0[:, k]] + [np.asarray(arrays[f"X_{r}"])[:, k] for r in runs]
        lo = min(float(c.min()) for c in cols)
        hi = max(float(c.max()) for c in cols)
        bins = np.linspace(lo, hi, 41)
        ax.hist(X0[:, k], bins=bins, density=True, histtype="stepfilled", color="0.75",
                label="initial (balanced start)")
        for r, color in zip(runs, colors):
            ax.hist(np.asarray(arrays[f"X_{r}"])[:, k], bins=bins, density=True, histtype="step",
                    linewidth=1.4, color=color, label=labels[r])
        ax.set_yscale("log")
        ax.set_xlabel(f"entry of {names[k]}")
        ax.set_ylabel("density (log scale)")
        kurt = ", ".join(f"{short[r]} {float(arrays[f'kurtosis_{r}'][k]):.2f}" for r in runs)
        ax.set_title(f"{names[k]} — excess kurtosis: {kurt}", fontsize=9)
