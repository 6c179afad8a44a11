"""Command line: `overlapflow COMMAND ...`. Parses, dispatches, reports errors; computes nothing.

Each command lives in its own `_cli_<name>.py` module exposing `register(subparsers)`, which
adds a sub-parser whose `func(args) -> int` runs the command.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._errors import OverlapflowError

COMMAND_MODULES = ("_cli_compare", "_cli_inspect", "_cli_scaling", "_cli_sweep", "_cli_run")

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="overlapflow",
        description="Learning dynamics of low-rank RNNs in θ-space and in overlap space.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"overlapflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"overlapflow.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    """Entry point; returns the exit code (0 ok, 1 failed check, 2 bad input, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except OverlapflowError as exc:
        print(f"overlapflow: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("overlapflow: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> None:  # console script
    sys.exit(main())
