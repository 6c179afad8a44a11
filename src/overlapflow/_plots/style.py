"""The one style table of every figure, and the shared drawing of overlap families.

Every name that appears in more than one figure (a mode of `compare`, a run of an experiment)
has one colour, one line style and one width, here; figures look them up with `style(name)`
and never choose their own. θ-space is a thick translucent line drawn first; the overlap-space
modes are thinner broken lines on top of it, so agreement shows as a broken line running
inside the thick one.

`mode_label` names what each mode computed, in one place for every table, legend and
summary.json: for a nonlinear φ the overlap-space modes run on the Gaussian closure of
docs/theory.md §3.2 ("closure: exact map"), for a linear φ on the network itself ("overlap:
exact map").

`draw_overlaps` draws a family of overlap trajectories (colour = overlap, line style = mode or
run) and makes coinciding curves visible: a curve equal to an earlier one of the same panel
(max |a − b| < `COINCIDE_RTOL` · the panel's range) is drawn as markers on top of it, at an
offset per curve, and its legend entry says so: "σ_zz = σ_mm" where it lies on σ_mm in every
mode; "σ_vv¹" where it depends on the mode, with the note "¹ σ_vv coincides with σ_uu in θ,
exact and flow; with σ_mm in direct" at the end of the legend.

Drawing only, and matplotlib without pyplot: importing this module (or any figure module)
never selects or changes matplotlib's backend.
"""

from __future__ import annotations

import textwrap

import numpy as np

__all__ = ["STYLES", "MODE_STYLES", "MODE_LABELS", "COINCIDE_RTOL", "style", "line_style",
           "color", "overlap_colors", "coincident_partner", "draw_overlaps", "legend_handle",
           "mode_label", "coincidence_label", "new_figure"]

_THICK = dict(linestyle="-", linewidth=2.6, alpha=0.45, zorder=2)

#: name → matplotlib line properties. Modes of `overlapflow compare` (docs/theory.md §4), then the runs
#: of the experiments, then the two-network studies. A name in one figure has the same colour,
#: line style and width in every other.
STYLES: dict[str, dict] = {
    # modes: θ-space underneath, overlap-space modes on top of it
    "theta": dict(color="k", **_THICK),
    "exact": dict(color="#d62728", linestyle=(0, (3.7, 1.6)), linewidth=1.4, zorder=4),
    "flow": dict(color="#ff7f0e", linestyle=(0, (1, 1.5)), linewidth=1.8, zorder=4),
    "euler": dict(color="#2ca02c", linestyle="-.", linewidth=1.3, zorder=4),
    "direct": dict(color="#9467bd", linestyle=(0, (5, 2, 1, 2, 1, 2)), linewidth=1.3, zorder=4),
    "limit": dict(color="#8c564b", linestyle=(0, (3, 1, 1, 1)), linewidth=1.5, zorder=3),
    # optimizers and protocols of the experiments (memory, adam, optimizers)
    "gd_small": dict(color="#1f77b4", linestyle="-", linewidth=1.8, zorder=3),
    "gd_large": dict(color="#17becf", linestyle="-", linewidth=1.8, zorder=3),
    "gd_noise": dict(color="#bcbd22", linestyle="-", linewidth=3.0, alpha=0.6, zorder=2),
    "gd_theta": dict(color="k", **_THICK),
    "adam": dict(color="#e377c2", linestyle="-", linewidth=2.2, alpha=0.7, zorder=3),
    "adam_rot": dict(color="#6a3d9a", linestyle=(0, (7, 1.5, 1, 1.5)), linewidth=1.3, zorder=4),
    # two networks compared (degeneracy: a network and its twin; twins study: tasks A, B, C)
    "original": dict(color="#1b9e77", linestyle="-", linewidth=2.6, alpha=0.55, zorder=2),
    "twin": dict(color="#d95f02", linestyle=(0, (3.7, 1.6)), linewidth=1.2, zorder=4),
    "task_a": dict(color="#1f77b4", linestyle="-", linewidth=1.3, zorder=3),
    "task_b": dict(color="#ff7f0e", linestyle="-", linewidth=1.3, zorder=3),
    "teacher": dict(color="k", linestyle="-", linewidth=2.8, alpha=0.35, zorder=2),
    # overlap classes and references
    "visible": dict(color="#2ca02c", linestyle="-", linewidth=1.5, zorder=3),
    "invisible": dict(color="#9467bd", linestyle="-", linewidth=1.5, zorder=3),
    "all": dict(color="#7f7f7f", linestyle="-", linewidth=1.5, zorder=3),
    "reference": dict(color="0.4", linestyle=(0, (1, 1.5)), linewidth=1.0, zorder=1),
    # learning-rule families of the forgetting experiment (plain GD there is "gd_small")
    "momentum": dict(color="#6a51a3", linestyle="-", linewidth=1.6, zorder=3),
    "decay": dict(color="#d94801", linestyle="-", linewidth=1.6, zorder=3),
    "noise": dict(color="#238b45", linestyle="-", linewidth=1.6, zorder=3),
}

_MODES = ("theta", "exact", "flow", "euler", "direct", "limit")

#: mode → line properties without the colour (the overlap panels colour by overlap).
MODE_STYLES: dict[str, dict] = {
    m: {k: v for k, v in STYLES[m].items() if k != "color"} for m in _MODES
}

#: mode → what it computes (docs/theory.md §4.8); the Σ-space modes get a prefix (`mode_label`).
_METHODS = {
    "theta": "θ-space (network)",
    "exact": "exact map",
    "flow": "gradient flow",
    "euler": "Euler step",
    "direct": "direct (identity metric)",
    "limit": "N → ∞ limit (quadrature nodes)",
}
_SIGMA_MODES = ("exact", "flow", "euler", "direct")


def mode_label(mode: str, *, linear: bool = True) -> str:
    """What `mode` computed, as tables, legends and summary.json name it (the mode if unknown).

    The Σ-space modes (exact, flow, euler, direct) learn the network itself when φ is linear
    ("overlap: exact map") and the Gaussian closure of docs/theory.md §3.2 otherwise
    ("closure: exact map"), from which θ-space training departs by an amount that does not
    shrink with N (§4.6); theta is the network and limit the N → ∞ network on quadrature
    nodes (§8), whatever φ.

    Args:
        mode: a mode of `overlapflow compare` ("theta", "exact", ...).
        linear: whether the network's φ is linear (`NetworkSpec.is_linear`).
    """
    method = _METHODS.get(mode, mode)
    if mode in _SIGMA_MODES:
        return f"{'overlap' if linear else 'closure'}: {method}"
    return method


#: mode → its label for a linear network (`mode_label(mode)`); nonlinear: `mode_label`.
MODE_LABELS = {m: mode_label(m) for m in _MODES}

#: Two curves of a panel coincide when max |a − b| < COINCIDE_RTOL · (the panel's range).
COINCIDE_RTOL = 1e-3

_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*", "<", ">")


def style(name: str, **overrides) -> dict:
    """The line properties of `name` (colour included), updated by `overrides`."""
    out = dict(STYLES.get(name, dict(linestyle="-", linewidth=1.3, zorder=3)))
    out.update(overrides)
    return out


def line_style(name: str, **overrides) -> dict:
    """`style(name)` without the colour: for panels whose colour means something else."""
    out = style(name, **overrides)
    out.pop("color", None)
    return out


def color(name: str):
    """The colour of `name` (None, the next colour of the cycle, for an unknown name)."""
    return STYLES.get(name, {}).get("color")


def overlap_colors(n: int) -> list:
    """`n` distinct colours: tab10 up to 10, then tab20 (its 10 dark colours, then the light)."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](k) for k in range(max(n, 0))]
    tab20 = colormaps["tab20"]
    order = list(range(0, 20, 2)) + list(range(1, 20, 2))
    if n <= 20:
        return [tab20(order[k]) for k in range(n)]
    return [colormaps["turbo"](v) for v in np.linspace(0.05, 0.95, n)]


def _finite_range(values) -> float:
    v = np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in values] or [[]])
    v = v[np.isfinite(v)]
    if not v.size:
        return 0.0
    span = float(v.max() - v.min())
    return span if span > 0 else max(float(np.abs(v).max()), 1e-300)


def _same(a, b, tol: float) -> bool:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any() or (np.isfinite(a) != np.isfinite(b)).any():
        return False
    return bool(np.max(np.abs(a[ok] - b[ok])) < tol)


def coincident_partner(curves, k: int, *, tol: float) -> int | None:
    """Index of the first curve before `curves[k]` that coincides with it (None if none)."""
    for j in range(k):
        if _same(curves[j], curves[k], tol):
            return j
    return None


def legend_handle(name: str, label: str, **overrides):
    """A legend entry drawn in the style of `name` (alpha raised so that it reads)."""
    from matplotlib.lines import Line2D

    st = style(name, **overrides)
    st.pop("zorder", None)
    if st.get("alpha", 1.0) < 0.6:
        st["alpha"] = 0.6
    return Line2D([], [], label=label, **st)


_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
#: Characters per line of a coincidence note (the legends sit beside narrow panels).
NOTE_WIDTH = 38


def _and_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def coincidence_label(label: str, partners: dict[str, list[str]], n_drawn: int,
                      number: int) -> tuple[str, str | None]:
    """The legend entry of overlap `label` and its note (None when the entry says it all).

    Args:
        label: the overlap's name ("σ_vv").
        partners: {earlier overlap: the keys (short names) in which `label`'s curve lies on
            that overlap's}, in the order met; empty: no coincidence.
        n_drawn: how many keys `label` has curves for.
        number: the note's number, written as a superscript.

    Returns:
        ("σ_zz = σ_mm", None) when the curve lies on one overlap in every key; else the entry
        carries a note mark, "σ_vv¹", and the note says where the curve lies: "¹ σ_vv
        coincides with σ_uu in θ, exact and flow; with σ_mm in direct" ("... in direct only"
        when in the other keys it lies on no other curve).
    """
    if not partners:
        return label, None
    (first, keys), *_ = partners.items()
    if len(partners) == 1 and len(keys) == n_drawn:
        return f"{label} = {first}", None
    mark = str(number).translate(_SUPERSCRIPTS)
    parts = [f"{p} in {_and_list(ks)}" for p, ks in partners.items()]
    only = " only" if sum(len(ks) for ks in partners.values()) < n_drawn else ""
    return f"{label}{mark}", f"{mark} {label} coincides with {'; with '.join(parts)}{only}"


def draw_overlaps(ax, x, overlaps, keys, *, styles=None, short=None, rtol=COINCIDE_RTOL):
    """Draw a family of overlap trajectories; colour = overlap, line style = key (mode, run).

    Args:
        ax: the axes.
        x: (E,) abscissa.
        overlaps: [(label, {key: (E,) values})], e.g. [("σ_mm", {"theta": ..., "exact": ...})].
        keys: the keys to draw, in drawing order (the first underneath).
        styles: key → line properties without colour (default `line_style(key)`).
        short: key → short name used in legend notes (default: θ for theta, else the key).
        rtol: curves closer than rtol · (range of the panel) coincide.

    A curve that coincides with an earlier overlap's curve of the same key is drawn as markers
    on top of it (one marker shape per overlap, offset per curve), so both stay visible; if it
    also coincides with its own curve of an earlier key (the same place), it is not redrawn.

    Returns:
        legend handles: one per overlap, in order, labelled by `coincidence_label` ("σ_zz =
        σ_mm"; "σ_vv¹" where the coincidence depends on the key), then one handle
        without a line per note ("¹ σ_vv coincides with σ_uu in θ, exact; with σ_mm in
        direct", wrapped to `NOTE_WIDTH` characters).
    """
    from matplotlib.lines import Line2D

    styles = styles or {}
    short = dict({"theta": "θ"}, **(short or {}))
    colors = overlap_colors(len(overlaps))
    present = [k for k in keys if any(k in ys for _, ys in overlaps)]
    tol = rtol * _finite_range([y for _, ys in overlaps for y in ys.values()])
    handles = []
    notes = []
    n_marked = 0
    for i, (label, ys) in enumerate(overlaps):
        c = colors[i]
        partners: dict[str, list[str]] = {}
        marker = _MARKERS[n_marked % len(_MARKERS)]
        marked = False
        drawn: list = []  # this overlap's curves of earlier keys, drawn or marked
        for m_idx, key in enumerate(present):
            if key not in ys:
                continue
            y = np.asarray(ys[key], dtype=np.float64)
            same = [ov[1][key] if key in ov[1] else np.full_like(y, np.nan)
                    for ov in overlaps[:i]] + [y]
            j = coincident_partner(same, i, tol=tol)
            st = dict(styles.get(key) or line_style(key))
            st.pop("color", None)
            if j is None:
                ax.plot(x, y, color=c, **st)
            else:
                partners.setdefault(overlaps[j][0], []).append(short.get(key, key))
                if not any(_same(y, prev, tol) for prev in drawn):
                    offset = 0.1 * ((0.37 * n_marked + 0.19 * m_idx) % 1.0)
                    ax.plot(x, y, color=c, linestyle="none", marker=marker, markersize=5.5,
                            markeredgecolor="white", markeredgewidth=0.6,
                            markevery=(offset, 0.1), zorder=6)
                    marked = True
            drawn.append(y)
        label, note = coincidence_label(label, partners, sum(1 for k in present if k in ys),
                                        len(notes) + 1)
        if note is not None:
            notes.append(note)
        if marked:
            n_marked += 1
        handles.append(Line2D([], [], color=c, lw=1.6, label=label,
                              marker=marker if marked else None, markersize=5.5,
                              markeredgecolor="white", markeredgewidth=0.6))
    for note in notes:
        text = textwrap.fill(note, NOTE_WIDTH, subsequent_indent="  ")
        handles.append(Line2D([], [], linestyle="none", label=text))
    return handles


def new_figure(**kwargs):
    """A `matplotlib.figure.Figure` (no pyplot: no backend is selected, nothing global kept)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)
