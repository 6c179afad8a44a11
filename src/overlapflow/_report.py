"""DIR/index.html: one offline page with every experiment's figures and checks."""

from __future__ import annotations

import html
import json
from pathlib import Path

from ._io import _atomic, to_jsonable

__all__ = ["write_index"]

_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1400px; }
h2 { border-bottom: 1px solid #ccc; padding-top: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-family: monospace; }
.ok { color: #060; font-weight: bold; } .fail { color: #b00; font-weight: bold; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
details { margin-bottom: 1em; } pre { font-size: 0.8em; background: #f7f7f7; padding: 0.5em; }
"""


def _fmt(value) -> str:
    return "nan" if value is None else f"{value:.3g}"


def _section(s: dict) -> str:
    name = html.escape(s["experiment"])
    rows = "".join(
        f"<tr><td class='{'ok' if c['passed'] else 'fail'}'>{'pass' if c['passed'] else 'FAIL'}"
        f"</td><td>{html.escape(c['name'])}</td><td class='num'>{_fmt(c['value'])}</td>"
        f"<td>{html.escape(c['relation'])} {_fmt(c['threshold'])}</td></tr>"
        for c in s["checks"]
    )
    figs = "".join(
        f"<div><img src='{html.escape(name)}/{html.escape(f)}' alt='{html.escape(f)}'></div>"
        for f in s["figures"]
    )
    params = html.escape(json.dumps(to_jsonable(s["params"]), indent=1))
    return (
        f"<h2 id='{name}'>{name}: {html.escape(s['title'])}</h2>"
        f"<p>wall time {s['wall_time_s']:.1f} s · seeds {html.escape(json.dumps(s['seeds']))} · "
        f"<a href='{name}/summary.json'>summary.json</a> · "
        f"<a href='{name}/results.npz'>results.npz</a></p>"
        f"<table><tr><th></th><th>claim</th><th>value</th><th>threshold</th></tr>{rows}</table>"
        f"{figs}<details><summary>parameters</summary><pre>{params}</pre></details>"
    )


def write_index(out_dir, summaries: list[dict]) -> Path:
    """Write DIR/index.html (relative links to DIR/NAME/*.png; no network access needed)."""
    out = Path(out_dir)
    n_fail = sum(not c["passed"] for s in summaries for c in s["checks"])
    n_all = sum(len(s["checks"]) for s in summaries)
    toc = " · ".join(f"<a href='#{html.escape(s['experiment'])}'>{html.escape(s['experiment'])}"
                     f"{'' if s['all_passed'] else ' ✗'}</a>" for s in summaries)
    quick = any(s["params"].get("quick") for s in summaries)
    body = (
        f"<h1>overlapflow: the paper's experiments{' (--quick sizes)' if quick else ''}</h1>"
        f"<p>{n_all - n_fail} of {n_all} checks pass. {toc}</p>"
        + "".join(_section(s) for s in summaries)
    )
    text = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>overlapflow experiments"
            f"</title><style>{_STYLE}</style></head><body>{body}</body></html>\n")
    path = out / "index.html"
    _atomic(path, ".html", lambda fh: fh.write(text.encode()))
    return path
