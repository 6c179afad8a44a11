"""The figures of the memory experiment: drawing only, from its `Outcome` (style: `_drawing`)."""

from __future__ import annotations

from ..internal import new_figure, style
from ._drawing import (
    BELOW,
    label_axes,
    phase_shading,
    save_figure,
)


def _history_axes(ax, bounds, decays, xlabel: str, ylabel: str, title: str) -> None:
    """Log y from 1e-9, the phases shaded, labels, title and a legend below the axes."""
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-9)
    phase_shading(ax, bounds, decays)
    label_axes(ax, xlabel, ylabel, title, fontsize=10)
    ax.legend(fontsize=7, ncol=2, **BELOW)


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
    _history_axes(ax, bounds, decays, "epoch (tasks in sequence; shaded: task B)",
                  "max |σ − σ after first A|",
                  "Distance from the overlaps after the first A phase\n"
                  "(overlap-space exact map of θ GD; solid: invisible, dotted: visible)")
    ax = axes[1]
    variants = [v for v in info["retained"]]
    for v in variants:
        note = " (= gd_small before the last phase)" if v == "gd_noise" else ""
        ax.plot(x, a[f"trace_inv_{v}"], label=f"{v}: invisible{note}", **style(v))
        ax.plot(x, a[f"trace_vis_{v}"], label=f"{v}: visible",
                **style(v, linestyle=(0, (1, 1.5)), linewidth=1.0))
    _history_axes(ax, bounds, decays, "epoch", "max |σ_history − σ_control|",
                  "Trace of the B excursions vs a control that saw only A\n"
                  "(solid: invisible, dotted: visible)")
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
    return [save_figure(fig, folder, "memory.png")]
