"""Command line: `overlapflow COMMAND ...`. Parses, dispatches, reports errors; computes nothing.

Each command lives in its own module `_cli.<name>` exposing `register(subparsers)`, which
adds a sub-parser whose `func(args) -> int` runs the command.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .._support.errors import OverlapflowError

# One module per subcommand, each with `register(subparsers)`; the order is the order of --help.
COMMAND_MODULES = ("compare", "inspect", "scaling", "sweep", "run", "import_network", "export", "reveal")

EXIT_BAD_INPUT = 2

#: Library errors name Python parameters; the command line shows its own option names.
CLI_NAMES = {"grid item": "--grid", "grid key": "--grid key", "modes": "--modes",
             "seeds": "--seeds", "N": "--N", "tol": "--tol", "out_dir": "--out"}


def cli_message(message: str) -> str:
    """An error message with a leading Python parameter name replaced by its option."""
    for name in sorted(CLI_NAMES, key=len, reverse=True):
        if message.startswith(name + " "):
            return CLI_NAMES[name] + message[len(name):]
    return message.replace(" in modes;", " in --modes;")
EXIT_INTERRUPTED = 130


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    """`--set TABLE.KEY=VALUE` (repeatable): a config key replaced or added before validation."""
    parser.add_argument(
        "--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
        help="set one config key (repeatable; applied before the config is checked), e.g. "
        "--set train.eta=0.01 --set task.decay=0.5; values are TOML: 1e-3, \"erf\", true, "
        "[\"theta\", \"exact\"], {u = 0.5}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="overlapflow",
        description="Learning dynamics of low-rank RNNs in θ-space and in overlap space.",
    )
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"overlapflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"overlapflow._cli.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    """Entry point; returns the exit code (0 ok, 1 failed check, 2 bad input, 130 interrupted).

    Every problem a user can cause ends in one line on stderr; Ctrl-C ends in exit 130 after
    the command saved what it had computed (commands that save partial results say so; the
    others write nothing).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)  # --help and usage errors end here, before JAX is imported

    from .._support import interrupt as _interrupt
    from .._support.io import set_command_line
    from .._support.precision import enable_float64

    enable_float64()  # exactness claims are float64 claims (docs/theory.md §4)
    set_command_line(["overlapflow", *argv])
    with _interrupt.handling():
        try:
            return int(args.func(args) or 0)
        except OverlapflowError as exc:
            print(f"overlapflow: error: {cli_message(str(exc))}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            print("overlapflow: interrupted; no result files were written or changed",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        except MemoryError:
            print("overlapflow: error: out of memory (use smaller sizes, fewer seeds or chunks)",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
        except OSError as exc:  # an unreadable file, a vanished folder: not a traceback
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            print(f"overlapflow: error: {exc.strerror or exc}{where}", file=sys.stderr)
            return EXIT_BAD_INPUT


def run() -> None:  # console script (also `python -m overlapflow`)
    from .._support import interrupt as _interrupt

    _interrupt.exit_quietly()  # a Ctrl-C in the teardown after the command: no traceback
    code = main()
    if code == EXIT_INTERRUPTED:
        # An interrupt can leave XLA compiling in a thread of its own (the KeyboardInterrupt
        # is raised inside `compile_and_load`, the compilation goes on); tearing the
        # interpreter down under it segfaults (exit 139). The results are written and
        # fsynced: leave without the teardown, deterministically 130.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    sys.exit(code)
