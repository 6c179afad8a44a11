"""The figures of Figure 8 (optimizers): drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ..internal import line_style, new_figure, plots_style, style
from ._drawing import (
    BELOW,
    RIGHT,
    label_axes,
    save_figure,
)


def draw_optimizers(outcome, folder) -> list[str]:
    """Figure 8: optimizers.png (loss θ vs the closure's exact map, closure error, Q-Q, summary
    bars), optimizers_outputs.png (outputs on a 60-s trial) and optimizers_loadings.png
    (histograms of m, u, v, z per optimizer)."""
    from ..internal import loadings_histograms, output_trial_panels

    a, p, info = outcome.arrays, outcome.params, outcome.info
    runs = [r for r in ("gd_small", "gd_large", "adam") if f"loss_{r}" in a]
    labels = {"gd_small": f"GF: GD η={p['eta_small']} (small steps)",
              "gd_large": f"GD η={p['eta_large']} (large steps)", "adam": f"Adam lr={p['adam_lr']}"}
    short = {"gd_small": "GF", "gd_large": "GD", "adam": "Adam"}
    closure = plots_style.mode_label("exact", linear=False)  # erf: the closure's exact map
    x = a["epochs"] + 1
    colors = {r: style(r)["color"] for r in runs}  # colour = optimizer (the style table)
    fig = new_figure(figsize=(22, 5.6), layout="constrained")
    axes = fig.subplots(1, 4)
    ax = axes[0]
    for r in runs:
        ax.plot(x, a[f"loss_{r}"], color=colors[r], label=f"{short[r]}: θ-space",
                **line_style("theta"))
        if f"loss_exact_{r}" in a:
            ax.plot(x, a[f"loss_exact_{r}"], color=colors[r],
                    label=f"{short[r]}, {closure}", **line_style("exact"))
    label_axes(ax, "epoch + 1", f"loss ({p['loss']})",
               "Loss: θ-space (thick) vs the closure's exact map (dashed on top)",
               xlog=True, ylog=True, fontsize=10)
    ax.legend(fontsize=7, ncol=2, **BELOW)
    ax = axes[1]
    for r in runs:
        ax.plot(x, a[f"closure_{r}"], label=short[r], **style(r))
    label_axes(ax, "epoch + 1", "|L_θ(X) − L_MF(Σ(X))| / L_θ(X)",
               "Closure error along each θ trajectory", xlog=True, ylog=True, fontsize=10)
    ax.legend(fontsize=7, ncol=3, **BELOW)
    ax = axes[2]
    for r in runs:
        q = a[f"qq_{r}"]
        j = int(np.argmax(np.abs(a[f"kurtosis_{r}"])))
        ax.plot(a["qq_theory"], q[:, j], ".", ms=2, color=colors[r],
                label=f"{short[r]}: vector {a['vector_names'][j]}")
    ax.plot([-4, 4], [-4, 4], "k--", lw=1, label="Gaussian (y = x)")
    ax.set_xlabel("normal quantile")
    ax.set_ylabel("sorted standardised entries")
    ax.set_title("Q-Q of the least Gaussian learned vector", fontsize=10)
    ax.legend(fontsize=7, markerscale=4, loc="upper left")
    ax = axes[3]
    w = 0.25
    keys = [("out_of_span_fraction", "out-of-span fraction"), ("closure_error_final",
            "closure error (end)"), ("max_abs_excess_kurtosis", "max |excess kurtosis|")]
    for k, r in enumerate(runs):
        vals = [max(info[key][r], 1e-16) for key, _ in keys]
        ax.bar(np.arange(len(keys)) + (k - 1) * w, vals, width=w, color=colors[r], label=short[r])
    ax.set_xticks(range(len(keys)), [lab for _, lab in keys], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("value (log scale)")
    ax.set_title("Departure from the overlap description", fontsize=10)
    ax.legend(fontsize=7, **RIGHT)
    fig.legend(handles=[Line2D([], [], color=colors[r], lw=3, label=labels[r]) for r in runs],
               loc="outside lower center", ncol=len(runs), fontsize=9)
    fig.suptitle(f"Fig. 8 — erf rank-1, flip-flop, N={p['N']}, {p['epochs']} epochs, same "
                 f"batches and {'balanced' if p.get('balanced', True) else 'random'} start for all")
    names_out = [save_figure(fig, folder, "optimizers.png")]

    if "trial_time" in a:
        fig = new_figure(figsize=(17, 6.5), layout="constrained")
        gs = fig.add_gridspec(2, 1, height_ratios=[0.8, 2.6])
        ax_in = fig.add_subplot(gs[0])
        ax_out = fig.add_subplot(gs[1], sharex=ax_in)
        curves = []
        for r in runs:
            curves.append((f"trial_{r}", f"{labels[r]}: θ-space network",
                           dict(line_style("theta"), color=colors[r])))
        for r in runs:
            key = f"trial_exact_{r}"
            if key in a:
                diff = np.sqrt(np.mean((a[key] - a[f"trial_{r}"]) ** 2)
                               / np.mean(a[f"trial_{r}"] ** 2))
                curves.append((key, f"{short[r]}, {closure}, final Σ "
                               f"(‖Δy‖/‖y_θ‖ = {diff:.2g})",
                               dict(line_style("exact"), color=colors[r])))
        output_trial_panels(ax_in, ax_out, a, curves)
        ax_in.tick_params(labelbottom=False)
        T = len(a["trial_time"])
        ax_out.set_title(f"Outputs on a {T * p['dt']:g}-s trial after learning: networks thick "
                         "and translucent, the closure's outputs (GD runs) dashed on top — where "
                         "they coincide only the dashes show", fontsize=10)
        fig.suptitle(f"Fig. 8 — outputs per optimizer (erf rank-1, N={p['N']})")
        names_out.append(save_figure(fig, folder, "optimizers_outputs.png"))
    if "X0" in a and all(f"X_{r}" in a for r in runs):
        P = a["X0"].shape[1]
        fig = new_figure(figsize=(4.4 * P, 4.6), layout="constrained")
        axes = fig.subplots(1, P, squeeze=False)[0]
        run_colors = [colors[r] for r in runs]
        loadings_histograms(axes, a, runs, labels, short, run_colors)
        handles = [Rectangle((0, 0), 1, 1, color="0.75", label="initial (all runs)")]
        handles += [Line2D([], [], color=c, lw=1.4, label=labels[r])
                    for r, c in zip(runs, run_colors)]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9)
        fig.suptitle(f"Fig. 8 — loadings of the learned vectors per optimizer (N={p['N']} "
                     "entries each); a Gaussian is a parabola on this log scale")
        names_out.append(save_figure(fig, folder, "optimizers_loadings.png"))
    return names_out
