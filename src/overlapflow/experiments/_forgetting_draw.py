"""The figures of the forgetting experiment: drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

import math

import numpy as np

from ..internal import new_figure, style
from ._drawing import BELOW, RIGHT, label_axes, phase_shading, save_figure

#: Line styles of the parameter values within one family (colour = family).
_DASHES = ("-", (0, (4, 1.5)), (0, (1, 1.2)), (0, (5, 1.5, 1, 1.5)), (0, (2, 2)),
           (0, (8, 2)))
_FAMILY_STYLE = {"gd": "gd_small", "momentum": "momentum", "decay": "decay", "noise": "noise"}
_FAMILY_NAME = {"gd": "plain GD", "momentum": "heavy-ball momentum", "decay": "weight decay",
                "noise": "weight noise (N → ∞ mean)"}
_SYMBOL = {"momentum": "μ", "decay": "λ", "noise": "T"}


def _label(fam: str, val: float) -> str:
    return "GD" if fam == "gd" else f"{_SYMBOL[fam]}={val:g}"


def _rule_styles(a):
    """[(k, family, value, line properties)] in the order of the run."""
    out, seen = [], {}
    for k, (fam, val) in enumerate(zip(a["rule_family"], a["rule_param"])):
        fam = str(fam)
        i = seen.get(fam, 0)
        seen[fam] = i + 1
        st = style(_FAMILY_STYLE[fam], linestyle=_DASHES[i % len(_DASHES)])
        out.append((k, fam, float(val), st))
    return out


def _floor(values, default=1e-16):
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    return max(float(v.min()) if v.size else default, 1e-16)


def draw_forgetting(outcome, folder) -> list[str]:
    """forgetting.png (retained history per rule; the history trace over the protocol) and
    forgetting_rates.png (late decay of the history with the predicted exponentials; one
    weight-decay run overlap by overlap; predicted vs measured rates)."""
    return [_draw_retained(outcome, folder), _draw_rates(outcome, folder)]


def _draw_retained(outcome, folder) -> str:
    a, p = outcome.arrays, outcome.params
    rules = _rule_styles(a)
    x = a["epochs"]
    fig = new_figure(figsize=(17, 6.0), layout="constrained")
    ax_bar, ax_tr = fig.subplots(1, 2, width_ratios=[1, 1.5])
    ret = np.asarray(a["retained"], dtype=np.float64)
    shown = np.where(ret > 0, ret, 1e-16)
    for k, fam, _, st in rules:
        ax_bar.bar(k, shown[k], color=st["color"], alpha=0.85 if fam != "gd" else 1.0)
        ax_bar.text(k, shown[k], f"{ret[k]:.2g}", ha="center", va="bottom", fontsize=7)
    ax_bar.set_xticks(range(len(rules)), [_label(f, v) for _, f, v, _ in rules], rotation=35,
                      ha="right", fontsize=8)
    ax_bar.set_yscale("log")
    ax_bar.set_ylim(bottom=max(min(1e-16, shown.min()) / 3, 1e-17), top=8.0)
    ax_bar.axhline(1.0, **style("reference"))
    ax_bar.set_ylabel("retained = history trace at the end / its peak")
    ax_bar.set_title("History of task B that the invisible overlaps still hold at the end\n"
                     "(1: all of it; bar labels: the value; 0 drawn at 1e-16)", fontsize=10)
    fams = []
    for _, fam, _, _ in rules:
        if fam not in fams:
            fams.append(fam)
    from matplotlib.patches import Patch

    ax_bar.legend(handles=[Patch(color=style(_FAMILY_STYLE[f])["color"], label=_FAMILY_NAME[f])
                           for f in fams], fontsize=8, ncol=2, **BELOW)
    for k, fam, val, st in rules:
        tr = np.asarray(a["trace"][:, k], dtype=np.float64)
        ax_tr.plot(x, np.where(tr > 0, tr, np.nan), label=f"{_FAMILY_NAME[fam]}"
                   + ("" if fam == "gd" else f", {_label(fam, val)}"), **st)
    ax_tr.set_yscale("log")
    ax_tr.set_ylim(bottom=max(_floor(a["trace"][1:]) / 3, 1e-17))
    ax_tr.set_xlim(0, float(x[-1]))
    phase_shading(ax_tr, a["bounds"], a["decays"])
    ax_tr.set_xlabel("epoch (tasks in sequence, A = c 0.2, B = c 0.4; shaded: B)")
    ax_tr.set_ylabel("history trace: max over invisible |σ_history − σ_control|")
    ax_tr.set_title("The history B leaves in the invisible overlaps, per rule (control: a run "
                    "that saw only A;\nzero, not drawn, before the first B; the noise runs lie on "
                    "the GD line)", fontsize=10)
    ax_tr.legend(fontsize=7, **RIGHT)
    fig.suptitle(f"Forgetting in loss-invisible overlaps: rank-1 linear network, tasks "
                 f"exp(−c t) in the sequence A, B, A, B, A; exact overlap maps of each rule, "
                 f"η={p.get('eta', '?')} (2η in the last phase)")
    return save_figure(fig, folder, "forgetting.png")


def _decay_case(a) -> int | None:
    """The weight-decay run drawn overlap by overlap: the largest λ whose window resolves its
    predicted rate (≥ 2 e-folds), preferring those whose history stays above the floor to the
    end of the run (the window reaches the end)."""
    fam = np.asarray(a["rule_family"]).astype(str)
    W = a["window"][:, 1] - a["window"][:, 0]
    dec = list(np.flatnonzero(fam == "decay"))
    ok = [k for k in dec if np.isfinite(a["rate_predicted"][k])
          and a["rate_predicted"][k] * W[k] >= 2.0] or dec
    if not ok:
        return None
    end = len(a["epochs"])
    return int(max(ok, key=lambda k: (a["window"][k, 1] >= end, a["rule_param"][k])))


def _draw_rates(outcome, folder) -> str:
    a = outcome.arrays
    rules = _rule_styles(a)
    x = a["epochs"]
    last = int(a["bounds"][-2])
    fig = new_figure(figsize=(19, 6.2), layout="constrained")
    ax_n, ax_ov, ax_r = fig.subplots(1, 3)
    # (a) the late decay of the history, normalised at the window start, with predictions
    for k, fam, val, st in rules:
        t_w, t_e = (int(v) for v in a["window"][k])
        t_s = int(a["settled"][k])
        seg = slice(last, len(x))
        ref = a["trace"][t_w, k]
        if not ref > 0:
            continue
        y = a["trace"][seg, k] / ref
        lab = "GD" if fam == "gd" else f"{_FAMILY_NAME[fam].split(' (')[0]} {_label(fam, val)}"
        ax_n.plot(x[seg] - last, np.where(y > 0, y, np.nan), label=lab, **st)
        r = a["rate_predicted"][k]
        if np.isfinite(r):
            t = np.arange(t_s, max(t_e, t_s + 1))
            ax_n.plot(t - last, np.exp(-r * (t - t_w)), color="k", linewidth=1.3,
                      linestyle=(0, (2, 2)), zorder=5)
        ax_n.plot([t_w - last], [1.0], marker="|", color=st["color"], markersize=12,
                  markeredgewidth=2)
    ax_n.plot([], [], color="k", linewidth=1.3, linestyle=(0, (2, 2)),
              label="predicted exp(−r t), r from the linearised map")
    ax_n.set_yscale("log")
    ax_n.set_ylim(bottom=1e-6, top=30)
    ax_n.set_xlabel("epoch of the last phase (task A, step 2η); | = start of the fit window")
    ax_n.set_ylabel("history trace / its value at the fit-window start")
    ax_n.set_title("Late decay of the history, measured (coloured) and predicted (black dashed,"
                   "\nfrom the epoch the loss stopped improving; flat at 1: kept)", fontsize=10)
    ax_n.legend(fontsize=7, ncol=2, **BELOW)
    # (b) one weight-decay run, overlap by overlap
    k = _decay_case(a)
    if k is not None:
        inv = np.flatnonzero(~a["visible"].astype(bool))
        seg = slice(last, len(x))
        diff = np.abs(a["sigma_hist"][seg, k] - a["sigma_ctrl"][seg, k])
        from ..internal import overlap_colors

        colors = overlap_colors(len(a["names"]))
        for i, d in enumerate(inv):  # own dash pattern per overlap: coinciding lines show
            ax_ov.plot(x[seg] - last, np.where(diff[:, d] > 0, diff[:, d], np.nan),
                       color=colors[d], linewidth=1.6, linestyle=_DASHES[i % len(_DASHES)],
                       label=f"σ_{a['names'][d]}")
        t_s, t_e = (int(v) for v in a["window"][k])
        r = a["rate_predicted"][k]
        top = float(np.max(diff[t_s - last][inv])) * 1.5
        t = np.arange(t_s, max(t_e, t_s + 1))
        if np.isfinite(r) and top > 0:
            ax_ov.plot(t - last, top * np.exp(-r * (t - t_s)), color="k", linewidth=1.2,
                       linestyle=(0, (2, 2)), label=f"predicted, rate {r:.3g}/epoch", zorder=5)
        rb = a["rate_block"][k]
        if np.isfinite(rb) and top > 0 and abs(rb - r) > 0.02 * abs(r):
            ax_ov.plot(t - last, top * np.exp(-rb * (t - t_s)), color="0.5", linewidth=1.0,
                       linestyle=(0, (1, 1.5)), zorder=5,
                       label=f"visible overlaps held fixed, rate {rb:.3g}/epoch")
        ax_ov.axvspan(t_s - last, t_e - last, color="0.94", zorder=0)
        ax_ov.set_yscale("log")
        ax_ov.set_ylim(bottom=max(TRACE_FLOOR_DRAW, _floor(diff[:, inv]) / 3))
        ax_ov.legend(fontsize=7, ncol=2, **BELOW)
        ax_ov.set_title(f"Weight decay λ={a['rule_param'][k]:g}: each invisible overlap of the "
                        "run that saw B\napproaches the control's (shaded: the fit window; "
                        "predictions offset ×1.5)",
                        fontsize=10)
    ax_ov.set_xlabel("epoch of the last phase")
    ax_ov.set_ylabel("|σ_history − σ_control|")
    # (c) predicted vs measured rates
    lo, hi = math.inf, 0.0
    kept = []
    for k, fam, val, st in rules:
        rp, rm, rb = a["rate_predicted"][k], a["rate_measured"][k], a["rate_block"][k]
        if fam != "decay":
            kept.append(f"{_label(fam, val) if fam != 'gd' else 'GD'} ({fam}): predicted "
                        f"{rp:.1e}, measured {rm:.1e}")
            continue
        if not (rp > 0 and rm > 0):
            continue
        W = a["window"][k, 1] - a["window"][k, 0]
        filled = rp * W >= 2.0
        ax_r.plot(rp, rm, marker="o", markersize=8, linestyle="none", color=st["color"],
                  markerfacecolor=st["color"] if filled else "white",
                  label=f"λ={val:g}" + ("" if filled else " (< 2 e-folds in the window)"))
        if rb > 0:
            ax_r.plot(rb, rm, marker="x", markersize=7, linestyle="none", color=st["color"])
        ri = a["rate_increments"][k]
        if ri > 0:
            ax_r.plot(rp, ri, marker="^", markersize=6, linestyle="none", color=st["color"],
                      alpha=0.6)
        lo, hi = min(lo, rp, rm, rb if rb > 0 else rp), max(hi, rp, rm, rb)
    if hi > 0:
        g = np.geomspace(lo / 2, hi * 2, 20)
        ax_r.plot(g, g, **style("reference"), label="measured = predicted")
        ax_r.fill_between(g, 0.9 * g, 1.1 * g, color="0.9", zorder=0, label="±10%")
        ax_r.plot([], [], marker="x", linestyle="none", color="0.3",
                  label="× abscissa: visible overlaps held fixed")
        ax_r.plot([], [], marker="^", linestyle="none", color="0.3", alpha=0.6,
                  label="▲ ordinate: the run's own approach")
    label_axes(ax_r, "predicted decay rate per epoch (linearised exact map)",
               "measured decay rate of the history per epoch",
               "Weight decay: predicted vs measured rates", xlog=hi > 0, ylog=hi > 0, fontsize=10)
    ax_r.legend(fontsize=7, ncol=2, **BELOW)
    if kept:
        ax_r.text(0.02, 0.98, "history kept (rates ≈ 0):\n" + "\n".join(kept),
                  transform=ax_r.transAxes, va="top", fontsize=6.5,
                  bbox=dict(facecolor="white", edgecolor="0.7", alpha=0.9))
    fig.suptitle("How fast learning rules forget: the decay of the history in the last phase, "
                 "predicted from the exact map linearised at the final overlaps")
    return save_figure(fig, folder, "forgetting_rates.png")


TRACE_FLOOR_DRAW = 1e-13
