"""Figures of the twins study (drawing only): overview, one twin pair, overlap trajectories.

- twins.png — losses of every start in each phase, and the decoder's accuracy per stage,
  feature set and noise level (the paper's Figure 4d–f);
- twins_pair.png — one pair of networks from the same start: losses across all phases,
  overlaps of network 1 against network 2 after A/B and after C, and their outputs on the
  flip-flop, on decision making (trained and unseen coherences) and on task C (Figure 9);
- twins_trajectories.png — all 10 overlaps of that pair across the phases (Figure 10).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..internal import new_figure, plots_style, save_figure_atomic, style

__all__ = ["draw_twins"]

# Colours from the one style table (overlapflow._plots.style): task A / network 1, task B / network 2,
# the teacher of task C, and the overlap classes (visible, invisible, all).
A_COLOR, B_COLOR = style("task_a")["color"], style("task_b")["color"]
TEACHER_COLOR = style("teacher")["color"]
VIS_COLOR, INV_COLOR, ALL_COLOR = (style(k)["color"] for k in ("visible", "invisible", "all"))
#: What was computed: every network is learned in overlap space, on the erf network's closure.
METHOD = f"rank-1 erf in overlap space, {plots_style.mode_label('exact', linear=False)}"


def _figure(*args, **kwargs):
    return new_figure(*args, **kwargs)


def save_figure(fig, folder, name: str) -> str:
    save_figure_atomic(fig, Path(folder) / name, dpi=100)
    return name


def _log_epochs(ax):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")


def _overview(a: dict, info: dict, folder) -> str:
    hist = a["history"]
    S = len(hist) // 2
    fig = _figure(figsize=(18, 5), constrained_layout=True)
    axes = fig.subplots(1, 3)
    ax = axes[0]
    for key, color, label in (("loss_a", A_COLOR, "A: flip-flop (network 1)"),
                              ("loss_b", B_COLOR, "B: decision making (network 2)")):
        L = a[key]
        x = np.arange(L.shape[1]) + 1
        ax.plot(x, L.T, color=color, alpha=0.15, lw=0.7)
        ax.plot(x, np.median(L, axis=0), color=color, lw=2, label=f"{label}, median")
    _log_epochs(ax)
    ax.set_ylabel("masked mean-squared error")
    ax.set_title(f"First task from {S} random starts (thin: each start)")
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[1]
    L = a["loss_c"]
    x = np.arange(L.shape[1]) + 1
    for h, color, label in ((0, A_COLOR, "history A (flip-flop)"),
                            (1, B_COLOR, "history B (decision)")):
        ax.plot(x, L[hist == h].T, color=color, alpha=0.15, lw=0.7)
        ax.plot(x, np.median(L[hist == h], axis=0), color=color, lw=2, label=f"{label}, median")
    _log_epochs(ax)
    ax.set_ylabel("loss: mean squared error × T·dt")
    ax.set_title("Task C: imitate the teacher network")
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[2]
    acc = info["decoder_accuracy"]
    stages = [("start", "start"), ("after_ab", "after A/B"), ("after_c", "after C")]
    sets = [("visible", f"{info['n_visible']} visible", VIS_COLOR),
            ("invisible", f"{info['n_invisible']} invisible", INV_COLOR), ("all", "all", ALL_COLOR)]
    noise_keys = sorted(acc["start"]["all"], key=lambda k: float(k.split("_")[1]))
    width = 0.8 / (len(sets) * len(noise_keys))
    k = 0
    for fs, label, color in sets:
        for j, nk in enumerate(noise_keys):
            m = [acc[st][fs][nk]["mean"] for st, _ in stages]
            sd = [acc[st][fs][nk]["sd"] for st, _ in stages]
            pos = np.arange(len(stages)) - 0.4 + width * (k + 0.5)
            noise = float(nk.split("_")[1])
            ax.bar(pos, m, width, yerr=sd, capsize=3, color=color,
                   hatch="//" if j else None, edgecolor="white" if j else color,
                   label=f"{label}" + (f", noise sd {noise:g}" if noise else ", no noise"))
            k += 1
    ax.axhline(0.5, color="k", ls="--", lw=1, label="chance")
    ax.set_xticks(range(len(stages)), [lab for _, lab in stages])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel(f"accuracy (mean ± sd over {info['n_splits']} splits)")
    ax.set_title("Which task came first? Logistic regression on the overlaps")
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    fig.suptitle("Twins study: the history of learning stays in the overlaps, invisible ones "
                 f"included ({METHOD})")
    return save_figure(fig, folder, "twins.png")


def _bookkeeping(a: dict):
    """(S starts, overlap names, rows, cols, visible mask) from the results arrays."""
    return (len(a["history"]) // 2, a["names"], a["rows"], a["cols"],
            a["visible"].astype(bool))


def _pair(a: dict, folder) -> str:
    S, names, rows, cols, vis = _bookkeeping(a)
    fig = _figure(figsize=(18, 9), constrained_layout=True)
    axes = fig.subplots(2, 3)
    ax = axes[0, 0]
    E = a["loss_a"].shape[1] - 1
    x1 = np.arange(E + 1)
    for loss1, loss_c, color, label in ((a["loss_a"][0], a["loss_c"][0], A_COLOR,
                                         "network 1: A (flip-flop), then C"),
                                        (a["loss_b"][0], a["loss_c"][S], B_COLOR,
                                         "network 2: B (decision), then C")):
        ax.plot(x1, loss1, color=color, label=label)
        ax.plot(E + 1 + x1, loss_c, color=color, ls="--")
    ax.axvline(E + 0.5, color="gray", lw=1)
    ax.text(E * 0.5, 1.02, "first task: masked MSE", transform=ax.get_xaxis_transform(),
            ha="center", fontsize=8)
    ax.text(E * 1.5, 1.02, "task C: MSE × T·dt (dashed)", transform=ax.get_xaxis_transform(),
            ha="center", fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("epoch (all phases)")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8, loc="lower left")
    for ax, key, title in ((axes[0, 1], "sigma_ab", "after A / B"),
                           (axes[0, 2], "sigma_c", "after C")):
        f1 = a[key][0][rows, cols]
        f2 = a[key][S][rows, cols]
        lo, hi = min(f1.min(), f2.min()), max(f1.max(), f2.max())
        pad = 0.05 * (hi - lo + 1e-12)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="gray", lw=1, label="equal")
        ax.scatter(f1[vis], f2[vis], color=VIS_COLOR, label="loss-visible", zorder=3)
        ax.scatter(f1[~vis], f2[~vis], color=INV_COLOR, marker="s", label="loss-invisible",
                   zorder=3)
        for d in range(len(names)):
            ax.annotate(f"σ_{names[d]}", (f1[d], f2[d]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel("overlap of network 1 (history A)")
        ax.set_ylabel("overlap of network 2 (history B)")
        ax.set_title(f"The 10 overlaps of the pair {title}")
        ax.legend(fontsize=8, loc="upper left")
    dt = float(a["dt"])
    ax = axes[1, 0]
    T = a["ff_x"].shape[1]
    t = (np.arange(T) + 1) * dt
    ax.plot(t, a["ff_x"][0, :, 0], color="0.6", lw=1, label="input pulses")
    ax.plot(t, a["ff_target"][0, :, 0], color=TEACHER_COLOR, lw=2.5, alpha=0.35, label="target")
    ax.plot(t, a["ff_out"][0, :, 0], color=A_COLOR, lw=1.3, label="network 1 output")
    off = a["ff_mask"][0, :, 0] == 0
    ax.fill_between(t, 0, 1, where=off, transform=ax.get_xaxis_transform(), color="0.9",
                    label="not in the loss (mask 0)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("value")
    ax.set_title("Flip-flop after A (network 1)")
    ax.legend(fontsize=7, loc="lower right")
    ax = axes[1, 1]
    cohs = a["dm_coherences"]
    trained = a["dm_trained"].astype(bool)
    from matplotlib import colormaps

    cmap = colormaps["coolwarm"]
    for k, c in enumerate(cohs):
        color = cmap(0.5 + 0.5 * c / max(abs(cohs).max(), 1e-12))
        td = (np.arange(a["dm_out"].shape[1]) + 1) * dt
        ax.plot(td, a["dm_out"][k, :, 0], color=color, ls="-" if trained[k] else "--",
                label=f"coh {c:+g}%" + ("" if trained[k] else " (unseen)"))
        ax.plot(td, a["dm_target"][k, :, 0], color=color, lw=0.8, alpha=0.5, ls=":")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("output (dotted: target coh/16 in the response window)")
    ax.set_title("Decision making after B (network 2)")
    ax.legend(fontsize=6, ncol=2, loc="upper left")
    ax = axes[1, 2]
    tc = (np.arange(a["c_x"].shape[1]) + 1) * dt
    ax.plot(tc, a["c_target"][0, :, 0], color=TEACHER_COLOR, lw=3, alpha=0.35,
            label="teacher")
    ax.plot(tc, a["c_out"][0, 0, :, 0], color=A_COLOR, lw=1.3,
            label="student: network 1")
    ax.plot(tc, a["c_out"][1, 0, :, 0], color=B_COLOR, lw=1.0, ls="--",
            label="student: network 2 (dashed: drawn on top)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("output")
    ax.set_title("Task C after learning: teacher and both students")
    ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("One twin pair: same start, different first task (network 1: flip-flop, "
                 f"network 2: decision making), then the same task C ({METHOD})")
    return save_figure(fig, folder, "twins_pair.png")


def _trajectories(a: dict, folder) -> str:
    S, names, rows, cols, vis = _bookkeeping(a)
    e = a["traj_epochs"]
    E = int(e[-1])
    x = np.r_[e, E + e]
    fig = _figure(figsize=(18, 7), constrained_layout=True)
    axes = fig.subplots(2, 5).ravel()
    order = np.r_[np.flatnonzero(vis), np.flatnonzero(~vis)]
    for ax, d in zip(axes, order):
        for idx, color, label in ((0, A_COLOR, "network 1 (A, then C)"),
                                  (S, B_COLOR, "network 2 (B, then C)")):
            y = np.r_[a["traj_ab"][idx][:, rows[d], cols[d]], a["traj_c"][idx][:, rows[d], cols[d]]]
            ax.plot(x, y, color=color, label=label)
        ax.axvline(E, color="gray", lw=1)
        if vis[d]:
            ax.axhline(a["teacher"][rows[d], cols[d]], color="k", ls=":", lw=1,
                       label="teacher's value (task C)")
        ax.set_title(f"σ_{names[d]} ({'visible' if vis[d] else 'invisible'})", fontsize=10)
        ax.set_xlabel("epoch (first task | task C)")
    handles, labels = axes[0].get_legend_handles_labels()  # a visible overlap: all three lines
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=9)
    fig.suptitle("All 10 overlaps of one twin pair across the phases (grey line: start of C; "
                 f"{METHOD})")
    return save_figure(fig, folder, "twins_trajectories.png")


def draw_twins(outcome, folder) -> list[str]:
    """Write twins.png, twins_pair.png and twins_trajectories.png; return their names."""
    a, info = outcome.arrays, outcome.info
    return [_overview(a, info, folder), _pair(a, folder), _trajectories(a, folder)]
