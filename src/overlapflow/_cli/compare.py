"""`overlapflow compare CONFIG --out DIR`."""

from __future__ import annotations

import sys

import numpy as np

from .main import EXIT_INTERRUPTED


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="train θ-space and overlap-space learning side by side from a TOML config",
        description="Run every mode of [train].modes from one start and one set of batches; "
        "write results.npz, summary.json and compare.png into --out.",
    )
    p.add_argument("config", help="TOML config ([network], [init], [task], [loss], [train])")
    p.add_argument("--out", required=True,
                   help="output folder (created if needed; must be empty unless --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of an earlier run in --out")
    p.add_argument("--time-compiled", action="store_true",
                   help="also time a second, already-compiled run of each mode")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_compare)


def _compare(args) -> int:
    from .._support import interrupt as _interrupt
    from .._support.interrupt import interruption_text
    from .._support.io import prepare_out
    from .._workflows.compare import run_comparison, write_comparison
    from .._workflows.config import load_config

    config = load_config(args.config)
    out = prepare_out(args.out, overwrite=args.overwrite)  # before anything is computed
    comp = run_comparison(config, progress=not args.no_progress, time_compiled=args.time_compiled)
    summary = write_comparison(comp, out, replace=args.overwrite)
    _print_summary(summary, args.out)
    from .._workflows.hooks import closure_warning

    warning = closure_warning(summary)  # docs/theory.md §8: limit vs overlap closure above threshold
    if warning and not comp.interrupted:
        print(f"overlapflow: warning: {warning}", file=sys.stderr)
    if comp.interrupted:
        print(f"overlapflow: {interruption_text(comp.interrupted_at)}; "
              f"{_kept(comp, args.out)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if _interrupt.requested():  # Ctrl-C while the files were written: they are complete
        print(f"overlapflow: interrupted while writing; {args.out} holds the complete results",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _kept(comp, out) -> str:
    at = comp.interrupted_at or {}
    if at.get("mode") is None:
        return f"{out} holds the complete results"
    if not any(np.isfinite(r.loss).any() for r in comp.runs.values()):
        return f"nothing was computed; {out}/summary.json records the interruption"
    return f"{out} holds the epochs computed so far"


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3g}"


def _print_summary(summary: dict, out) -> None:
    modes = summary["modes"]
    print(f"{'mode':<8} {'final loss':>12} {'max rel Δloss':>14} {'max |ΔΣ|':>10} "
          f"{'wall s':>8} {'diverged':>9}")
    for m in modes:
        div = summary["diverged"][m]
        print(
            f"{m:<8} {_fmt(summary['final_loss'][m]):>12} "
            f"{_fmt(summary['max_rel_loss_diff'].get(m)):>14} "
            f"{_fmt(summary['max_abs_sigma_diff'].get(m)):>10} "
            f"{summary['wall_time_s'].get(m, float('nan')):>8.2f} "
            f"{('epoch ' + str(div)) if div is not None else 'no':>9}"
        )
    print(f"wrote {out}/results.npz, summary.json, compare.png")
