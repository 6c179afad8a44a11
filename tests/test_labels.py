"""Labels that say what was computed.

- One mapping from (mode, φ linear?) to a label: for a nonlinear network the Σ-space modes are
  "closure: exact map", "closure: gradient flow", ... (the Gaussian closure, docs/theory.md
  §3.2), for a linear one "overlap: exact map", ...; theta and limit are named for what they
  are whatever φ. summary.json's `methods`, compare.png's loss legend and the nonlinear
  experiments' figures use it.
- Coinciding overlap curves: "σ_zz = σ_mm" when one curve lies on another in every mode; a
  coincidence that depends on the mode gets a note mark and a numbered note at the end of the
  legend: "σ_vv¹" and "¹ σ_vv coincides with σ_uu in θ, exact and flow; with σ_mm in
  direct".
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import overlapflow as of
from overlapflow.internal import plots_style as _style

MODES = ("theta", "exact", "flow", "euler", "direct", "limit")


def test_sigma_space_modes_of_a_nonlinear_network_are_named_for_the_closure():
    linear = {m: _style.mode_label(m, linear=True) for m in MODES}
    closure = {m: _style.mode_label(m, linear=False) for m in MODES}
    assert linear == _style.MODE_LABELS
    assert closure["exact"] == "closure: exact map"
    assert closure["flow"] == "closure: gradient flow"
    assert closure["euler"] == "closure: Euler step"
    assert closure["direct"] == "closure: direct (identity metric)"
    for mode in ("exact", "flow", "euler", "direct"):
        assert linear[mode] == closure[mode].replace("closure:", "overlap:")
    for mode in ("theta", "limit"):  # the network and its N → ∞ limit: no closure, any φ
        assert linear[mode] == closure[mode]
        assert "closure" not in closure[mode]
    assert "quadrature" in closure["limit"] and "N → ∞" in closure["limit"]
    assert len(set(closure.values())) == len(MODES)
    assert _style.mode_label("warp", linear=False) == "warp"


def _config(tmp_path, phi: str):
    text = textwrap.dedent(f"""\
        [network]
        N = 30
        rank = 1
        phi = "{phi}"
        dt = 0.1
        [init]
        seed = 1
        [task]
        kind = "impulse_exp"
        t_max = 2.0
        decay = 0.3
        [loss]
        kind = "sum_dt"
        [train]
        eta = 0.01
        epochs = 3
        modes = ["theta", "exact", "euler"]
        """)
    path = tmp_path / f"{phi}.toml"
    path.write_text(text)
    return of.load_config(path)


@pytest.mark.parametrize("phi, prefix", [("linear", "overlap"), ("erf", "closure")])
def test_summary_names_the_method_of_every_mode(tmp_path, phi, prefix):
    comp = of.run_comparison(_config(tmp_path, phi), progress=False)
    summary = of.comparison_summary(comp)
    assert summary["methods"] == {"theta": "θ-space (network)",
                                  "exact": f"{prefix}: exact map",
                                  "euler": f"{prefix}: Euler step"}
    assert list(summary["methods"]) == summary["modes"]


def test_compare_figure_legend_names_the_closure(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    seen = []
    savefig = Figure.savefig

    def spy(fig, *args, **kwargs):
        seen.append([t.get_text() for ax in fig.axes if ax.get_legend()
                     for t in ax.get_legend().get_texts()])
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    comp = of.run_comparison(_config(tmp_path, "erf"), progress=False)
    of.write_comparison(comp, tmp_path / "out")
    (texts,) = seen
    assert "closure: exact map" in texts and "closure: Euler step" in texts
    assert not any(t.startswith("overlap:") for t in texts)


def test_closure_warning_names_the_method():
    from overlapflow.internal import closure_warning

    text = closure_warning({"closure_error": {"exact": 0.15, "euler": 0.02}})
    assert "mode exact (closure: exact map)" in text and "0.15" in text


# ------------------------------------------------------------------------------ coincidences


def _legend(overlaps, keys):
    from matplotlib.figure import Figure

    x = np.arange(len(next(iter(overlaps[0][1].values()))))
    handles = _style.draw_overlaps(Figure().subplots(), x, overlaps, keys)
    return [h.get_label() for h in handles], handles


def test_coincidence_in_every_mode_reads_as_an_equation():
    t = np.linspace(0, 1, 40)
    keys = ["theta", "exact", "flow", "direct"]
    mm, uu = np.cos(3 * t), 1 + t
    labels, _ = _legend([("σ_mm", dict.fromkeys(keys, mm)),
                         ("σ_uu", {k: uu + 0.1 * i for i, k in enumerate(keys)}),
                         ("σ_zz", dict.fromkeys(keys, mm))], keys)
    assert labels == ["σ_mm", "σ_uu", "σ_zz = σ_mm"]  # no note: the entry says it all


def test_coincidence_that_depends_on_the_mode_gets_a_numbered_note():
    """The pattern of a balanced erf start: in direct the invisible σ_mm, σ_uu, σ_vv stay equal;
    in the other modes σ_vv follows σ_uu (a conserved form) and σ_uu moves on its own."""
    t = np.linspace(0, 1, 40)
    keys = ["theta", "exact", "flow", "euler", "direct"]
    flat = np.ones_like(t)
    uu = {k: 1 + (0.5 + 0.01 * i) * t for i, k in enumerate(keys[:-1])} | {"direct": flat}
    overlaps = [("σ_mm", {k: 1 - 0.3 * t for k in keys[:-1]} | {"direct": flat}),
                ("σ_uu", uu),
                ("σ_vv", dict(uu)),
                ("σ_zm", {k: np.sin(5 * t) + 0.01 * i for i, k in enumerate(keys)})]
    labels, handles = _legend(overlaps, keys)
    assert labels[:4] == ["σ_mm", "σ_uu¹", "σ_vv²", "σ_zm"]
    notes = [" ".join(label.split()) for label in labels[4:]]
    assert notes == ["¹ σ_uu coincides with σ_mm in direct only",
                     "² σ_vv coincides with σ_uu in θ, exact, flow and euler; with σ_mm in "
                     "direct"]
    for h, label in zip(handles[4:], labels[4:]):  # notes: text only, wrapped to fit
        assert h.get_linestyle() == "None" and h.get_marker() in (None, "None", "")
        assert max(len(line) for line in label.splitlines()) <= _style.NOTE_WIDTH
    assert handles[2].get_marker() not in (None, "None", "")  # σ_vv drawn as markers


def test_coincidence_label_directly():
    assert _style.coincidence_label("σ_a", {}, 3, 1) == ("σ_a", None)
    assert _style.coincidence_label("σ_b", {"σ_a": ["θ", "exact"]}, 2, 1) == ("σ_b = σ_a", None)
    label, note = _style.coincidence_label("σ_c", {"σ_a": ["θ"], "σ_b": ["exact", "flow"]},
                                           3, 12)
    assert label == "σ_c¹²"
    assert note == "¹² σ_c coincides with σ_a in θ; with σ_b in exact and flow"
