"""`overlapflow scaling CONFIG --N 250,1000,4000,16000 --seeds 0:4 --out DIR [--tol] [--quick]`."""

from __future__ import annotations

from .._support.parsing import parse_ints, parse_settings
from .main import add_set_argument


def register(sub) -> None:
    p = sub.add_parser(
        "scaling",
        help="measure both errors: θ-space at several N against the N → ∞ limit and the closure",
        description="Train θ-space networks of each size N (one per seed) and compare their loss "
        "curves with the N → ∞ limit (mode limit) and the overlap closure (mode exact); write "
        "scaling.json and scaling.png into --out (docs/theory.md §8).",
    )
    p.add_argument("config", help="TOML config ([network], [init], [task], [loss], [train])")
    p.add_argument("--N", default="250,1000,4000,16000",
                   help="comma-separated network sizes (default 250,1000,4000,16000)")
    p.add_argument("--seeds", default="0:4",
                   help="initial seeds: a range a:b (b excluded) or a comma list (default 0:4)")
    p.add_argument("--out", required=True,
                   help="output folder (created if needed; must be empty unless --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of an earlier run in --out")
    p.add_argument("--tol", type=float, default=0.01,
                   help="agreement level for n_for_tol (default 0.01 = 1%%)")
    p.add_argument("--limit-nodes", type=int, default=None,
                   help="override [train].limit_nodes (points per drive direction)")
    p.add_argument("--quick", action="store_true",
                   help="N = 100,400, seeds 0:2, at most 10 epochs, 6 limit nodes (a smoke run)")
    add_set_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_scaling)


#: Most values a list option may expand to ('0:100000000000' must not exhaust memory).
MAX_VALUES = 100_000


def _scaling(args) -> int:
    from .._support import interrupt as _interrupt
    from .._support.io import (
        atomic_group,
        exit_after_writing,
        prepare_out,
        provenance,
        write_json_atomic,
        write_npz_atomic,
    )
    from .._workflows.config import load_config
    from .._workflows.scaling import QUICK, run_scaling, scaling_curves, scaling_summary

    config = load_config(args.config, parse_settings(args.set))
    if args.quick:
        Ns, seeds = list(QUICK["N"]), list(QUICK["seeds"])
        max_epochs, nodes = QUICK["max_epochs"], args.limit_nodes or QUICK["limit_nodes"]
    else:
        Ns = list(parse_ints(args.N, "--N", minimum=1, limit=MAX_VALUES))
        seeds = list(parse_ints(args.seeds, "--seeds", minimum=0, limit=MAX_VALUES))
        max_epochs, nodes = None, args.limit_nodes
    from .._support.extras import require_module

    require_module("matplotlib", "scaling (scaling.png)")  # before anything is computed
    out = prepare_out(args.out, overwrite=args.overwrite)  # before anything is computed
    result = run_scaling(config, Ns, seeds, tol=float(args.tol), limit_nodes=nodes,
                         max_epochs=max_epochs, progress=not args.no_progress)
    _interrupt.check()  # an interrupted run leaves partial curves: nothing is written
    summary = scaling_summary(result)
    summary["resolved_config"] = config.resolved
    summary["provenance"] = provenance()
    from .._plots.nonlinear import plot_scaling

    names = ("scaling.json", "curves.npz", "scaling.png")
    with atomic_group(remove=[out / n for n in names] if args.overwrite else []):
        write_json_atomic(out / "scaling.json", summary)
        write_npz_atomic(out / "curves.npz", **scaling_curves(result))
        plot_scaling(result, summary, out / "scaling.png")
    print(f"{'N':>8} {'vs limit':>10} {'vs closure':>11}")
    for n, a, b in zip(summary["N"], summary["vs_limit_median"], summary["vs_closure_median"]):
        print(f"{n:>8} {a:>10.3g} {b:>11.3g}")
    lo, hi = summary["slope_ci"]
    print(f"slope vs limit {summary['slope_vs_limit']:.3g} [{lo:.3g}, {hi:.3g}]; "
          f"closure error {summary['closure_error']:.3g}; N for {args.tol:g}: "
          f"{summary['n_for_tol']}; quadrature error {summary['quadrature_error']}")
    print(f"wrote {out}/scaling.json, curves.npz, scaling.png")
    return exit_after_writing(args.out)
