"""The command line as Python functions.

`main(argv)` runs one `overlapflow` command in this process and returns its exit status (0 ok,
1 a failed check, 2 bad input with a one-line message, 130 interrupted), exactly as the console
script does; `build_parser()` is the argument parser that the CLI reference of the docs site
(reference/cli.md, written by docs/gen_reference.py at build time) is generated from. Calling
`main` turns on JAX's 64-bit mode, as the command line does.
"""

from ._cli.main import build_parser as build_parser
from ._cli.main import main as main

__all__ = ["build_parser", "main"]
