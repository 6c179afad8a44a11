"""The figure of the reveal experiment: drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

import numpy as np

from ..internal import new_figure, style
from ._drawing import BELOW, save_figure


def draw_reveal(outcome, folder) -> list[str]:
    """reveal.png: the twins' outputs (identical before learning, different during it), the
    observations against the fits, and the revealed overlaps against the truth."""
    a, p, info = outcome.arrays, outcome.params, outcome.info
    epochs = a["epochs"]
    T = a["clean_0"].shape[2]
    t = (np.arange(T) + 1) * p["dt"]
    fig = new_figure(figsize=(18, 5.6), layout="constrained")
    axes = fig.subplots(1, 4)
    last = len(epochs) - 1

    ax = axes[0]
    for k, run in enumerate(("original", "twin")):
        ax.plot(t, a[f"clean_{k}"][0, 0, :, 0], label=f"{run}, epoch 0", **style(run))
    ax.plot(t, a["clean_0"][last, 0, :, 0], color=style("original")["color"], lw=1.3,
            label=f"original, epoch {epochs[last]}")
    ax.plot(t, a["clean_1"][last, 0, :, 0], color=style("twin")["color"], lw=1.3,
            label=f"twin, epoch {epochs[last]}")
    ax.set_xlabel("time")
    ax.set_ylabel("output on the impulse")
    ax.set_title("Identical before learning (epoch 0: dashed on solid),\n"
                 "different while learning", fontsize=10)
    ax.legend(fontsize=7, **BELOW)

    ax = axes[1]
    cols = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    picks = sorted(set(np.linspace(0, last, min(len(epochs), 4)).round().astype(int)))
    for c, e in zip(cols, picks):
        ax.plot(t, a["y_1"][e, 0, :, 0], color=c, lw=0, marker=".", markersize=1.5, alpha=0.5)
        ax.plot(t, a["fitted_1"][e, 0, :, 0], color=c, lw=1.2, label=f"epoch {epochs[e]}")
    ax.set_xlabel("time")
    ax.set_title(f"Twin: noisy observations (dots, sd {p['noise_sd']:g})\n"
                 "and the fitted exact-map model (lines)", fontsize=10)
    ax.legend(fontsize=7, **BELOW)

    names = [str(n) for n in a["names"]]
    iu = np.triu_indices(a["sigma_true_0"].shape[0])
    vis = a["visible"].astype(bool)
    for ax, k, run in ((axes[2], 0, "original"), (axes[3], 1, "twin")):
        true = a[f"sigma_true_{k}"][iu]
        est = a[f"sigma_hat_{k}"][iu]
        se = a[f"stderr_{k}"]
        ident = a[f"identifiable_{k}"].astype(bool)
        local = a[f"locally_identifiable_{k}"].astype(bool)
        lo, hi = float(min(true.min(), est.min())), float(max(true.max(), est.max()))
        pad = 0.08 * (hi - lo + 1e-12)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], **style("reference"))
        for i, n in enumerate(names):
            color = style("visible" if vis[i] else "invisible")["color"]
            fill = ({} if ident[i] else {"fillstyle": "left", "markerfacecoloralt": "white"}
                    if local[i] else {"markerfacecolor": "white"})
            ax.errorbar(true[i], est[i], yerr=1.96 * se[i] if local[i] else None, marker="o",
                        markersize=6, color=color, linestyle="none", capsize=2, **fill)
            ax.annotate(f"σ_{n}", (true[i], est[i]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.plot([], [], "o", color=style("visible")["color"], label="loss-visible")
        ax.plot([], [], "o", color=style("invisible")["color"], label="loss-invisible")
        ax.plot([], [], "o", color="0.4", fillstyle="left", markerfacecoloralt="white",
                label="only up to an exact symmetry (half-filled)")
        ax.plot([], [], "o", color="0.4", markerfacecolor="white",
                label="not identifiable at this noise (hollow)")
        ax.set_xlabel(f"true overlap ({run})")
        ax.set_ylabel("revealed, symmetric image closest to the truth (±1.96 se)")
        z = info["max_abs_z_identifiable"][k]
        ax.set_title(f"{run.capitalize()}: revealed Σ₀, max |z| = {z:.2g}\n"
                     f"σ_mu = {a[f'sigma_hat_{k}'][0, 1]:.3f} (true {a[f'sigma_true_{k}'][0, 1]:.3f})",
                     fontsize=10)
        ax.legend(fontsize=7, **BELOW)
    apart = info["told_apart"]
    fig.suptitle(f"Reveal: twins with identical outputs told apart by {apart['z']:.0f} standard "
                 f"errors (σ_{apart['by']}) from {len(epochs)} observed epochs of learning",
                 fontsize=11)
    return [save_figure(fig, folder, "reveal.png")]
