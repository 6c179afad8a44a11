"""`overlapflow compare CONFIG --out DIR`."""

from __future__ import annotations

import argparse
import sys

from .main import EXIT_INTERRUPTED, add_set_argument

#: The [train] keys of the learning rule (docs/theory.md §9), for --help.
RULE_HELP = """learning rule ([train] keys; without them, plain gradient descent):
  optimizer          "gd" | "momentum" | "nesterov" | "adam" | "colnorm"  (default "gd")
  momentum           μ in [0, 1) for momentum / nesterov (optax.sgd semantics; 0.9)
  weight_decay       λ ≥ 0: penalty (λ/2N)‖X‖² = (λ/2) tr Σ added to the loss (0)
  lr_scale           inline table of rate multipliers ≥ 0 per family or column, 0 freezes:
                     lr_scale = {u = 0.5, z = 0}  (families m, u, v, z; columns like u2)
  clip_norm          clip the N-independent gradient norm √N‖g‖ = 2 sqrt(tr SΣS) at this
                     value (weight decay included; absent: no clipping)
  noise_temperature  T ≥ 0: X ← X + sqrt(2ηT)·ξ after each step (θ-space; the overlap
                     modes use its N → ∞ mean 2ηT·I) (0)
  noise_seed         seed of that noise (0)
A key that the chosen optimizer ignores is an error (momentum with "gd", "adam" or "colnorm";
noise_seed without noise_temperature).
Overlap modes refuse what has no form: adam (not closed), flow / euler with momentum or
nesterov, direct with anything but plain gd, limit with noise (one-line error, exit 2)."""


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="train θ-space and overlap-space learning side by side from a TOML config",
        description="Run every mode of [train].modes from one start and one set of batches; "
        "write results.npz, summary.json and compare.png into --out.",
        epilog=RULE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="TOML config ([network], [init], [task], [loss], [train])")
    p.add_argument("--out", required=True,
                   help="output folder (created if needed; must be empty unless --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of an earlier run in --out")
    add_set_argument(p)
    p.add_argument("--time-compiled", action="store_true",
                   help="also time a second, already-compiled run of each mode")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_compare)


def _compare(args) -> int:
    from .._support import interrupt as _interrupt
    from .._support.interrupt import interruption_text
    from .._support.io import prepare_out
    from .._support.parsing import parse_settings
    from .._workflows.compare import run_comparison, write_comparison
    from .._workflows.config import load_config

    config = load_config(args.config, parse_settings(args.set))
    from .._support.extras import has_module

    if has_module("matplotlib"):  # imported before the runs, so that after Ctrl-C only the
        import matplotlib.backends.backend_agg  # noqa: F401  drawing remains to be done
        import matplotlib.figure  # noqa: F401
    out = prepare_out(args.out, overwrite=args.overwrite)  # before anything is computed
    comp = run_comparison(config, progress=not args.no_progress, time_compiled=args.time_compiled)
    summary = write_comparison(comp, out, replace=args.overwrite)
    _print_summary(summary, args.out)
    from .._workflows.compare import record_note, solver_failure_text

    if record_note(summary):
        print(record_note(summary))
    for mode, epoch in summary["solver_failed"].items():
        if epoch is not None:
            print(f"overlapflow: warning: {solver_failure_text(mode, epoch)}", file=sys.stderr)
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
    import numpy as np

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
          f"{'wall s':>8} {'diverged':>9}  method")
    for m in modes:
        div = summary["diverged"][m]
        print(
            f"{m:<8} {_fmt(summary['final_loss'][m]):>12} "
            f"{_fmt(summary['max_rel_loss_diff'].get(m)):>14} "
            f"{_fmt(summary['max_abs_sigma_diff'].get(m)):>10} "
            f"{summary['wall_time_s'].get(m, float('nan')):>8.2f} "
            f"{('epoch ' + str(div)) if div is not None else 'no':>9}"
            f"  {summary['methods'][m]}"
        )
    print(f"wrote {out}/results.npz, summary.json, compare.png")
