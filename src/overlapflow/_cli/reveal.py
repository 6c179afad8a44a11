"""`overlapflow reveal CONFIG --observed OBS.npz --out DIR [--truth sigma.npy]`."""

from __future__ import annotations

import argparse
import sys

from .main import EXIT_INTERRUPTED

OBS_HELP = """observations file (.npz, read without pickles):
  epochs    (E,) observed epochs, integers ≥ 0, strictly increasing (epoch e: after e updates)
  loss      (E,) the training loss of each observed epoch (on that epoch's batch)   — or —
  outputs   (E, B, T, n_out) outputs on a fixed probe input
  probe_x   (B, T, n_in) that probe input (default: batch_for_epoch(task, [task] seed, 0).x)
  sd        observation-noise standard deviation: a scalar or an array shaped like the
            observations (absent: estimated from the residuals of the fit)
The config's [init] is not used (Σ₀ is the unknown); [train] must be plain GD ("gd") in
float64, and the observed epochs within its [train] epochs. Writes DIR/reveal.json (names,
sigma0, stderr, identifiable, locally_identifiable, determined_up_to, fisher_rank, fit_loss,
restarts, null/weak directions in words, exact symmetries) and DIR/reveal.png. An overlap an
exact symmetry of the observations changes is reported as determined only up to it, with the
alternative value, never as identifiable. Ctrl-C keeps the best fit so far (reveal.json marked
"interrupted": true, exit 130)."""


def register(sub) -> None:
    p = sub.add_parser(
        "reveal",
        help="estimate a network's initial overlaps, invisible ones included, from how it learns",
        description="Fit the initial overlaps Σ₀ of a network to observations of its learning "
        "(the loss curve, or outputs at some epochs) through the exact overlap map, and report "
        "which overlaps the observations identify, with Cramér–Rao standard errors "
        "(docs/theory.md §10).",
        epilog=OBS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="TOML config ([network], [task], [loss], [train]; [init] unused)")
    p.add_argument("--observed", required=True, help="observations .npz (see below)")
    p.add_argument("--out", required=True,
                   help="output folder (created if needed; must be empty unless --overwrite)")
    p.add_argument("--truth", help="the true Σ₀ (.npy, P×P, order [M|U|V|Z]): adds the errors "
                   "to reveal.json and an estimate-vs-truth panel to reveal.png")
    p.add_argument("--restarts", type=int, default=8,
                   help="at most this many seeded random starts (default 8; the fit stops "
                   "earlier once two agree or one fits exactly)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts (default 0)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of an earlier run in --out")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress lines (one per finished restart, on stderr)")
    p.set_defaults(func=_reveal)


def _reveal(args) -> int:
    from .._inference.fit import RevealSettings
    from .._support import interrupt as _interrupt
    from .._support.errors import ConfigError
    from .._workflows.reveal import run_reveal

    if args.restarts < 1:
        raise ConfigError(f"--restarts must be ≥ 1, got {args.restarts}")
    if args.seed < 0:
        raise ConfigError(f"--seed must be ≥ 0, got {args.seed}")
    summary = run_reveal(args.config, args.observed, args.out, truth_path=args.truth,
                         overwrite=args.overwrite, progress=not args.no_progress,
                         settings=RevealSettings(restarts=args.restarts, seed=args.seed))
    if summary["interrupted"]:
        print(f"overlapflow: reveal {summary['note']}; {args.out}/reveal.json holds that fit "
              f"(objective {summary['fit_loss']:.3g}, {summary['iterations']} iterations), "
              "marked interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    _print_findings(summary)
    if not summary["global_minimum_confirmed"]:
        print(f"overlapflow: note: the least objective was reached by "
              f"{summary['agreeing_restarts']} of {len(summary['restarts'])} restart(s) and the "
              "fit is not exact: it may not be the global minimum (more --restarts, or more "
              "informative observations)", file=sys.stderr)
    print(f"wrote {args.out}/reveal.json, reveal.png")
    if _interrupt.requested():  # Ctrl-C while the files were written: they are complete
        print(f"overlapflow: interrupted while writing; {args.out} holds the complete results",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _alternatives(entries: list) -> str:
    """"or 0.584 (duality), −0.209 (sign_uv)": the values exact symmetries map an overlap to."""
    parts = [f"{e['value']:.6g} ({e['symmetry']})" if e["value"] is not None
             else f"any value along {e['symmetry']}" for e in entries]
    return "or " + ", ".join(parts)


def _print_findings(summary: dict) -> None:
    """The findings in words (docs/theory.md §10.3–§10.4): what is fixed globally, what only
    up to exact symmetries, what not at all."""
    overlaps, stderr, bound = summary["overlaps"], summary["stderr"], summary["null_bound"]
    local, upto = summary["locally_identifiable"], summary["determined_up_to"]

    def shown(n):
        text = f"σ_{n} = {overlaps[n]:.6g} ± {stderr[n]:.2g}"
        return text + (f" (null bound {bound[n]:.2g})" if bound[n] > stderr[n] else "")

    print(f"fit objective {summary['fit_loss']:.3g} after {len(summary['restarts'])} restart(s); "
          f"Fisher rank {summary['fisher_rank']} of {summary['fisher_dim']}")
    ident = [n for n, ok in summary["identifiable"].items() if ok]
    print("identifiable (fixed by the observations, no exact symmetry changes them): "
          + (", ".join(shown(n) for n in ident) or "none"))
    up = [n for n in summary["overlap_names"] if local[n] and upto[n]]
    if up:
        names = list(dict.fromkeys(e["symmetry"] for n in up for e in upto[n]))
        print("determined only up to exact symmetries (locally identifiable, but each "
              f"alternative fits the observations exactly as well; {', '.join(names)}):")
        for n in up:
            print(f"  {shown(n)}, {_alternatives(upto[n])}")
    for d in summary["null_directions"] + summary["weak_directions"]:
        print(f"  {d['text']}")
    for s in summary["symmetries"]:
        print(f"  exact symmetry {s['name']}: {s['text']}; changes σ_"
              + ", σ_".join(s["changes"]))
    truth = summary.get("truth")
    if truth is not None:
        parts = []
        if truth["max_error_identifiable"] is not None:
            parts.append(f"identifiable {truth['max_error_identifiable']:.3g}")
        if truth["max_error_locally_identifiable"] is not None:
            parts.append("locally identifiable, the estimate's symmetric image closest to the "
                         f"truth {truth['max_error_locally_identifiable']:.3g}")
        if parts:
            print("max error against --truth: " + "; ".join(parts))
