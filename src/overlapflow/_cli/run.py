"""`overlapflow run NAME|all --out DIR [--quick] [--seed S] [--starts N] [--set KEY=VALUE ...]`."""

from __future__ import annotations

import sys

from .._support.errors import ConfigError, OverlapflowError
from .main import EXIT_INTERRUPTED

EXIT_CHECK_FAILED = 1


def register(sub) -> None:
    p = sub.add_parser(
        "run",
        help="reproduce an experiment of the paper (figures, results, checked claims)",
        description="Run one experiment of the paper (or all) with its parameters; write "
        "DIR/NAME/{results.npz, summary.json, *.png}; `all` also writes DIR/index.html. "
        "Exits 1 if a check fails. Experiments: fig1, rank2, degeneracy, memory, adam, "
        "nonlinear, optimizers, twins, metric, forgetting, reveal.",
    )
    p.add_argument("name", help="experiment name, or 'all'")
    p.add_argument("--out", required=True,
                   help="output folder (created if needed); DIR/NAME must be empty unless --overwrite")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of an earlier run of the same experiment(s) in --out")
    p.add_argument("--quick", action="store_true",
                   help="shrunk sizes (each experiment well under a minute; tests use it)")
    p.add_argument("--seed", type=int, default=0, help="base seed of every random draw (default 0)")
    p.add_argument("--starts", type=int, default=None,
                   help="twins: number of random starts (default 10, as the paper)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter (see summary.json 'params'); repeatable; "
                   "lists as comma-separated values")
    p.add_argument("--redraw", action="store_true",
                   help="only redraw the figures (and index.html) from existing DIR/NAME results")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--self-contained", action="store_true",
                   help="`all`: embed the figures in index.html (base64), one file to mail")
    p.set_defaults(func=_run)


def _overrides(items) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def print_checks(summaries: list[dict], file=None) -> None:
    """A short table: experiment, claim, value, relation, threshold, pass/FAIL (to stdout)."""
    file = file or sys.stdout
    print(f"{'experiment':<11} {'ok':<4} {'value':>10} {'':1} {'threshold':<10} claim", file=file)
    for s in summaries:
        for c in s["checks"]:
            value = "nan" if c["value"] is None else _fmt(c["value"])
            print(f"{s['experiment']:<11} {'ok' if c['passed'] else 'FAIL':<4} {value:>10} "
                  f"{c['relation']:1} {_fmt(c['threshold']):<10} {c['name']}", file=file)
    for s in summaries:
        print(f"{s['experiment']}: {s['wall_time_s']:.1f} s, figures: {', '.join(s['figures'])}",
              file=file)


def _selected_overrides(names, user: dict, args, get_experiment, resolve_params) -> dict:
    """{name: overrides} for every selected experiment, checked before anything runs.

    One experiment: every key must be one of its parameters. `run all`: a key applies to the
    experiments that have it and must be known to at least one of them.
    """
    if args.name == "all":
        known = {k for n in names for k in get_experiment(n).defaults}
        unknown = sorted(set(user) - known)
        if unknown:
            raise ConfigError(
                f"--set {', '.join(unknown)}: not a parameter of any experiment; valid: "
                f"{', '.join(sorted(known))}")
    selected = {}
    for name in names:
        exp = get_experiment(name)
        overrides = dict(user) if args.name != "all" else {
            k: v for k, v in user.items() if k in exp.defaults}
        if args.starts is not None and name == "twins":
            overrides["starts"] = args.starts
        resolve_params(exp, quick=args.quick, overrides=overrides)  # names and values checked
        selected[name] = overrides
    return selected


def _run(args) -> int:
    from .._support.extras import require_module

    for module in ("matplotlib", "scipy"):
        require_module(module, "overlapflow run")
    from ..experiments import EXPERIMENT_NAMES, get_experiment
    from ..experiments._common import resolve_params

    names = list(EXPERIMENT_NAMES) if args.name == "all" else [args.name]
    for name in names:
        get_experiment(name)  # unknown names fail before anything runs
    if args.starts is not None and args.starts < 2:
        raise ConfigError(f"--starts must be ≥ 2, got {args.starts}")
    if args.seed < 0:
        raise ConfigError(f"--seed must be ≥ 0, got {args.seed}")
    user = _overrides(args.set)
    selected = {} if args.redraw else _selected_overrides(names, user, args, get_experiment,
                                                          resolve_params)
    made = []  # folders this command creates: removed again, if left empty, on an error
    try:
        return _run_experiments(args, names, selected, made)
    except (OverlapflowError, OSError):
        _remove_empty(made)
        raise


def _remove_empty(folders) -> None:
    """Remove the folders of `folders` that hold nothing (deepest first)."""
    import contextlib

    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()  # fails, and keeps it, when the folder holds anything


def _missing(folder) -> list:
    """`folder` and its ancestors that do not exist yet."""
    from pathlib import Path

    out = []
    folder = Path(folder).absolute()
    while not folder.exists() and folder.parent != folder:
        out.append(folder)
        folder = folder.parent
    return out


def _run_experiments(args, names, selected, made) -> int:
    from pathlib import Path

    from .._plots.report import write_index
    from .._support.interrupt import interruption_text
    from .._support.io import prepare_out
    from ..experiments import redraw_experiment, run_experiment

    if not args.redraw:  # the folders are checked before anything is computed
        made += _missing(args.out)
        out = prepare_out(args.out, check_empty=False)
        for name in names:
            made += _missing(out / name)
            prepare_out(out / name, overwrite=args.overwrite)
        if args.name == "all" and (out / "index.html").exists() and not args.overwrite:
            raise ConfigError(f"--out {args.out!r} already holds index.html from an earlier "
                              "run; pass --overwrite to replace it, or choose another --out")
    summaries = []
    interrupted = None
    for name in names:
        if args.redraw:
            summaries.append(redraw_experiment(name, args.out))
            continue
        summary = run_experiment(name, args.out, quick=args.quick, seed=args.seed,
                                 overrides=selected[name], progress=not args.no_progress,
                                 replace=args.overwrite)
        summaries.append(summary)
        if summary.get("interrupted"):
            interrupted = summary
            break
        print(f"{name}: done in {summary['wall_time_s']:.1f} s", file=sys.stderr)
    complete = [s for s in summaries if not s.get("interrupted")]
    if complete:
        print_checks(complete)
    if args.name == "all":
        path = write_index(args.out, summaries, self_contained=args.self_contained)
        print(f"wrote {path}")
    if interrupted is not None:
        folder = Path(args.out) / interrupted["experiment"]
        saved = ("the arrays computed so far" if (folder / "results.npz").exists()
                 else "no arrays; summary.json records the interruption")
        done = f"; {len(complete)} experiment(s) complete before it" if args.name == "all" else ""
        print(f"overlapflow: {interrupted['experiment']} "
              f"{interruption_text(interrupted['interrupted'])}; {folder} holds {saved}{done}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    from .._support import interrupt as _interrupt

    if _interrupt.requested():  # Ctrl-C while the last files were written: they are complete
        print(f"overlapflow: interrupted while writing; the results in {args.out} are complete",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = sum(not c["passed"] for s in summaries for c in s["checks"])
    if failed:
        print(f"overlapflow: {failed} check(s) failed", file=sys.stderr)
        return EXIT_CHECK_FAILED
    return 0
