"""Figures of the experiments. Drawing only: each function reads an `Outcome` and writes PNGs.

θ-space is always a thick, translucent solid line; overlap-space modes are thin dashed /
dotted lines on top of it, so agreement shows as a dashed line inside a solid one.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from .._io import save_figure_atomic  # noqa: E402
from .._plots import MODE_LABELS, MODE_STYLES  # noqa: E402

COLORS = plt.cm.tab10(np.linspace(0, 1, 10))


def _save(fig, folder: Path, name: str) -> str:
    save_figure_atomic(fig, Path(folder) / name, dpi=100)
    plt.close(fig)
    return name


def _style(mode: str) -> dict:
    return dict(MODE_STYLES.get(mode, {"linestyle": "-"}))


def _mode_legend(ax, modes, loc="center right"):
    """Add a line-style legend for the modes, keeping the axis' existing legend."""
    first = ax.get_legend()
    if first is not None:
        ax.add_artist(first)
    handles = [Line2D([], [], color="gray", label=MODE_LABELS.get(m, m), **_style(m))
               for m in modes]
    ax.legend(handles=handles, fontsize=7, loc=loc)


def _runs_panels(a: dict, modes: list[str], title: str, *, xlog=True):
    """Loss (log) and visible / invisible overlap trajectories for θ and overlap modes."""
    names, rows, cols, vis = a["names"], a["rows"], a["cols"], a["visible"].astype(bool)
    x = a["epochs"] + 1
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), constrained_layout=True)
    ax = axes[0]
    for mode in modes:
        ax.plot(x, a[f"loss_{mode}"], color="k" if mode == "theta" else None,
                label=MODE_LABELS.get(mode, mode), **_style(mode))
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel("loss")
    ax.set_title("Loss")
    ax.legend(fontsize=8)
    for ax, sel, label in ((axes[1], vis, "Loss-visible"), (axes[2], ~vis, "Loss-invisible")):
        idx = np.flatnonzero(sel)
        handles = []
        for k, d in enumerate(idx):
            color = COLORS[k % 10]
            for mode in modes:
                ax.plot(x, a[f"sigma_{mode}"][:, rows[d], cols[d]], color=color, **_style(mode))
            handles.append(Line2D([], [], color=color, label=f"σ_{names[d]}"))
        ax.set_title(f"{label} overlaps ({len(idx)})")
        ax.set_xlabel("epoch + 1")
        ax.set_ylabel("overlap value")
        if handles:
            ax.legend(handles=handles, fontsize=7, ncol=1 + len(handles) // 8, loc="upper left")
            _mode_legend(ax, modes)
    if xlog:
        for ax in axes:
            ax.set_xscale("log")
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


def draw_degeneracy(outcome, folder) -> list[str]:
    """degeneracy.png: equal outputs before learning; different loss curves and overlap paths."""
    a, p = outcome.arrays, outcome.params
    names, rows, cols, vis = a["names"], a["rows"], a["cols"], a["visible"].astype(bool)
    x = a["epochs"] + 1
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.6), constrained_layout=True)
    ax = axes[0]
    t = (np.arange(a["y_probe_0"].shape[1]) + 1) * p["dt"]
    ax.plot(t, a["y_probe_0"][0, :, 0], color="C0", lw=2.5, alpha=0.5, label="original")
    ax.plot(t, a["y_probe_1"][0, :, 0], color="C3", lw=1, ls="--", label="twin")
    diff = np.max(np.abs(a["y_probe_0"] - a["y_probe_1"]))
    ax.set_title(f"Before learning: outputs on white noise\nmax |difference| = {diff:.1e}")
    ax.set_xlabel("time")
    ax.set_ylabel("network output y(t)")
    ax.legend(fontsize=8)
    ax = axes[1]
    for k, (color, label) in enumerate((("C0", "original"), ("C3", "twin"))):
        ax.plot(x, a[f"loss_theta_{k}"], color=color, label=f"{label}: θ-space", **_style("theta"))
        ax.plot(x, a[f"loss_exact_{k}"], color=color, label=f"{label}: overlap exact map",
                **_style("exact"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel("loss (sum·dt)")
    ax.set_title("Same task, same GD: different learning")
    ax.legend(fontsize=7)
    for ax, sel, label in ((axes[2], vis, "visible"), (axes[3], ~vis, "invisible")):
        handles = []
        for k, d in enumerate(np.flatnonzero(sel)):
            c = COLORS[k % 10]
            ax.plot(x, a["sigma_theta_0"][:, rows[d], cols[d]], color=c, lw=2.2, alpha=0.5)
            ax.plot(x, a["sigma_theta_1"][:, rows[d], cols[d]], color=c, lw=1.2, ls="--")
            handles.append(Line2D([], [], color=c, label=f"σ_{names[d]}"))
        handles += [Line2D([], [], color="gray", lw=2.2, alpha=0.5, label="original (θ)"),
                    Line2D([], [], color="gray", lw=1.2, ls="--", label="twin (θ)")]
        ax.legend(handles=handles, fontsize=7, ncol=2)
        ax.set_xscale("log")
        ax.set_xlabel("epoch + 1")
        ax.set_ylabel("overlap value")
        ax.set_title(f"Loss-{label} overlaps of the two twins")
    fig.suptitle(f"Degeneracy: twins with equal visible and different invisible overlaps "
                 f"(twin: σ_uu={p['twin_uu']:.3g}, σ_mu={p['twin_mu']}), N={p['N']}, "
                 f"GD η={p['eta']}")
    return [_save(fig, folder, "degeneracy.png")]


def _phase_shading(ax, bounds, decays):
    for k in range(len(bounds) - 1):
        if k % 2 == 1:
            ax.axvspan(bounds[k], bounds[k + 1], color="0.92", zorder=0)
        ax.text((bounds[k] + bounds[k + 1]) / 2, 0.98, f"c={decays[k]:g}", ha="center",
                va="top", fontsize=7, transform=ax.get_xaxis_transform())


def draw_memory(outcome, folder) -> list[str]:
    """memory.png: distances from Σ after the first A (paper protocol), history traces, retained."""
    a, info = outcome.arrays, outcome.info
    bounds, decays = a["bounds"], a["decays"]
    x = a["epochs"]
    fig, axes = plt.subplots(1, 3, figsize=(18, 4.8), constrained_layout=True)
    ax = axes[0]
    after = slice(int(bounds[1]) + 1, None)  # distances are measured from the end of phase 1
    for v, ls in (("gd_noise", "-"), ("gd_small", ":")):
        if f"dist_vis_{v}" in a:
            ax.plot(x[after], a[f"dist_vis_{v}"][after], color="C0", ls=ls, label=f"visible ({v})")
            ax.plot(x[after], a[f"dist_inv_{v}"][after], color="C3", ls=ls,
                    label=f"invisible ({v})")
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-9)
    _phase_shading(ax, bounds, decays)
    ax.set_xlabel("epoch (tasks in sequence; shaded: task B)")
    ax.set_ylabel("max |σ − σ after first A|")
    ax.set_title("Distance from the overlaps after the first A phase\n"
                 "(gd_noise = paper protocol, overlap-space exact map of θ GD)", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[1]
    variants = [v for v in info["retained"]]
    for k, v in enumerate(variants):
        ax.plot(x, a[f"trace_inv_{v}"], color=COLORS[k], label=f"{v}: invisible")
        ax.plot(x, a[f"trace_vis_{v}"], color=COLORS[k], ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-9)
    _phase_shading(ax, bounds, decays)
    ax.set_xlabel("epoch")
    ax.set_ylabel("max |σ_history − σ_control|")
    ax.set_title("Trace of the B excursions vs a control that saw only A\n"
                 "(solid: invisible, dotted: visible)", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[2]
    vals = [info["retained"][v] for v in variants]
    ax.bar(range(len(variants)), vals, color=[COLORS[k] for k in range(len(variants))])
    ax.set_xticks(range(len(variants)), variants, rotation=20)
    for k, v in enumerate(variants):
        ax.text(k, vals[k], f"{info['trace_end_invisible'][v]:.1e}", ha="center", va="bottom",
                fontsize=7)
    ax.set_ylabel("retained = trace at end / peak trace")
    ax.set_title("History the invisible overlaps still carry at the end\n"
                 "(bar labels: trace at the end)", fontsize=10)
    fig.suptitle("Memory in loss-invisible overlaps: rank-1 linear, tasks exp(−c t) in sequence")
    return [_save(fig, folder, "memory.png")]


def draw_adam(outcome, folder) -> list[str]:
    """adam.png: loss, visible overlaps of two same-Σ starts under Adam vs GD, the invariant."""
    a, p = outcome.arrays, outcome.params
    names, rows, cols, vis = a["names"], a["rows"], a["cols"], a["visible"].astype(bool)
    x = a["epochs"]
    styles = {"adam": dict(color="C3", lw=2.2, alpha=0.55),
              "adam_rot": dict(color="C1", lw=1.2, ls="--"),
              "gd_theta": dict(color="k", lw=2.2, alpha=0.4),
              "exact": dict(color="C0", lw=1.6, ls=":")}
    labels = {"adam": "Adam, θ-space, start X₀", "adam_rot": "Adam, θ-space, rotated X₀ (same Σ)",
              "gd_theta": "GD, θ-space, rotated X₀", "exact": "GD, overlap exact map"}
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.6), constrained_layout=True)
    ax = axes[0]
    for r in styles:
        ax.plot(x, a[f"loss_{r}"], label=labels[r], **styles[r])
    ax.set_yscale("log")
    ax.set_xlabel("epoch (tasks in sequence)")
    ax.set_ylabel("loss (sum·dt)")
    ax.set_title("Loss")
    ax.legend(fontsize=7)
    _phase_shading(ax, a["bounds"], a["decays"])
    for ax, sel, label in ((axes[1], vis, "visible"), (axes[2], ~vis, "invisible")):
        for r in ("adam", "adam_rot", "exact"):
            for k, d in enumerate(np.flatnonzero(sel)):
                st = dict(styles[r])
                st["color"] = COLORS[k % 10]
                ax.plot(x, a[f"sigma_{r}"][:, rows[d], cols[d]], **st)
        handles = [Line2D([], [], color=COLORS[k % 10], label=f"σ_{names[d]}")
                   for k, d in enumerate(np.flatnonzero(sel))]
        handles += [Line2D([], [], color="gray", label=labels[r],
                           **{k: v for k, v in styles[r].items() if k != "color"})
                    for r in ("adam", "adam_rot", "exact")]
        ax.legend(handles=handles, fontsize=6, ncol=2)
        ax.set_xlabel("epoch")
        ax.set_ylabel("overlap value")
        ax.set_title(f"Loss-{label} overlaps")
        _phase_shading(ax, a["bounds"], a["decays"])
    ax = axes[3]
    for r in styles:
        q = a[f"conserved_{r}"]
        ax.plot(x, q - q[0], label=labels[r], **styles[r])
    ax.set_xlabel("epoch")
    ax.set_ylabel("tr(ΣJ) − initial  (σ_zz+σ_vv−σ_mm−σ_uu)")
    ax.set_title("Invariant of gradient flow: GD keeps it, Adam does not")
    ax.legend(fontsize=7)
    fig.suptitle(f"Adam (lr {p['adam_lr']}) vs GD (η {p['eta']}), rank-1 linear, N={p['N']}, "
                 "tasks exp(−c t) in sequence")
    return [_save(fig, folder, "adam.png")]


def _gaussianity_panels(ax_hist, ax_qq, X0, Xf, theo, qq, vec_names, label=""):
    for k, name in enumerate(vec_names):
        z0 = (X0[:, k] - X0[:, k].mean()) / X0[:, k].std()
        zf = (Xf[:, k] - Xf[:, k].mean()) / Xf[:, k].std()
        bins = np.linspace(-4, 4, 41)
        ax_hist.hist(zf, bins=bins, histtype="step", color=COLORS[k], density=True,
                     label=f"{name} learned")
        ax_hist.hist(z0, bins=bins, histtype="stepfilled", color=COLORS[k], alpha=0.12,
                     density=True)
        ax_qq.plot(theo, qq[:, k], ".", ms=2, color=COLORS[k], label=name)
    g = np.linspace(-4, 4, 200)
    ax_hist.plot(g, np.exp(-g**2 / 2) / np.sqrt(2 * np.pi), "k--", lw=1, label="N(0,1)")
    ax_hist.set_xlabel("standardised entry")
    ax_hist.set_ylabel("density")
    ax_hist.set_title(f"Entries of the vectors {label}\n(shaded: initial, lines: learned)",
                      fontsize=10)
    ax_hist.legend(fontsize=7)
    ax_qq.plot([-4, 4], [-4, 4], "k--", lw=1)
    ax_qq.set_xlabel("normal quantile")
    ax_qq.set_ylabel("sorted standardised entries")
    ax_qq.set_title(f"Normal Q-Q plot of the learned vectors {label}", fontsize=10)
    ax_qq.legend(fontsize=7, markerscale=4)


def draw_nonlinear(outcome, folder) -> list[str]:
    """nonlinear.png (loss, overlaps) and nonlinear_gaussianity.png (histograms, Q-Q)."""
    a, p = outcome.arrays, outcome.params
    modes = ["theta"] + list(p["modes"])
    fig = _runs_panels(a, modes, f"erf rank-1 network, flip-flop: θ-space (N={p['N']}) vs "
                       f"mean-field overlap space; GD η={p['eta']}, {p['epochs']} epochs, "
                       "same batches")
    names = [_save(fig, folder, "nonlinear.png")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)
    _gaussianity_panels(axes[0], axes[1], a["X0"], a["X_final"], a["qq_theory"], a["qq_final"],
                        [str(v) for v in a["vector_names"]], f"(θ-space, N={p['N']})")
    fig.suptitle("Do the learned loadings stay Gaussian? (the overlap closure assumes so)")
    names.append(_save(fig, folder, "nonlinear_gaussianity.png"))
    return names


def draw_optimizers(outcome, folder) -> list[str]:
    """optimizers.png: loss (θ vs mean-field exact map), closure error, Q-Q, summary bars."""
    a, p, info = outcome.arrays, outcome.params, outcome.info
    runs = [r for r in ("gd_small", "gd_large", "adam") if f"loss_{r}" in a]
    labels = {"gd_small": f"GD η={p['eta_small']} (flow-like)",
              "gd_large": f"GD η={p['eta_large']} (large steps)", "adam": f"Adam lr={p['adam_lr']}"}
    x = a["epochs"] + 1
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.6), constrained_layout=True)
    ax = axes[0]
    for k, r in enumerate(runs):
        ax.plot(x, a[f"loss_{r}"], color=COLORS[k], label=f"{labels[r]}: θ-space", **_style("theta"))
        if f"loss_exact_{r}" in a:
            ax.plot(x, a[f"loss_exact_{r}"], color=COLORS[k], label=f"{labels[r]}: overlap exact map",
                    **_style("exact"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel(f"loss ({p['loss']})")
    ax.set_title("Loss: θ-space vs mean-field overlap space")
    ax.legend(fontsize=7)
    ax = axes[1]
    for k, r in enumerate(runs):
        ax.plot(x, a[f"closure_{r}"], color=COLORS[k], label=labels[r])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel("|L_θ(X) − L_MF(Σ(X))| / L_θ(X)")
    ax.set_title("Closure error along each θ trajectory")
    ax.legend(fontsize=7)
    ax = axes[2]
    for k, r in enumerate(runs):
        q = a[f"qq_{r}"]
        j = int(np.argmax(np.abs(a[f"kurtosis_{r}"])))
        ax.plot(a["qq_theory"], q[:, j], ".", ms=2, color=COLORS[k],
                label=f"{labels[r]}: vector {a['vector_names'][j]}")
    ax.plot([-4, 4], [-4, 4], "k--", lw=1)
    ax.set_xlabel("normal quantile")
    ax.set_ylabel("sorted standardised entries")
    ax.set_title("Q-Q of the least Gaussian learned vector")
    ax.legend(fontsize=7, markerscale=4)
    ax = axes[3]
    w = 0.25
    keys = [("out_of_span_fraction", "out-of-span fraction"), ("closure_error_final",
            "closure error (end)"), ("max_abs_excess_kurtosis", "max |excess kurtosis|")]
    for k, r in enumerate(runs):
        vals = [max(info[key][r], 1e-16) for key, _ in keys]
        ax.bar(np.arange(len(keys)) + (k - 1) * w, vals, width=w, color=COLORS[k], label=labels[r])
    ax.set_xticks(range(len(keys)), [lab for _, lab in keys], fontsize=8)
    ax.set_yscale("log")
    ax.set_title("Departure from the overlap description")
    ax.legend(fontsize=7)
    fig.suptitle(f"erf rank-1, flip-flop, N={p['N']}, {p['epochs']} epochs, same batches for all")
    return [_save(fig, folder, "optimizers.png")]


def draw_metric(outcome, folder) -> list[str]:
    """metric.png: G(Σ_end) for linear and erf rank 1, structural zeros and visible columns marked."""
    a, info = outcome.arrays, outcome.info
    names = [f"σ_{n}" for n in a["names"]]
    zeros = a["zeros"].astype(bool)
    fig, axes = plt.subplots(1, 2, figsize=(14, 6.2), constrained_layout=True)
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
            t.set_color("C3" if vis[k] else "0.4")
            t.set_fontweight("bold" if vis[k] else "normal")
        for k in np.flatnonzero(vis):
            ax.add_patch(plt.Rectangle((k - 0.5, -0.5), 1, len(names), fill=False, ec="C3", lw=1))
        ax.set_xlabel("gradient component ∂L/∂σ (red, boxed: loss-visible)")
        ax.set_ylabel("velocity component dσ/dt")
        ax.set_title(f"rank-1 {label}: G(Σ) after learning\n{info[f'{label}_structural_zeros']} of "
                     f"{G.size} entries structurally zero ('0'); {info[f'{label}_n_visible']} "
                     "visible columns", fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.7, label="G entry")
    fig.suptitle("Overlap-space metric: dσ/dt = −η G(Σ) ∇_σL")
    return [_save(fig, folder, "metric.png")]


def _pca2(F):
    Z = (F - F.mean(0)) / np.where(F.std(0) > 0, F.std(0), 1.0)
    _, _, Vt = np.linalg.svd(Z, full_matrices=False)
    return Z @ Vt[:2].T


def draw_twins(outcome, folder) -> list[str]:
    """twins.png: loss per phase, overlaps before/after C coloured by history, decoder accuracy."""
    a, info = outcome.arrays, outcome.info
    rows, cols = a["rows"], a["cols"]
    hist = a["history"]
    S = len(hist) // 2
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.6), constrained_layout=True)
    ax = axes[0]
    for key, color, label in (("loss_a", "C0", "A: flip-flop (network 1)"),
                              ("loss_b", "C1", "B: decision making (network 2)")):
        L = a[key]
        x = np.arange(L.shape[1]) + 1
        ax.plot(x, L.T, color=color, alpha=0.15, lw=0.7)
        ax.plot(x, np.median(L, axis=0), color=color, lw=2, label=f"{label}, median")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel("loss (mean·T·dt)")
    ax.set_title(f"Phase 1 from {S} random starts (overlap space)")
    ax.legend(fontsize=7)
    ax = axes[1]
    L = a["loss_c"]
    x = np.arange(L.shape[1]) + 1
    for h, color, label in ((0, "C0", "history flip-flop"), (1, "C1", "history decision")):
        ax.plot(x, L[hist == h].T, color=color, alpha=0.15, lw=0.7)
        ax.plot(x, np.median(L[hist == h], axis=0), color=color, lw=2, label=f"{label}, median")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel("loss (mean·T·dt)")
    ax.set_title("Task C: imitate the teacher network")
    ax.legend(fontsize=7)
    ax = axes[2]
    keep = ~a["diverged"].astype(bool) if "diverged" in a else np.ones(len(hist), bool)
    for key, marker, label in (("sigma_ab", "o", "before C"), ("sigma_c", "^", "after C")):
        P2 = _pca2(a[key][keep][:, rows, cols])
        for h, color in ((0, "C0"), (1, "C1")):
            sel = hist[keep] == h
            ax.scatter(P2[sel, 0], P2[sel, 1], c=color, marker=marker, s=22,
                       alpha=0.8, label=f"{label}, {'flip-flop' if h == 0 else 'decision'}")
    ax.set_xlabel("PC 1 of standardised overlaps")
    ax.set_ylabel("PC 2")
    ax.set_title(f"The 10 overlaps (PCA per time point; {int((~keep).sum())} diverged left out)")
    ax.legend(fontsize=7)
    ax = axes[3]
    keys = [("before_c", "before C\n(all overlaps)"), ("after_c", "after C\n(all overlaps)"),
            ("after_c_invisible", "after C\n(invisible only)")]
    means = [info["accuracy_mean"][k] for k, _ in keys]
    sds = [info["accuracy_sd"][k] for k, _ in keys]
    ax.bar(range(3), means, yerr=sds, capsize=5, color=["C2", "C3", "C4"])
    ax.axhline(0.5, color="k", ls="--", lw=1, label="chance")
    ax.set_xticks(range(3), [lab for _, lab in keys], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("decoder accuracy (mean ± sd over CV splits)")
    ax.set_title("Logistic regression reads the history")
    ax.legend(fontsize=7)
    fig.suptitle("Twins study: which task did a network learn first? Read from its overlaps")
    return [_save(fig, folder, "twins.png")]
