"""`overlapflow sweep CONFIG --grid key=v1,v2 ... --seeds a:b --modes exact,theta --out DIR`."""

from __future__ import annotations

import sys

from .._support.errors import ConfigError
from .main import EXIT_INTERRUPTED, add_set_argument

EXIT_FAILED = 1


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a grid of configurations × seeds (batched, chunked, resumable, optionally on Dask)",
        description="Run the product of --grid values and --seeds for each of --modes; write "
        "DIR/sweep.csv (one row per run), DIR/runs.npz (loss curves, final Σ) and DIR/sweep.png "
        "(final loss against each grid key, and its histogram over the runs). Finished "
        "chunks are kept in DIR/chunks/: the same command resumes an interrupted sweep.",
    )
    p.add_argument("config", help="TOML config ([network], [init], [task], [loss], [train])")
    p.add_argument("--grid", action="append", default=[], metavar="TABLE.KEY=V1,V2",
                   help="values of one config key (repeatable), e.g. train.eta=1e-3,5e-3")
    add_set_argument(p)
    p.add_argument("--seeds", default="0:1", help="initial-condition seeds: n, a range a:b (a … b−1) or a list a,b,c; default 0:1")
    p.add_argument("--modes", default="exact",
                   help="comma-separated modes: theta, exact, flow, euler, direct (default exact)")
    p.add_argument("--scheduler", default="local",
                   help="local (in-process, default), dask-local (one worker per core) or "
                   "tcp://HOST:PORT (an existing Dask scheduler)")
    p.add_argument("--chunk-size", type=int, default=256, help="runs per chunk (default 256)")
    p.add_argument("--thresholds", default="1e-2,1e-4,1e-6",
                   help="loss thresholds for the epochs_to_* columns (default 1e-2,1e-4,1e-6)")
    p.add_argument("--out", required=True,
                   help="output folder (created; reused to resume the same sweep; must be empty "
                   "otherwise, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh: remove what --out holds (an earlier sweep, its chunks, other files)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_sweep)


def _thresholds(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--thresholds {text!r} must be comma-separated numbers")
    if not values or any(not v > 0 for v in values):
        raise ConfigError(f"--thresholds {text!r} must be numbers > 0")
    return values


def _sweep(args) -> int:
    from .._support.parsing import parse_settings
    from .._workflows.sweep import parse_seeds, run_sweep

    result = run_sweep(
        args.config,
        args.out,
        grid=args.grid,
        settings=parse_settings(args.set),
        seeds=parse_seeds(args.seeds, "--seeds"),
        modes=tuple(m.strip() for m in args.modes.split(",") if m.strip()),
        scheduler=args.scheduler,
        chunk_size=args.chunk_size,
        thresholds=_thresholds(args.thresholds),
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    for where, error in result.failed:
        print(f"overlapflow: {where} failed: {error}", file=sys.stderr)
    if result.interrupted:
        print(f"overlapflow: interrupted; {len(result.ran)} chunk(s) written this time, "
              f"{_finished(result.out)} of {result.n_chunks} in "
              f"{result.out}/chunks; run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not result.complete:
        print(f"overlapflow: {len(result.failed)} chunk(s) failed; the others are in "
              f"{result.out}/chunks; run the same command to retry the missing ones", file=sys.stderr)
        return EXIT_FAILED
    figure = ", sweep.png" if (result.out / "sweep.png").is_file() else ""
    print(f"{result.n_runs} runs in {result.n_chunks} chunks ({len(result.ran)} computed now, "
          f"{result.wall_s:.1f} s); wrote {result.out}/sweep.csv, runs.npz{figure}")
    return 0


def _finished(out) -> int:
    """Chunk files in out/chunks (not the hidden temporary file of one being written)."""
    return sum(not p.name.startswith(".") for p in (out / "chunks").glob("*.npz"))
