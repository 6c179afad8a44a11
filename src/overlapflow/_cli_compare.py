"""`overlapflow compare CONFIG --out DIR`."""

from __future__ import annotations

import sys

from ._cli import EXIT_INTERRUPTED


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="train θ-space and overlap-space learning side by side from a TOML config",
        description="Run every mode of [train].modes from one start and one set of batches; "
        "write results.npz, summary.json and compare.png into --out.",
    )
    p.add_argument("config", help="TOML config ([network], [init], [task], [loss], [train])")
    p.add_argument("--out", required=True, help="output folder (created if needed)")
    p.add_argument("--time-compiled", action="store_true",
                   help="also time a second, already-compiled run of each mode")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_compare)


def _compare(args) -> int:
    from ._compare import run_comparison, write_comparison
    from ._config import load_config

    config = load_config(args.config)
    comp = run_comparison(config, progress=not args.no_progress, time_compiled=args.time_compiled)
    summary = write_comparison(comp, args.out)
    _print_summary(summary, args.out)
    from ._limit import closure_warning

    warning = closure_warning(summary)  # THEORY §8: limit vs overlap closure above threshold
    if warning:
        print(f"overlapflow: warning: {warning}", file=sys.stderr)
    if comp.interrupted:
        print("overlapflow: interrupted; files hold the epochs computed so far", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


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
            f"{summary['wall_time_s'][m]:>8.2f} {('epoch ' + str(div)) if div is not None else 'no':>9}"
        )
    print(f"wrote {out}/results.npz, summary.json, compare.png")
