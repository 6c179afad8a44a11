"""The figures of Figure 4 (nonlinear network): drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

import numpy as np

from ..internal import (
    draw_overlaps,
    legend_handle,
    new_figure,
    overlap_colors,
    plots_style,
    style,
)
from ._drawing import (
    RIGHT,
    overlap_family,
    save_figure,
)

#: What each mode computed on this erf network: the Σ-space modes learn the Gaussian closure.
_LABELS = {m: plots_style.mode_label(m, linear=False) for m in plots_style.MODE_LABELS}


def _gaussianity_panels(ax_hist, ax_qq, X0, Xf, theo, qq, vec_names, label=""):
    """Histograms (initial shaded, learned as lines) and normal Q-Q of the standardised entries."""
    bins = np.linspace(-4, 4, 41)
    colors = overlap_colors(len(vec_names))  # colour = vector
    for k, name in enumerate(vec_names):
        z0 = (X0[:, k] - X0[:, k].mean()) / X0[:, k].std()
        zf = (Xf[:, k] - Xf[:, k].mean()) / Xf[:, k].std()
        ax_hist.hist(zf, bins=bins, histtype="step", color=colors[k], density=True,
                     label=f"{name} learned")
        ax_hist.hist(z0, bins=bins, histtype="stepfilled", color=colors[k], alpha=0.12,
                     density=True, label=f"{name} initial")
        ax_qq.plot(theo, qq[:, k], ".", ms=2, color=colors[k], label=name)
    g = np.linspace(-4, 4, 200)
    ax_hist.plot(g, np.exp(-g**2 / 2) / np.sqrt(2 * np.pi), "k--", lw=1, label="N(0, 1)")
    ax_hist.set_xlabel("standardised entry (entry − mean) / sd")
    ax_hist.set_ylabel("density")
    ax_hist.set_title(f"Entries of the vectors {label}\n(shaded: initial, lines: learned)",
                      fontsize=10)
    ax_hist.legend(fontsize=7, **RIGHT)
    ax_qq.plot([-4, 4], [-4, 4], "k--", lw=1, label="Gaussian (y = x)")
    ax_qq.set_xlabel("normal quantile")
    ax_qq.set_ylabel("sorted standardised entries")
    ax_qq.set_title(f"Normal Q-Q plot of the learned vectors {label}\n(points on y = x: Gaussian)",
                    fontsize=10)
    ax_qq.legend(fontsize=7, markerscale=4, loc="upper left")  # Q-Q data never reach that corner


def draw_nonlinear(outcome, folder) -> list[str]:
    """Figure 4: nonlinear.png (loss, visible and invisible overlaps, outputs on an 80-s trial)
    and nonlinear_gaussianity.png (histograms, Q-Q of the learned loadings)."""
    from ..internal import output_trial_panels

    a, p = outcome.arrays, outcome.params
    modes = ["theta"] + [m for m in p["modes"] if f"loss_{m}" in a]
    vis = a["visible"].astype(bool)
    x = a["epochs"]
    trial = "trial_time" in a  # results written before the output trial existed have none
    fig = new_figure(figsize=(18, 10.5 if trial else 5.5), layout="constrained")
    gs = fig.add_gridspec(3 if trial else 1, 3, height_ratios=[3.2, 0.8, 2.2] if trial else [1])
    ax = fig.add_subplot(gs[0, 0])
    for mode in modes:
        ax.plot(x, a[f"loss_{mode}"], **style(mode))
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"loss ({p['loss']}, on the epoch's batch)")
    ax.set_title("Loss", fontsize=10)
    for k, (sel, label) in enumerate(((vis, "Loss-visible"), (~vis, "Loss-invisible"))):
        ax = fig.add_subplot(gs[0, 1 + k])
        idx = np.flatnonzero(sel)
        handles = draw_overlaps(ax, x, overlap_family(a, idx, modes), modes)
        ax.set_xlabel("epoch")
        ax.set_ylabel("overlap value")
        ax.set_title(f"{label} overlaps ({len(idx)}); colour: overlap, line style: method",
                     fontsize=10)
        if handles:
            ax.legend(handles=handles, fontsize=7, **RIGHT)
    fig.legend(handles=[legend_handle(m, _LABELS[m]) for m in modes], loc="outside lower center",
               ncol=len(modes), fontsize=9, title="method: colour and line style in the loss "
               "panel and the trial; line style in the overlap panels (there colour = overlap)",
               title_fontsize=8)
    if trial:
        ax_in = fig.add_subplot(gs[1, :])
        ax_out = fig.add_subplot(gs[2, :], sharex=ax_in)
        curves = [("trial_theta", "θ-space network (final X)", style("theta"))]
        for mode in ("exact", "euler"):
            if f"trial_{mode}" in a:
                diff = np.sqrt(np.mean((a[f"trial_{mode}"] - a["trial_theta"]) ** 2)
                               / np.mean(a["trial_theta"] ** 2))
                curves.append((f"trial_{mode}", f"{_LABELS[mode]}, final Σ "
                               f"(‖Δy‖/‖y_θ‖ = {diff:.2g})", style(mode)))
        output_trial_panels(ax_in, ax_out, a, curves)
        T = len(a["trial_time"])
        ax_out.set_title(f"Outputs on a {T * p['dt']:g}-s trial ({p['trial_factor']} × the "
                         "training trial) after learning; the closure's outputs broken lines on "
                         "top of the θ-space line (where they coincide only the dashes show)",
                         fontsize=10)
        ax_in.tick_params(labelbottom=False)
    fig.suptitle(f"Fig. 4 — erf rank-1 network, flip-flop: θ-space (N={p['N']}) vs its "
                 f"Gaussian (mean-field) closure in overlap space; GD η={p['eta']}, "
                 f"{p['epochs']} epochs, same batches, "
                 f"{'balanced' if p.get('balanced', True) else 'random'} start\nθ-space: thick "
                 "translucent line; closure methods: thin broken lines drawn on top of it (where "
                 "they coincide, the broken line runs inside the thick one)")
    names_out = [save_figure(fig, folder, "nonlinear.png")]
    fig = new_figure(figsize=(12.5, 4.8), layout="constrained")
    axes = fig.subplots(1, 2)
    _gaussianity_panels(axes[0], axes[1], a["X0"], a["X_final"], a["qq_theory"], a["qq_final"],
                        [str(v) for v in a["vector_names"]], f"(θ-space, N={p['N']})")
    fig.suptitle("Do the learned loadings stay Gaussian? (the overlap closure assumes so)")
    names_out.append(save_figure(fig, folder, "nonlinear_gaussianity.png"))
    return names_out
