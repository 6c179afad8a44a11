"""The figure of a sweep (sweep.png): final loss against each grid axis, and its spread.

One panel per grid key: the final loss of every run at each value of that key, as the median
over the seeds and the other keys' values (markers and line) and their 10–90 % range (band);
one line per mode. A last panel is the histogram of the final losses of all runs, per mode.
Loss axes are logarithmic where the losses span more than a decade. Diverged runs are left
out and counted in the title. Drawing only: arrays in, a PNG out (no pyplot).
"""

from __future__ import annotations

import numpy as np

from .._support.io import save_figure_atomic
from .style import new_figure, style

__all__ = ["sweep_figure", "plot_sweep", "AXIS_LABELS"]

#: Axis labels (name and unit) of the grid keys that have one; other keys are shown as given.
AXIS_LABELS = {
    "train.eta": "learning rate η (train.eta)",
    "train.epochs": "epochs (train.epochs)",
    "train.momentum": "momentum μ (train.momentum)",
    "train.weight_decay": "weight decay λ (train.weight_decay)",
    "train.noise_temperature": "noise temperature T (train.noise_temperature)",
    "train.clip_norm": "gradient-norm clip c (train.clip_norm)",
    "network.N": "neurons N (network.N)",
    "network.rank": "rank R (network.rank)",
    "network.dt": "time step dt (network.dt, time units)",
    "task.t_max": "trial length t_max (task.t_max, time units)",
    "task.decay": "target decay rate (task.decay, 1 / time unit)",
    "task.omega": "target frequency ω (task.omega, rad / time unit)",
    "task.noise_sd": "input noise s.d. (task.noise_sd)",
}

_LOW, _HIGH = 10, 90  # percentiles of the band


def _spans_decades(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return v.size > 0 and bool(np.all(v > 0)) and v.max() > 10 * v.min()


def _numeric(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _axis_panel(ax, key: str, column: list, final: dict[str, np.ndarray], labels: dict) -> None:
    levels = list(dict.fromkeys(column))  # in grid order
    numeric = _numeric(levels)
    if numeric:
        levels = sorted(levels)
    x = np.array(levels, dtype=float) if numeric else np.arange(len(levels), dtype=float)
    which = [np.array([c == level for c in column]) for level in levels]
    for mode, loss in final.items():
        med, lo, hi = (np.full(len(levels), np.nan) for _ in range(3))
        for i, rows in enumerate(which):
            v = loss[rows]
            v = v[np.isfinite(v)]
            if v.size:
                med[i] = np.median(v)
                lo[i], hi[i] = np.percentile(v, [_LOW, _HIGH])
        line = style(mode)
        ax.fill_between(x, lo, hi, color=line.get("color"), alpha=0.15, linewidth=0)
        ax.plot(x, med, marker="o", markersize=4, label=labels[mode], **line)
    if numeric and _spans_decades(x):
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(x, [str(v) for v in levels])
    ax.set_xlabel(AXIS_LABELS.get(key, key))


def sweep_figure(grid: dict[str, list], final: dict[str, np.ndarray], *, labels: dict[str, str],
                 epochs: int, loss_kind: str, n_seeds: int, diverged: dict[str, int]):
    """A `matplotlib.figure.Figure` of a sweep's final losses.

    Args:
        grid: {grid key: its value for each run} (n_runs values each); {} without a grid.
        final: {mode: (n_runs,) final loss of each run (NaN: diverged, not drawn)}.
        labels: {mode: legend label}.
        epochs: epochs of each run; loss_kind: the config's [loss] kind (the y label).
        n_seeds: seeds per grid point; diverged: {mode: number of diverged runs}.
    """
    n_panels = len(grid) + 1
    fig = new_figure(figsize=(4.6 * n_panels, 4.2), layout="constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    pooled = np.concatenate([v for v in final.values()]) if final else np.zeros(0)
    log_loss = _spans_decades(pooled)
    loss_label = f"final loss ({loss_kind}, after {epochs} epochs)"
    for ax, (key, column) in zip(axes, grid.items()):
        _axis_panel(ax, key, column, final, labels)
        if log_loss:
            ax.set_yscale("log")
        ax.set_ylabel(loss_label)
        over = "seeds and the other keys" if len(grid) > 1 else "seeds"
        ax.set_title(f"median and {_LOW}–{_HIGH} % range over {over}", fontsize=10)
        ax.legend(fontsize=8)
    ax = axes[-1]
    finite = pooled[np.isfinite(pooled)]
    if finite.size:
        if log_loss:
            bins = np.geomspace(finite.min(), finite.max(), 31)
            ax.set_xscale("log")
        else:
            lo, hi = float(finite.min()), float(finite.max())
            bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 31)
        for mode, loss in final.items():
            line = style(mode)
            ax.hist(loss[np.isfinite(loss)], bins=bins, histtype="step", label=labels[mode],
                    **{k: line[k] for k in ("color", "linestyle", "linewidth", "alpha", "zorder")
                       if k in line})
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no finite final loss", transform=ax.transAxes, ha="center")
    ax.set_xlabel(loss_label)
    ax.set_ylabel("runs")
    ax.set_title("final loss of every run", fontsize=10)
    n_runs = pooled.size // max(len(final), 1)
    keys = " × ".join(grid) if grid else "no grid"
    title = (f"Sweep: final loss of {n_runs} runs ({keys}; {n_seeds} seed"
             f"{'s' if n_seeds != 1 else ''} per point)")
    lost = {m: k for m, k in diverged.items() if k}
    if lost:
        title += "; diverged, not drawn: " + ", ".join(f"{k} {labels[m]}" for m, k in lost.items())
    fig.suptitle(title)
    return fig


def plot_sweep(path, grid, final, **kwargs) -> None:
    """Draw `sweep_figure(grid, final, **kwargs)` and write it to `path` (PNG), atomically."""
    save_figure_atomic(sweep_figure(grid, final, **kwargs), path, dpi=110)
