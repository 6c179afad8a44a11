"""Figures and the report page, without running an experiment.

- Importing overlapflow (and its experiments) and drawing figures never selects or changes
  matplotlib's backend and never imports pyplot (subprocesses: a clean interpreter each).
- One style table: every mode and run has one colour / line style / width; the figure modules
  use no pyplot and set no backend.
- Coinciding overlap curves are detected (max |a − b| < 1e-3 · range), drawn as markers on top,
  and named in the legend ("σ_b = σ_a"; "σ_d¹" and a note where it depends on the mode);
  a panel of 12 (or 21) overlaps gets distinct colours.
- index.html from a tiny fake run (two experiment folders, a small PNG each): status header,
  number cells that do not wrap, a caption per figure, provenance, links to the full-size files,
  `self_contained` (data URIs, no PNG paths left), and — in headless Chromium when installed —
  every image decodes and the page logs nothing to the console.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "overlapflow"
FIGURE_MODULES = ["_plots/compare.py", "_plots/analysis.py", "_plots/nonlinear.py", "_plots/style.py",
                  "_plots/report.py", "_plots/sweep.py", "_plots/reveal.py"] + sorted(
    str(p.relative_to(SRC)) for p in (SRC / "experiments").glob("_*draw*.py"))


# ------------------------------------------------------------------------------ backend

_DRAW = r"""
import sys
from pathlib import Path
import numpy as np
import matplotlib
{before}
import overlapflow, overlapflow.experiments  # noqa: E401
from overlapflow.experiments import Outcome, get_experiment
from overlapflow.internal import plot_metric
out = Path(sys.argv[1])
plot_metric(np.eye(2), np.zeros((2, 2), bool), ["zm", "mm"], np.array([True, False]),
            out / "metric.png")
sys.path.insert(0, sys.argv[2])
from test_figures_report import fake_fig1_arrays
a, p = fake_fig1_arrays()
get_experiment('fig1').draw(Outcome(a, [], {{}}, params=p), out)
assert (out / "metric.png").is_file() and (out / "fig1.png").is_file()
print("PYPLOT", "matplotlib.pyplot" in sys.modules)
{after}
"""


def _run_python(code: str, tmp_path: Path, env_backend: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    if env_backend is not None:
        env["MPLBACKEND"] = env_backend
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(Path(__file__).parent)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_importing_and_drawing_keeps_the_users_backend(tmp_path):
    """A backend chosen by the user (here through MPLBACKEND) is the same after importing
    overlapflow and drawing; pyplot is never imported (no `matplotlib.use`, no pyplot)."""
    code = _DRAW.format(before="before = matplotlib.get_backend()",
                        after="print('BACKEND', before, matplotlib.get_backend())")
    out = _run_python(code, tmp_path, "svg")
    assert "PYPLOT False" in out
    (line,) = [x for x in out.splitlines() if x.startswith("BACKEND")]
    assert line.split()[1:] == ["svg", "svg"]


def test_importing_and_drawing_never_imports_pyplot_without_a_backend_set(tmp_path):
    """No MPLBACKEND: matplotlib's backend stays unresolved (pyplot would resolve it); only
    after the check does the script ask for it, which must not be Agg forced by overlapflow."""
    code = _DRAW.format(before="", after="")
    out = _run_python(code, tmp_path, None)
    assert "PYPLOT False" in out


def test_figure_modules_use_no_pyplot_and_set_no_backend():
    for rel in FIGURE_MODULES:
        text = (SRC / rel).read_text(encoding="utf-8")
        assert not re.search(r"import\s+matplotlib\.pyplot|from\s+matplotlib\s+import\s+pyplot",
                             text), rel
        assert "plt." not in text, rel
        assert "matplotlib.use(" not in text, rel
        assert "plt.cm" not in text, rel
    for path in SRC.rglob("*.py"):  # nowhere in the package
        assert "matplotlib.use(" not in path.read_text(encoding="utf-8"), path


# ------------------------------------------------------------------------------ style table


def test_one_style_table_for_modes_and_runs():
    from overlapflow.internal import ALL_MODES
    from overlapflow.internal import plots_compare as _plots
    from overlapflow.internal import plots_style as _style

    assert _plots.MODE_STYLES is _style.MODE_STYLES  # compare.png reads the same table
    names = list(ALL_MODES) + ["gd_small", "gd_large", "gd_noise", "gd_theta", "adam", "adam_rot",
                               "original", "twin", "task_a", "task_b", "teacher"]
    for name in names:
        st = _style.style(name)
        assert {"color", "linestyle", "linewidth"} <= set(st), name
        assert "color" not in _style.line_style(name)
    for mode in ALL_MODES:
        assert mode in _style.MODE_LABELS
    # within each group the colours differ (a figure shows a group together)
    for group in (ALL_MODES, ("gd_small", "gd_large", "gd_noise", "adam"),
                  ("adam", "adam_rot", "gd_theta", "exact")):
        colors = [_style.color(n) for n in group]
        assert len(set(colors)) == len(colors), group
    # θ-space thick and translucent underneath; overlap-space modes thinner, on top
    theta = _style.style("theta")
    for mode in ("exact", "flow", "euler", "direct"):
        st = _style.style(mode)
        assert st["linewidth"] < theta["linewidth"] and st["zorder"] > theta["zorder"]
        assert st["linestyle"] != "-"


@pytest.mark.parametrize("n", [4, 10, 12, 21])
def test_overlap_colors_are_distinct(n):
    from overlapflow.internal import overlap_colors

    colors = [tuple(np.round(c, 4)) for c in overlap_colors(n)]
    assert len(colors) == n and len(set(colors)) == n


def _axes():
    from matplotlib.figure import Figure

    return Figure().subplots()


def test_coinciding_curves_are_marked_and_named():
    from overlapflow.internal import draw_overlaps

    x = np.linspace(0, 2 * np.pi, 81)
    a = np.sin(x)  # the panel's range is ≈ 2: coincidence means closer than ≈ 2e-3
    overlaps = [("σ_a", {"theta": a, "exact": a}),
                ("σ_b", {"theta": a + 1e-3, "exact": a}),  # within 1e-3 · range
                ("σ_c", {"theta": a + 4e-3, "exact": 0.5 * a}),  # apart
                ("σ_d", {"theta": -a, "exact": a})]  # equal to σ_a in exact only
    ax = _axes()
    handles = draw_overlaps(ax, x, overlaps, ["theta", "exact"])
    labels = [h.get_label() for h in handles]
    assert labels == ["σ_a", "σ_b = σ_a", "σ_c", "σ_d¹",
                      "¹ σ_d coincides with σ_a in exact only"]  # the note, last
    assert handles[1].get_marker() not in (None, "None", "")
    assert handles[2].get_marker() in (None, "None", "")
    # σ_b: drawn once, as markers on top (its exact curve is at the same place: not redrawn)
    marked = [ln for ln in ax.get_lines() if ln.get_linestyle() == "None"]
    assert len(marked) == 2  # σ_b (θ) and σ_d (exact)
    assert all(ln.get_zorder() > 5 for ln in marked)
    assert all(ln.get_markevery() is not None for ln in marked)
    assert marked[0].get_markevery() != marked[1].get_markevery()  # offset per curve


def test_no_coincidence_for_nan_or_different_curves():
    from overlapflow.internal import coincident_partner

    a = np.linspace(0, 1, 20)
    b = a.copy()
    b[5] = np.nan
    assert coincident_partner([a, b], 1, tol=1e-3) is None  # a gap where the other has data
    assert coincident_partner([a, a.copy()], 1, tol=1e-3) == 0
    assert coincident_partner([np.full(3, np.nan), np.full(3, np.nan)], 1, tol=1.0) is None


def fake_fig1_arrays():
    """Arrays of a fig1 outcome (rank-1 linear, 10 overlaps) with σ_zz = σ_mm, σ_vv = σ_uu."""
    names = np.array(["vm", "zm", "vu", "zu", "mm", "mu", "uu", "vv", "zv", "zz"])
    order = {"m": 0, "u": 1, "v": 2, "z": 3}
    rows = np.array([order[n[0]] for n in names])
    cols = np.array([order[n[1]] for n in names])
    visible = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    E = 30
    t = np.arange(E + 1) / E
    a = {"names": names, "rows": rows, "cols": cols, "visible": visible,
         "epochs": np.arange(E + 1)}
    for mode in ("theta", "exact", "flow", "direct"):
        sigma = np.zeros((E + 1, 4, 4))
        for k, (r, c) in enumerate(zip(rows, cols)):
            sigma[:, r, c] = sigma[:, c, r] = np.cos(t * (k + 1)) + 0.1 * k
        for same, ref in (("zz", "mm"), ("vv", "uu")):
            r, c = order[same[0]], order[same[1]]
            r0, c0 = order[ref[0]], order[ref[1]]
            sigma[:, r, c] = sigma[:, r0, c0]
        a[f"sigma_{mode}"] = sigma
        a[f"loss_{mode}"] = np.exp(-3 * t) + (0.1 if mode == "direct" else 0.0)
    params = {"modes": ["exact", "flow", "direct"], "decay": 0.2, "N": 100, "eta": 5e-3,
              "epochs": E}
    return a, params


def test_fig1_figure_names_coinciding_overlaps(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from overlapflow.experiments import Outcome, get_experiment

    seen = []
    savefig = Figure.savefig

    def spy(fig, *args, **kwargs):  # the legends of every figure as it is written
        seen.append({
            "axes": [t.get_text() for ax in fig.axes if ax.get_legend()
                     for t in ax.get_legend().get_texts()],
            "figure": [t.get_text() for leg in fig.legends for t in leg.get_texts()]})
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    a, p = fake_fig1_arrays()
    assert get_experiment("fig1").draw(Outcome(a, [], {}, params=p), tmp_path) == ["fig1.png"]
    (legends,) = seen
    assert "σ_zz = σ_mm" in legends["axes"] and "σ_vv = σ_uu" in legends["axes"]
    assert "overlap: exact map" in legends["figure"]  # the method legend, outside the axes
    assert (tmp_path / "fig1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------ report


def _png(path: Path, width_in: float) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, 1.5))
    fig.subplots().plot([0, 1], [0, 1])
    fig.savefig(path, dpi=100)


def _fake_run(root: Path, *, provenance: bool = True) -> list[dict]:
    """Two experiment folders (fig1: a 1400-px PNG; metric: a 500-px PNG) and their summaries."""
    summaries = []
    for name, fig, width in (("fig1", "fig1.png", 14.0), ("metric", "metric.png", 5.0)):
        folder = root / name
        folder.mkdir(parents=True)
        _png(folder / fig, width)
        s = {"experiment": name, "title": f"{name} title", "params": {"quick": True},
             "seeds": {"init": 0}, "wall_time_s": 1.25,
             "checks": [{"name": "exact vs θ", "value": 1.2345e-13, "threshold": 1e-10,
                         "passed": True, "relation": "<"},
                        {"name": "invisible moves", "value": 0.25, "threshold": 0.5,
                         "passed": False, "relation": ">"}],
             "all_passed": False, "figures": [fig], "info": {}, "interrupted": None}
        if provenance:
            s["provenance"] = {
                "versions": {"overlapflow": "9.8.7", "python": "3.11.0", "jax": "0.1"},
                "argv": ["overlapflow", "run", "all", "--out", "X", "--quick"],
                "date_utc": "2030-01-02T03:04:05+00:00",
                "machine": {"platform": "Linux-test-platform", "cpu_count": 7,
                            "available_cores": 5, "jax_backend": "cpu"}}
        (folder / "summary.json").write_text(json.dumps(s))
        summaries.append(s)
    return summaries


def test_report_page_captions_provenance_and_cells(tmp_path):
    from overlapflow.internal import write_index

    path = write_index(tmp_path, _fake_run(tmp_path))
    page = path.read_text(encoding="utf-8")
    assert "<th>status</th>" in page and "<th>claim</th>" in page
    assert "1.23e-13" in page and "td.num" in page and "white-space: nowrap" in page
    assert page.count("<td class='num'>") == 8  # value and threshold of 4 checks
    assert "9.8.7" in page and "overlapflow run all --out X --quick" in page
    assert "2030-01-02T03:04:05+00:00" in page
    assert "Linux-test-platform" in page and "7 cores (5 available)" in page
    # one figure per row, linking to the full-size file, never shrunk below 900 px
    assert "<a href='fig1/fig1.png'" in page and "src='fig1/fig1.png'" in page
    assert "width='1400'" in page and "min-width: 900px" in page
    assert "width='500'" in page and "min-width: 500px" in page  # narrow: natural width
    assert "overflow-x: auto" in page
    assert "Left: loss over epochs" in page  # the caption of fig1.png
    assert "data-images" in page and "http" not in page  # offline


def test_report_provenance_computed_when_summaries_lack_it(tmp_path):
    import platform

    from overlapflow import __version__
    from overlapflow.internal import write_index

    page = write_index(tmp_path, _fake_run(tmp_path, provenance=False)).read_text("utf-8")
    assert __version__ in page and platform.platform() in page
    assert f"{os.cpu_count()} cores" in page


def test_every_figure_of_the_experiments_has_a_caption():
    from overlapflow.internal import CAPTIONS

    names = set()
    for path in (SRC / "experiments").glob("_*draw*.py"):
        names |= set(re.findall(r'"(\w+\.png)"', path.read_text(encoding="utf-8")))
    assert len(names) >= 14
    assert names <= set(CAPTIONS), names - set(CAPTIONS)
    assert all(len(CAPTIONS[n]) > 80 for n in names)


def test_report_self_contained_embeds_the_images(tmp_path):
    from overlapflow.internal import write_index

    write_index(tmp_path, _fake_run(tmp_path), self_contained=True)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"src='[^']*\.png'", page)
    uris = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(uris) == 2
    assert base64.b64decode(uris[0]) == (tmp_path / "fig1" / "fig1.png").read_bytes()
    shutil.rmtree(tmp_path / "fig1")  # the page alone still holds the figure
    assert base64.b64decode(uris[0])[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_accepts_self_contained():
    from overlapflow.cli import build_parser

    args = build_parser().parse_args(["run", "all", "--out", "x", "--self-contained"])
    assert args.self_contained is True


def _chromium(page: Path, tmp_path: Path) -> tuple[str, str]:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        print("chromium not installed (apt-get install chromium): browser check skipped")
        pytest.skip("chromium not installed (Debian package `chromium`)")
    proc = subprocess.run(
        [exe, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=60)
    return proc.stdout, proc.stderr


@pytest.mark.parametrize("self_contained", [False, True])
def test_report_page_loads_in_a_browser(tmp_path, self_contained):
    from overlapflow.internal import write_index

    path = write_index(tmp_path, _fake_run(tmp_path), self_contained=self_contained)
    dom, log = _chromium(path, tmp_path)
    assert 'data-images="2/2"' in dom, dom[:500]  # both images decoded (naturalWidth > 0)
    console = [line for line in log.splitlines() if ":CONSOLE" in line]
    assert not console, console
    assert "Uncaught" not in log and "ERR_FILE_NOT_FOUND" not in log


def test_browser_check_sees_a_missing_image(tmp_path):
    """The page's own count is what the browser test relies on: a missing file shows."""
    from overlapflow.internal import write_index

    summaries = _fake_run(tmp_path)
    path = write_index(tmp_path, summaries)
    (tmp_path / "metric" / "metric.png").unlink()
    dom, _ = _chromium(path, tmp_path)
    assert 'data-images="1/2"' in dom
