"""DIR/index.html: one offline page with every experiment's figures and checks.

The page needs no network. At the top: overlapflow's version, the date, the command line and
the machine (from the `provenance` of the summaries, else computed here). Per experiment: its
checks (status, claim, value, threshold) and its figures, one per row at their natural width
(never shrunk below ~900 px: wider ones scroll sideways), each linking to the full-size file
and with a caption saying how to read it (`CAPTIONS`). `self_contained=True` embeds the images
as base64 data URIs, so that the one file can be mailed.

A small inline script records, once the page has loaded, how many images decoded:
`<body data-images="ok/total">` (read by the tests through a headless browser).
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import os
import platform
import struct
import sys
from pathlib import Path

from .._support.io import to_jsonable, write_atomic

__all__ = ["write_index", "CAPTIONS"]

#: Figures narrower than this keep their natural width; wider ones never shrink below it.
MIN_FIGURE_WIDTH = 900

#: How to read each figure, by PNG file name (the figures of `overlapflow run NAME`).
CAPTIONS: dict[str, str] = {
    "fig1.png": (
        "Left: loss over epochs of θ-space gradient descent (thick translucent black) and of "
        "each overlap-space method (colour and line style in the legend under the panels). "
        "Middle and right: the loss-visible and loss-invisible overlaps; colour = overlap, line "
        "style = method. The exact map runs inside the θ-space line (equal to float precision), "
        "the flow and Euler lines stay close, the direct (identity-metric) descent departs. The "
        "invisible overlaps move although they do not set the loss. A curve drawn as markers "
        "coincides with the overlap its legend entry names, e.g. σ_zz = σ_mm; an entry with "
        "a note mark (σ_vv¹) coincides with other overlaps in some methods only, which the "
        "numbered note at the end of the legend lists."),
    "rank2.png": (
        "As fig1.png for a rank-2 network: loss (left), the 9 loss-visible and 12 "
        "loss-invisible overlaps (colour = overlap, 12 distinct colours; line style = method). "
        "θ-space thick and translucent, the exact map and the flow as broken lines inside it. "
        "Curves drawn as markers coincide with the overlap named in their legend entry."),
    "degeneracy.png": (
        "Two networks with equal loss-visible and different loss-invisible overlaps (original: "
        "thick teal; twin: dashed orange). Top, left to right: identical outputs before "
        "learning; different hidden activity along u; different outputs under the same noise "
        "(dotted black: the twin in the original's frame, equal to the original); different "
        "outputs after a few epochs of GD. Bottom: losses (θ-space thick, overlap exact map "
        "dashed), the visible and invisible overlaps of both (colour = overlap), and the "
        "relative output differences on a log scale."),
    "memory.png": (
        "Tasks exp(−c t) in sequence (c written at the top of each phase; shaded: task B). "
        "Left: distance of the visible (dotted) and invisible (solid) overlaps from their "
        "values after the first A phase; colour = run. Middle: difference between a network "
        "that learned B and a control that saw only A; the invisible trace (solid) stays up "
        "after B ends: the invisible overlaps remember B. Right: the fraction of the peak trace "
        "kept at the end, per run (bar labels: the trace at the end)."),
    "adam.png": (
        "Adam (pink: from X₀; purple dash-dot: from a rotated X₀ with the same Σ) against GD "
        "(θ-space thick black, overlap exact map red dashed). Top left: loss per task phase "
        "(c at the top, task B shaded). Top right: the quadratic invariant of gradient flow, "
        "flat for GD, drifting for Adam. Bottom: the visible and invisible overlaps (colour = "
        "overlap, line style = run); the two Adam runs from the same Σ part: Adam's learning "
        "is not a function of the overlaps."),
    "nonlinear.png": (
        "Erf rank-1 network on the flip-flop (the paper's Figure 4). Top: loss, visible and "
        "invisible overlaps for θ-space (thick translucent) and the methods of its Gaussian "
        "(mean-field) closure, labelled 'closure: …' (broken lines on top; in the overlap "
        "panels colour = overlap, line style = method). "
        "Bottom: input and outputs on a long trial after learning (grey background: loss off); "
        "where the overlap-space outputs equal the network's only the broken lines show."),
    "nonlinear_gaussianity.png": (
        "Left: histograms of the standardised entries of each learned vector (lines) over the "
        "initial ones (shaded), with the standard normal density (dashed). Right: normal Q-Q "
        "plot of the learned vectors; points on the diagonal mean Gaussian entries, which the "
        "overlap closure assumes."),
    "optimizers.png": (
        "Colour = optimizer (GF: small-step GD; GD: large steps; Adam). Left: loss of the "
        "network (thick) and of its closure's exact map (dashed). Second: closure error "
        "|L_θ − L_MF(Σ)| / L_θ along each θ trajectory. Third: Q-Q plot of the least Gaussian "
        "learned vector (diagonal: Gaussian). Right: out-of-span fraction, final closure error "
        "and largest |excess kurtosis| on a log scale; small means the overlap description "
        "holds."),
    "optimizers_outputs.png": (
        "Input (top) and outputs (bottom) on a long flip-flop trial after learning: each "
        "optimizer's network thick and translucent, its closure's exact map dashed in the "
        "same colour; thin grey steps: the target; grey background: loss off."),
    "optimizers_loadings.png": (
        "Histograms (log density) of the entries of each vector m, u, v, z: initial loadings "
        "grey, each optimizer's learned loadings as a line. Titles: excess kurtosis (0 for a "
        "Gaussian, a parabola on this scale)."),
    "twins.png": (
        "Left and middle: losses of every start (thin) and their medians (thick) on the first "
        "task (A: flip-flop, B: decision making) and on the common task C. Right: accuracy of a "
        "logistic regression telling from the overlaps which task came first, per stage, "
        "overlap set (visible, invisible, all) and noise (hatched); dashed: chance. Above "
        "chance and above a shuffled-label control after C from the invisible overlaps alone "
        "(after A/B in --quick runs): the history stays in them."),
    "twins_pair.png": (
        "One pair from the same start. Top left: losses through both phases (solid: first "
        "task; dashed: task C). Top middle and right: each overlap of network 1 against network "
        "2 after A/B and after C (on the grey diagonal when equal; circles visible, squares "
        "invisible). Bottom: outputs on the flip-flop, on decision making (dashed: coherences "
        "not trained on; dotted: targets) and on task C (teacher thick grey)."),
    "twins_trajectories.png": (
        "All 10 overlaps of the pair through both phases (vertical line: start of task C): "
        "network 1 blue, network 2 orange; dotted: the teacher's value of a visible overlap."),
    "metric.png": (
        "The metric G(Σ) of dσ/dt = −η G(Σ) ∇L after learning, rank-1 linear (left) and erf "
        "(right): row = velocity component, column = gradient component, colour bar = entry "
        "value; '0' marks entries that are zero for every Σ; loss-visible columns are boxed and "
        "labelled in green."),
    "reveal.png": (
        "Revealing the invisible overlaps of the degeneracy twins from how they learn. Two "
        "networks with identical outputs before learning (the original and its twin, which "
        "differ only in loss-invisible overlaps) are trained; from their noisy outputs during a "
        "few hundred epochs, `reveal` fits each network's initial overlaps through the exact "
        "overlap map. Panels: both networks' outputs before learning (identical) and during it "
        "(different); the twin's noisy observations with the fitted model; revealed against "
        "true overlaps for each network with ±1.96 Cramér–Rao errors (filled: identifiable; "
        "half-filled: locally identifiable, fixed only up to an exact symmetry; "
        "hollow: not identifiable at this noise, the self-overlaps along the conserved form)."
    ),
    "forgetting.png": (
        "The memory protocol (tasks exp(−c t): A, B, A, B, A) under several learning rules, in "
        "overlap space. Left: the fraction of the history of B that the loss-invisible overlaps "
        "still hold at the end (memory's 'retained': the difference from a control run that saw "
        "only A, at the end over its peak; log scale, 0 drawn at the bottom): plain GD, "
        "heavy-ball momentum and weight noise keep it, weight decay erases it the more the "
        "larger λ. Right: that difference over the whole sequence (shaded: task B); colour = "
        "rule family, line style = its parameter. Weight noise is its N → ∞ mean, which adds "
        "the same 2ηT to both runs and so leaves the history alone."),
    "forgetting_rates.png": (
        "How fast the history decays in the last phase. Left: the history trace (difference "
        "from the control) divided by its value at the start of the fit window (tick), per "
        "rule, with the prediction exp(−r t) (black dashed) from the eigenvalues of the exact "
        "map linearised at the final overlaps; flat lines at 1 are rules that keep the "
        "history. Middle: one weight-decay run overlap by overlap, with the predicted slope "
        "(dashed) and the slope predicted with the visible overlaps held fixed (dotted, too "
        "fast). Right: measured against predicted rates for weight decay (filled: the window "
        "holds ≥ 2 e-folds; grey band ±10%)."),
}

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; }
p, table.prov, .checks, details, h1, h2 { max-width: 75em; }
h2 { border-bottom: 1px solid #ccc; padding-top: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-family: monospace; white-space: nowrap; }
table.prov th { background: #f4f4f4; white-space: nowrap; }
code { overflow-wrap: anywhere; }
.ok { color: #060; font-weight: bold; } .fail { color: #b00; font-weight: bold; }
.note { color: #b00; }
figure { margin: 0.8em 0 1.6em 0; }
figure .scroll { overflow-x: auto; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { max-width: 75em; font-size: 0.9em; color: #333; margin-top: 0.3em; }
details { margin-bottom: 1em; } pre { font-size: 0.8em; background: #f7f7f7; padding: 0.5em; }
"""

# Counts the images that decoded (naturalWidth > 0) once everything has loaded.
_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images', ok + '/' + imgs.length);
});
"""


def _fmt(value) -> str:
    return "nan" if value is None else f"{value:.3g}"


def _png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG header, or None (missing file, not a PNG)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def _figure(folder: Path, name: str, fig: str, *, self_contained: bool) -> str:
    path = folder / fig
    rel = f"{name}/{fig}"
    size = _png_size(path)
    caption = CAPTIONS.get(fig, "")
    text = f"<b>{html.escape(fig)}</b>" + (f" — {html.escape(caption)}" if caption else "")
    if not path.is_file():
        return (f"<figure><p class='note'>missing file {html.escape(rel)}</p>"
                f"<figcaption>{text}</figcaption></figure>")
    if self_contained:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        src = f"data:image/png;base64,{data}"
    else:
        src = html.escape(rel)
    dims = ""
    if size:
        w, h = size
        dims = (f" width='{w}' height='{h}' style='min-width: {min(w, MIN_FIGURE_WIDTH)}px'")
    img = f"<img src='{src}' alt='{html.escape(fig)}'{dims}>"
    if not self_contained:  # a click opens the file at full size
        img = f"<a href='{src}' title='open {html.escape(fig)} at full size'>{img}</a>"
        text += " (click the figure for full size)"
    return (f"<figure id='{html.escape(name)}-{html.escape(Path(fig).stem)}'>"
            f"<div class='scroll'>{img}</div><figcaption>{text}</figcaption></figure>")


def _section(out: Path, s: dict, *, self_contained: bool) -> str:
    name = html.escape(s["experiment"])
    rows = "".join(
        f"<tr><td class='{'ok' if c['passed'] else 'fail'}'>{'pass' if c['passed'] else 'FAIL'}"
        f"</td><td>{html.escape(c['name'])}</td><td class='num'>{_fmt(c['value'])}</td>"
        f"<td class='num'>{html.escape(c['relation'])} {_fmt(c['threshold'])}</td></tr>"
        for c in s.get("checks", [])
    )
    table = (f"<table class='checks'><tr><th>status</th><th>claim</th><th>value</th>"
             f"<th>threshold</th></tr>{rows}</table>" if rows else "")
    note = ""
    if s.get("interrupted"):
        note = "<p class='note'>interrupted: partial data, checks not reported</p>"
    figs = "".join(_figure(out / s["experiment"], s["experiment"], f,
                           self_contained=self_contained) for f in s.get("figures", []))
    params = html.escape(json.dumps(to_jsonable(s.get("params", {})), indent=1))
    wall = s.get("wall_time_s")
    return (
        f"<h2 id='{name}'>{name}: {html.escape(s.get('title', ''))}</h2>"
        f"<p>wall time {'?' if wall is None else f'{wall:.1f}'} s · seeds "
        f"{html.escape(json.dumps(s.get('seeds', {})))} · "
        f"<a href='{name}/summary.json'>summary.json</a> · "
        f"<a href='{name}/results.npz'>results.npz</a></p>"
        f"{note}{table}{figs}"
        f"<details><summary>parameters</summary><pre>{params}</pre></details>"
    )


def _provenance(summaries: list[dict]) -> dict:
    """The provenance of the run: from the summaries if they carry it, else this process."""
    for s in summaries:
        if isinstance(s.get("provenance"), dict):
            return s["provenance"]
    from .._version import __version__

    return {
        "versions": {"overlapflow": __version__, "python": platform.python_version()},
        "argv": list(sys.argv),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
    }


def _provenance_table(summaries: list[dict]) -> str:
    prov = _provenance(summaries)
    versions = dict(prov.get("versions", {}))
    main = versions.pop("overlapflow", "?")
    others = ", ".join(f"{k} {v}" for k, v in versions.items())
    dates = sorted(s["provenance"]["date_utc"] for s in summaries
                   if isinstance(s.get("provenance"), dict) and s["provenance"].get("date_utc"))
    run_date = (dates[0] if dates and dates[0] == dates[-1] else
                f"{dates[0]} to {dates[-1]}" if dates else prov.get("date_utc", "?"))
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    machine = prov.get("machine", {})
    cores = machine.get("cpu_count")
    avail = machine.get("available_cores")
    cores_text = (f"{cores} cores" if cores is not None else "? cores") + (
        f" ({avail} available)" if avail is not None and avail != cores else "")
    machine_text = ", ".join(x for x in (machine.get("platform"), cores_text,
                                         machine.get("jax_backend") and
                                         f"JAX backend {machine['jax_backend']}") if x)
    argv = " ".join(prov.get("argv", [])) or "?"
    rows = [("overlapflow", f"{main}" + (f" ({others})" if others else "")),
            ("date (UTC)", f"run {run_date}; page written {now}"),
            ("command", f"<code>{html.escape(argv)}</code>"),
            ("machine", machine_text)]
    return "<table class='prov'>" + "".join(
        f"<tr><th>{k}</th><td>{v if k == 'command' else html.escape(v)}</td></tr>"
        for k, v in rows) + "</table>"


def write_index(out_dir, summaries: list[dict], *, self_contained: bool = False) -> Path:
    """Write DIR/index.html; no network access needed to read it.

    Args:
        out_dir: the folder of `overlapflow run all` (DIR/NAME/ per experiment).
        summaries: the experiments' summary dicts (as in DIR/NAME/summary.json).
        self_contained: embed the figures as base64 data URIs (one file to mail) instead of
            relative links to DIR/NAME/*.png.
    """
    out = Path(out_dir)
    n_fail = sum(not c["passed"] for s in summaries for c in s.get("checks", []))
    n_all = sum(len(s.get("checks", [])) for s in summaries)
    toc = " · ".join(f"<a href='#{html.escape(s['experiment'])}'>{html.escape(s['experiment'])}"
                     f"{'' if s.get('all_passed', True) else ' ✗'}</a>" for s in summaries)
    quick = any(s.get("params", {}).get("quick") for s in summaries)
    body = (
        f"<h1>overlapflow: the paper's experiments{' (--quick sizes)' if quick else ''}</h1>"
        f"{_provenance_table(summaries)}"
        f"<p>{n_all - n_fail} of {n_all} checks pass. {toc}</p>"
        "<p>Each figure is shown at its natural width (wide ones scroll sideways)"
        + ("" if self_contained else "; click one to open the file at full size")
        + ". Below each, how to read it.</p>"
        + "".join(_section(out, s, self_contained=self_contained) for s in summaries)
    )
    text = (f"<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>overlapflow experiments</title><style>{_STYLE}</style>"
            f"<script>{_SCRIPT}</script></head><body>{body}</body></html>\n")
    path = out / "index.html"
    write_atomic(path, ".html", lambda fh: fh.write(text.encode()))
    return path
