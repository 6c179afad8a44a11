"""Figures of the experiments. Drawing only: each function reads an `Outcome` and writes PNGs.

Every colour, line style and width comes from the one style table of `overlapflow._style`
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
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from .._io import save_figure_atomic
from .._style import (
    MODE_LABELS,
    draw_overlaps,
    legend_handle,
    line_style,
    new_figure,
    overlap_colors,
    style,
)

#: Keyword arguments of an axes legend to the right of the axes, outside them.
RIGHT = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
#: ... and below the axes (under the x label).
BELOW = dict(loc="upper center", bbox_to_anchor=(0.5, -0.16), borderaxespad=0)


def _save(fig, folder: Path, name: str) -> str:
    save_figure_atomic(fig, Path(folder) / name, dpi=100)
    return name


def _method_legend(fig, modes, *, title: str | None = None) -> None:
    """One figure legend under the panels: colour and line style of each mode (method)."""
    fig.legend(handles=[legend_handle(m, MODE_LABELS.get(m, m)) for m in modes],
               loc="outside lower center", ncol=len(modes), fontsize=9,
               title=title or "method: colour and line style in the loss panel; line style in "
               "the overlap panels (there colour = overlap)", title_fontsize=8)


def _overlap_family(a: dict, idx, keys, sigma_key=lambda k: f"sigma_{k}"):
    """[(σ label, {key: trajectory})] for the overlaps `idx` of results `a`."""
    names, rows, cols = a["names"], a["rows"], a["cols"]
    return [(f"σ_{names[d]}", {k: a[sigma_key(k)][:, rows[d], cols[d]] for k in keys})
            for d in idx]


def _runs_panels(a: dict, modes: list[str], title: str, *, xlog=True):
    """Loss (log) and visible / invisible overlap trajectories for θ and overlap modes."""
    vis = a["visible"].astype(bool)
    x = a["epochs"] + 1
    fig = new_figure(figsize=(18, 5.6), layout="constrained")
    axes = fig.subplots(1, 3)
    ax = axes[0]
    for mode in modes:
        ax.plot(x, a[f"loss_{mode}"], **style(mode))
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel("loss")
    ax.set_title("Loss (colour and line style = method)")
    for ax, sel, label in ((axes[1], vis, "Loss-visible"), (axes[2], ~vis, "Loss-invisible")):
        idx = np.flatnonzero(sel)
        handles = draw_overlaps(ax, x, _overlap_family(a, idx, modes), modes)
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


def draw_fig1(outcome, folder) -> list[str]:
    """fig1.png: loss, 4 visible and 6 invisible overlaps; θ vs exact / flow / direct."""
    a, p = outcome.arrays, outcome.params
    modes = ["theta"] + list(p["modes"])
    fig = _runs_panels(a, modes, f"Rank-1 linear network learns exp(−{p['decay']}t): θ-space "
                       f"(N={p['N']}) vs overlap space; GD η={p['eta']}, {p['epochs']} epochs")
    return [_save(fig, folder, "fig1.png")]


def draw_rank2(outcome, folder) -> list[str]:
    """rank2.png: loss and the 21 overlaps (visible / invisible) for rank 2."""
    a, p = outcome.arrays, outcome.params
    modes = ["theta"] + list(p["modes"])
    fig = _runs_panels(a, modes, f"Rank-2 linear network learns exp(−{p['decay']}t)·cos({p['omega']}t):"
                       f" θ-space (N={p['N']}) vs the 21-dimensional overlap dynamics")
    return [_save(fig, folder, "rank2.png")]


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
        ax.plot(x, a[f"loss_theta_{k}"], color=style(run)["color"], label=f"{run}: θ-space",
                **line_style("theta"))
        ax.plot(x, a[f"loss_exact_{k}"], color=style(run)["color"],
                label=f"{run}: overlap exact map", **line_style("exact"))
    ax.set_yscale("log")
    ax.set_ylabel("loss (sum·dt)")
    ax.set_title("Same task, same GD: different learning\n(exact map dashed on θ-space)",
                 fontsize=10)
    ax.legend(fontsize=7, ncol=2, **BELOW)
    keys = ("original", "twin")
    for ax, sel, label in ((axes[1, 1], vis, "visible"), (axes[1, 2], ~vis, "invisible")):
        family = _overlap_family(a, np.flatnonzero(sel), keys,
                                 lambda k: f"sigma_theta_{keys.index(k)}")
        handles = draw_overlaps(ax, x, family, keys)
        handles += [legend_handle("original", "original (θ)", color="gray"),
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
    return [_save(fig, folder, "degeneracy.png")]


def _phase_shading(ax, bounds, decays):
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


def draw_memory(outcome, folder) -> list[str]:
    """memory.png: distances from Σ after the first A (paper protocol), history traces, retained."""
    a, info = outcome.arrays, outcome.info
    bounds, decays = a["bounds"], a["decays"]
    x = a["epochs"]
    fig = new_figure(figsize=(18, 5.6), layout="constrained")
    axes = fig.subplots(1, 3)
    ax = axes[0]
    after = slice(int(bounds[1]) + 1, None)  # distances are measured from the end of phase 1
    # Colour = run, line style = overlap class (solid invisible, dotted visible), as in the
    # trace panel. gd_small is gd_noise without the noise: the two coincide until the last
    # phase; gd_noise is thick and translucent (style table), gd_small thinner on top of it.
    notes = {"gd_noise": "gd_noise: paper protocol",
             "gd_small": "gd_small: no noise; = gd_noise before the last phase"}
    for v in ("gd_noise", "gd_small"):
        if f"dist_vis_{v}" in a:
            ax.plot(x[after], a[f"dist_inv_{v}"][after], label=f"invisible ({notes[v]})",
                    **style(v))
            ax.plot(x[after], a[f"dist_vis_{v}"][after], label=f"visible ({notes[v]})",
                    **style(v, linestyle=(0, (1, 1.5)), linewidth=style(v)["linewidth"] * 0.8))
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-9)
    _phase_shading(ax, bounds, decays)
    ax.set_xlabel("epoch (tasks in sequence; shaded: task B)")
    ax.set_ylabel("max |σ − σ after first A|")
    ax.set_title("Distance from the overlaps after the first A phase\n"
                 "(overlap-space exact map of θ GD; solid: invisible, dotted: visible)",
                 fontsize=10)
    ax.legend(fontsize=7, ncol=2, **BELOW)
    ax = axes[1]
    variants = [v for v in info["retained"]]
    for v in variants:
        note = " (= gd_small before the last phase)" if v == "gd_noise" else ""
        ax.plot(x, a[f"trace_inv_{v}"], label=f"{v}: invisible{note}", **style(v))
        ax.plot(x, a[f"trace_vis_{v}"], label=f"{v}: visible",
                **style(v, linestyle=(0, (1, 1.5)), linewidth=1.0))
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-9)
    _phase_shading(ax, bounds, decays)
    ax.set_xlabel("epoch")
    ax.set_ylabel("max |σ_history − σ_control|")
    ax.set_title("Trace of the B excursions vs a control that saw only A\n"
                 "(solid: invisible, dotted: visible)", fontsize=10)
    ax.legend(fontsize=7, ncol=2, **BELOW)
    ax = axes[2]
    vals = [info["retained"][v] for v in variants]
    ax.bar(range(len(variants)), vals, color=[style(v)["color"] for v in variants])
    ax.set_xticks(range(len(variants)), variants, rotation=20)
    for k, v in enumerate(variants):
        ax.text(k, vals[k], f"{info['trace_end_invisible'][v]:.1e}", ha="center", va="bottom",
                fontsize=7)
    ax.set_ylabel("retained = trace at end / peak trace")
    ax.set_title("History the invisible overlaps still carry at the end\n"
                 "(bar labels: trace at the end)", fontsize=10)
    p = outcome.params
    start = info.get("start", p.get("start", "fig1"))
    start_text = (f"start: the degenerate twin of the degeneracy experiment (σ_uu={p['twin_uu']:.3g},"
                  f" σ_mu={p['twin_mu']:g})" if start == "twin" else "start: the Figure-1 start")
    fig.suptitle("Memory in loss-invisible overlaps: rank-1 linear, N="
                 f"{p.get('N', '?')}, tasks exp(−c t) in sequence; {start_text}")
    return [_save(fig, folder, "memory.png")]


def draw_adam(outcome, folder) -> list[str]:
    """adam.png: loss, visible overlaps of two same-Σ starts under Adam vs GD, the invariant."""
    a, p = outcome.arrays, outcome.params
    vis = a["visible"].astype(bool)
    x = a["epochs"]
    runs = ("adam", "adam_rot", "gd_theta", "exact")  # styles: the table (overlapflow._style)
    labels = {"adam": "Adam, θ-space, start X₀", "adam_rot": "Adam, θ-space, rotated X₀ (same Σ)",
              "gd_theta": "GD, θ-space, rotated X₀", "exact": "GD, overlap exact map"}
    fig = new_figure(figsize=(18, 10), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    ax = axes[0]
    for r in runs:
        ax.plot(x, a[f"loss_{r}"], **style(r))
    ax.set_yscale("log")
    ax.set_xlabel("epoch (tasks in sequence)")
    ax.set_ylabel("loss (sum·dt)")
    ax.set_title("Loss")
    _phase_shading(ax, a["bounds"], a["decays"])
    drawn = ("adam", "adam_rot", "exact")
    for ax, sel, label in ((axes[2], vis, "visible"), (axes[3], ~vis, "invisible")):
        handles = draw_overlaps(ax, x, _overlap_family(a, np.flatnonzero(sel), drawn), drawn,
                                short={r: r for r in drawn})
        ax.legend(handles=handles, fontsize=7, **RIGHT)
        ax.set_xlabel("epoch")
        ax.set_ylabel("overlap value")
        ax.set_title(f"Loss-{label} overlaps (colour = overlap, line style = run)")
        _phase_shading(ax, a["bounds"], a["decays"])
    ax = axes[1]
    for r in runs:
        q = a[f"conserved_{r}"]
        ax.plot(x, q - q[0], **style(r))
    ax.set_xlabel("epoch")
    ax.set_ylabel("tr(ΣJ) − initial\n(σ_zz + σ_vv − σ_mm − σ_uu)")
    ax.set_title("Invariant of gradient flow: GD keeps it, Adam does not")
    fig.legend(handles=[legend_handle(r, labels[r]) for r in runs], loc="outside lower center",
               ncol=len(runs), fontsize=9,
               title="run: colour and line style in the loss and invariant panels; line style "
                     "in the overlap panels", title_fontsize=8)
    fig.suptitle(f"Adam (lr {p['adam_lr']}) vs GD (η {p['eta']}), rank-1 linear, N={p['N']}, "
                 "tasks exp(−c t) in sequence")
    return [_save(fig, folder, "adam.png")]


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
    from .._plots_nonlinear import output_trial_panels

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
        handles = draw_overlaps(ax, x, _overlap_family(a, idx, modes), modes)
        ax.set_xlabel("epoch")
        ax.set_ylabel("overlap value")
        ax.set_title(f"{label} overlaps ({len(idx)}); colour: overlap, line style: method",
                     fontsize=10)
        if handles:
            ax.legend(handles=handles, fontsize=7, **RIGHT)
    _method_legend(fig, modes, title="method: colour and line style in the loss panel and the "
                   "trial; line style in the overlap panels (there colour = overlap)")
    if trial:
        ax_in = fig.add_subplot(gs[1, :])
        ax_out = fig.add_subplot(gs[2, :], sharex=ax_in)
        curves = [("trial_theta", "θ-space network (final X)", style("theta"))]
        for mode in ("exact", "euler"):
            if f"trial_{mode}" in a:
                diff = np.sqrt(np.mean((a[f"trial_{mode}"] - a["trial_theta"]) ** 2)
                               / np.mean(a["trial_theta"] ** 2))
                curves.append((f"trial_{mode}", f"{MODE_LABELS[mode]}, final Σ "
                               f"(‖Δy‖/‖y_θ‖ = {diff:.2g})", style(mode)))
        output_trial_panels(ax_in, ax_out, a, curves)
        T = len(a["trial_time"])
        ax_out.set_title(f"Outputs on a {T * p['dt']:g}-s trial ({p['trial_factor']} × the "
                         "training trial) after learning; overlap-space outputs broken lines on "
                         "top of the θ-space line (where they coincide only the dashes show)",
                         fontsize=10)
        ax_in.tick_params(labelbottom=False)
    fig.suptitle(f"Fig. 4 — erf rank-1 network, flip-flop: θ-space (N={p['N']}) vs mean-field "
                 f"overlap space; GD η={p['eta']}, {p['epochs']} epochs, same batches, "
                 f"{'balanced' if p.get('balanced', True) else 'random'} start\nθ-space: thick "
                 "translucent line; overlap methods: thin broken lines drawn on top of it (where "
                 "they coincide, the broken line runs inside the thick one)")
    names_out = [_save(fig, folder, "nonlinear.png")]
    fig = new_figure(figsize=(12.5, 4.8), layout="constrained")
    axes = fig.subplots(1, 2)
    _gaussianity_panels(axes[0], axes[1], a["X0"], a["X_final"], a["qq_theory"], a["qq_final"],
                        [str(v) for v in a["vector_names"]], f"(θ-space, N={p['N']})")
    fig.suptitle("Do the learned loadings stay Gaussian? (the overlap closure assumes so)")
    names_out.append(_save(fig, folder, "nonlinear_gaussianity.png"))
    return names_out


def draw_optimizers(outcome, folder) -> list[str]:
    """Figure 8: optimizers.png (loss θ vs mean-field exact map, closure error, Q-Q, summary
    bars), optimizers_outputs.png (outputs on a 60-s trial) and optimizers_loadings.png
    (histograms of m, u, v, z per optimizer)."""
    from .._plots_nonlinear import loadings_histograms, output_trial_panels

    a, p, info = outcome.arrays, outcome.params, outcome.info
    runs = [r for r in ("gd_small", "gd_large", "adam") if f"loss_{r}" in a]
    labels = {"gd_small": f"GF: GD η={p['eta_small']} (small steps)",
              "gd_large": f"GD η={p['eta_large']} (large steps)", "adam": f"Adam lr={p['adam_lr']}"}
    short = {"gd_small": "GF", "gd_large": "GD", "adam": "Adam"}
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
                    label=f"{short[r]}: overlap exact map", **line_style("exact"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel(f"loss ({p['loss']})")
    ax.set_title("Loss: θ-space (thick) vs mean-field exact map (dashed on top)", fontsize=10)
    ax.legend(fontsize=7, ncol=2, **BELOW)
    ax = axes[1]
    for r in runs:
        ax.plot(x, a[f"closure_{r}"], label=short[r], **style(r))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel("|L_θ(X) − L_MF(Σ(X))| / L_θ(X)")
    ax.set_title("Closure error along each θ trajectory", fontsize=10)
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
    names_out = [_save(fig, folder, "optimizers.png")]

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
                curves.append((key, f"{short[r]}: overlap exact map, final Σ "
                               f"(‖Δy‖/‖y_θ‖ = {diff:.2g})",
                               dict(line_style("exact"), color=colors[r])))
        output_trial_panels(ax_in, ax_out, a, curves)
        ax_in.tick_params(labelbottom=False)
        T = len(a["trial_time"])
        ax_out.set_title(f"Outputs on a {T * p['dt']:g}-s trial after learning: networks thick "
                         "and translucent, overlap-space outputs (GD runs) dashed on top — where "
                         "they coincide only the dashes show", fontsize=10)
        fig.suptitle(f"Fig. 8 — outputs per optimizer (erf rank-1, N={p['N']})")
        names_out.append(_save(fig, folder, "optimizers_outputs.png"))
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
        names_out.append(_save(fig, folder, "optimizers_loadings.png"))
    return names_out


def draw_metric(outcome, folder) -> list[str]:
    """metric.png: G(Σ_end) for linear and erf rank 1, structural zeros and visible columns marked."""
    a, info = outcome.arrays, outcome.info
    names = [f"σ_{n}" for n in a["names"]]
    zeros = a["zeros"].astype(bool)
    fig = new_figure(figsize=(14, 6.4), layout="constrained")
    axes = fig.subplots(1, 2)
    c_vis = style("visible")["color"]
    for ax, label in zip(axes, ("linear", "erf")):
        G = a[f"G_{label}_end"]
        vis = a[f"visible_{label}"].astype(bool)
        shown = np.where(zeros, np.nan, G)
        lim = np.nanmax(np.abs(shown))
        im = ax.imshow(shown, cmap="RdBu_r", vmin=-lim, vmax=lim)
        for i, j in zip(*np.nonzero(zeros)):
            ax.text(j, i, "0", ha="center", va="center", fontsize=7, color="0.5")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        for k, t in enumerate(ax.get_xticklabels()):
            t.set_color(c_vis if vis[k] else "0.4")
            t.set_fontweight("bold" if vis[k] else "normal")
        for k in np.flatnonzero(vis):
            ax.add_patch(Rectangle((k - 0.5, -0.5), 1, len(names), fill=False, ec=c_vis, lw=1))
        ax.set_xlabel("gradient component ∂L/∂σ (green, boxed: loss-visible)")
        ax.set_ylabel("velocity component dσ/dt")
        ax.set_title(f"rank-1 {label}: G(Σ) after learning\n{info[f'{label}_structural_zeros']} of "
                     f"{G.size} entries structurally zero ('0'); {info[f'{label}_n_visible']} "
                     "visible columns", fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.7,
                     label="G entry: weight of ∂L/∂σ (column)\nin dσ/dt (row)")
    fig.suptitle("Overlap-space metric: dσ/dt = −η G(Σ) ∇_σL")
    return [_save(fig, folder, "metric.png")]
