"""The figures of Figure 2 (degeneracy twins): drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

import numpy as np

from ..internal import draw_overlaps, legend_handle, line_style, new_figure, plots_style, style
from ._drawing import (
    BELOW,
    overlap_family,
    save_figure,
)


def _twin_lines(ax, t, y0, y1, *, identical: bool, labels=("original", "twin")):
    """Original: thick translucent; twin: thin dashed on top (legend says if identical)."""
    ax.plot(t, y0, label=labels[0], **style("original"))
    ax.plot(t, y1, label=f"{labels[1]} (identical: dashed on top)" if identical else labels[1],
            **style("twin"))


def _degeneracy_trials(axes, a, p, info):
    """Top row: outputs, hidden activity, noise and learning perturbations on one input."""
    diffs = info["relative_output_difference"]
    n_perturb = info["perturb_epochs"]
    T = a["y_probe_0"].shape[1]
    t = (np.arange(T) + 1) * p["dt"]
    ax = axes[0]
    _twin_lines(ax, t, a["y_probe_0"][0, :, 0], a["y_probe_1"][0, :, 0], identical=True)
    ax.set_title("Before learning: outputs on one white-noise input\n"
                 f"identical (max rel. difference {diffs['before_learning']:.1e})", fontsize=10)
    ax.set_ylabel("network output y(t)")
    ax = axes[1]
    _twin_lines(ax, t, a["hu_0"], a["hu_1"], identical=False)
    ax.set_title("...but hidden activity differs: h·u/N = σ_mu κ_in + σ_uu κ_rec\n"
                 f"(reads the invisible σ_mu, σ_uu; rel. difference "
                 f"{diffs['hidden_activity_along_u']:.2g})", fontsize=10)
    ax.set_ylabel("activity along u, h(t)·u/N")
    ax = axes[2]
    ax.plot(t, a["y_probe_0"][0, :, 0], color="0.6", lw=1, label="without noise (both)")
    _twin_lines(ax, t, a["y_noise_0"], a["y_noise_1"], identical=False,
                labels=("original + noise", "twin + same noise"))
    ax.plot(t, a["y_noise_frame"], color="k", lw=1.0, ls=(0, (1, 1.5)), zorder=5,
            label="twin in original's frame (m, v, z shared)\n+ same noise: identical to original")
    ax.set_title(f"Noise perturbation: the same noise (sd {p['state_noise_sd']:g} per step) on h\n"
                 f"outputs differ (rel. difference {diffs['noise']:.2g})", fontsize=10)
    ax.set_ylabel("network output y(t)")
    ax = axes[3]
    ax.plot(t, a["y_target_probe"], label="task: input ∗ exp(−ct)", **style("reference"))
    _twin_lines(ax, t, a["y_learned_0"], a["y_learned_1"], identical=False,
                labels=(f"original after {n_perturb} epochs", f"twin after {n_perturb} epochs"))
    ax.plot(t, a["y_learned_1"] - a["y_learned_0"], color="#66a61e", lw=1, zorder=3,
            label="difference: twin − original")
    ax.set_title(f"Learning perturbation: outputs after {n_perturb} epochs of GD\n"
                 f"differ (rel. difference {diffs['after_learning']:.2g})", fontsize=10)
    ax.set_ylabel("network output y(t)")
    for ax in axes:
        ax.set_xlabel("time (same white-noise input everywhere)")
        ax.legend(fontsize=7, ncol=2, **BELOW)  # below the axes: the traces fill them


def _degeneracy_summary(ax, info):
    """Bar chart of the relative output differences (log scale), values written on the bars."""
    d = info["relative_output_difference"]
    n = info["perturb_epochs"]
    bars = [("before_learning", "no perturbation\n(twin vs original)", "C2"),
            ("noise", "same noise\n(twin vs original)", "C3"),
            ("noise_same_sigma_control", "same noise, control:\n2nd realisation of Σ₀", "0.6"),
            ("noise_same_frame_twin", "same noise, twin in\noriginal's frame", "0.3"),
            ("after_learning", f"after {n} epochs\n(twin vs original)", "C1")]
    vals = [max(d[k], 1e-17) for k, _, _ in bars]
    ax.bar(range(len(bars)), vals, color=[c for _, _, c in bars])
    for k, v in enumerate(vals):
        ax.text(k, v, f"{d[bars[k][0]]:.1e}", ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylim(1e-17, 30)
    ax.set_xticks(range(len(bars)), [lab for _, lab, _ in bars], fontsize=7, rotation=25)
    ax.set_ylabel("max |y_a − y_b| / max |y_b|")
    ax.set_title("Relative output differences on the white-noise input\n(control: the noise "
                 "exposes the vectors z, v, not σ_uu, σ_mu)", fontsize=10)


def draw_degeneracy(outcome, folder) -> list[str]:
    """degeneracy.png (the paper's Figure 2): identical outputs; activity, noise and learning
    perturbations; loss curves and overlap paths of the twins; summary of output differences."""
    a, p, info = outcome.arrays, outcome.params, outcome.info
    vis = a["visible"].astype(bool)
    x = a["epochs"] + 1
    n_perturb = info["perturb_epochs"]
    fig = new_figure(figsize=(22, 10.5), layout="constrained")
    axes = fig.subplots(2, 4)
    _degeneracy_trials(axes[0], a, p, info)
    ax = axes[1, 0]
    for k, run in enumerate(("original", "twin")):  # colour = network, line style = method
        ax.plot(x, a[f"loss_theta_{k}"], color=style(run)["color"], label=f"{run}, θ-space",
                **line_style("theta"))
        ax.plot(x, a[f"loss_exact_{k}"], color=style(run)["color"],
                label=f"{run}, {plots_style.mode_label('exact')}", **line_style("exact"))
    ax.set_yscale("log")
    ax.set_ylabel("loss (sum·dt)")
    ax.set_title("Same task, same GD: different learning\n(exact map dashed on θ-space)",
                 fontsize=10)
    ax.legend(fontsize=7, ncol=2, **BELOW)
    keys = ("original", "twin")
    for ax, sel, label in ((axes[1, 1], vis, "visible"), (axes[1, 2], ~vis, "invisible")):
        family = overlap_family(a, np.flatnonzero(sel), keys,
                                 lambda k: f"sigma_theta_{keys.index(k)}")
        handles = draw_overlaps(ax, x, family, keys)  # one per overlap, then the notes
        handles[len(family):len(family)] = [legend_handle("original", "original (θ)", color="gray"),
                                            legend_handle("twin", "twin (θ)", color="gray")]
        ax.legend(handles=handles, fontsize=7, ncol=3, **BELOW)
        ax.set_ylabel("overlap value")
        ax.set_title(f"Loss-{label} overlaps of the two twins (colour = overlap)", fontsize=10)
    for ax in axes[1, :3]:
        ax.set_xscale("log")
        ax.set_xlabel("epoch + 1 (dotted line: the epochs of the learning perturbation)")
        ax.axvline(n_perturb + 1, color="0.5", lw=0.8, ls=":")
        ax.text(n_perturb + 1, 0.02, f" {n_perturb}", fontsize=7, color="0.4",
                transform=ax.get_xaxis_transform())
    _degeneracy_summary(axes[1, 3], info)
    fig.suptitle(f"Degeneracy (paper Fig. 2): twins with equal visible and different invisible "
                 f"overlaps (twin: σ_uu={p['twin_uu']:.3g}, σ_mu={p['twin_mu']}), rank-1 linear, "
                 f"N={p['N']}, GD η={p['eta']}")
    return [save_figure(fig, folder, "degeneracy.png")]
