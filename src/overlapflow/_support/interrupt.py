"""Ctrl-C in the command line: one deterministic path.

While a command runs (`handling()`), SIGINT both raises KeyboardInterrupt (so that a long
computation stops at once) and sets a flag. The flag matters because a KeyboardInterrupt can be
swallowed (raised inside a garbage-collector callback of JAX, it is printed as "Exception
ignored" and lost) or caught by the epoch loop, which keeps the epochs computed so far: every
later loop of the same command sees the flag and computes nothing more (`check()`), and the
command reports the interruption and exits 130.

Outside `handling()` (library use) nothing changes: the flag is never set.
"""

from __future__ import annotations

import contextlib
import signal
import threading

__all__ = ["handling", "active", "requested", "check", "note", "first", "deferred",
           "interruption_text", "exit_quietly"]

_state: dict = {"active": False, "requested": False, "first": None, "defer": 0,
                "exiting": False}


def _in_finalizer(frame) -> bool:
    """True inside a garbage-collector callback or a __del__: an exception raised there is
    printed as "Exception ignored … Traceback" and lost, so only the flag is set."""
    for _ in range(4):
        if frame is None:
            return False
        name = frame.f_code.co_name
        if name == "__del__" or "gc_callback" in name:
            return True
        frame = frame.f_back
    return False


def _handler(signum, frame):
    _state["requested"] = True
    if _state["defer"] == 0 and not _in_finalizer(frame):
        raise KeyboardInterrupt


@contextlib.contextmanager
def handling():
    """Install the SIGINT handler for the duration of one command (main thread only)."""
    _state.update(active=True, requested=False, first=None, defer=0)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN if _state["exiting"] else previous)
        _state.update(active=False, requested=False, first=None, defer=0)


def exit_quietly() -> None:
    """The process ends with the next command: from the end of its `handling()` block on,
    SIGINT is ignored. The command's files are written and its exit code is decided; a Ctrl-C
    that arrives during the interpreter's teardown (JAX's atexit hooks included) would
    otherwise print a traceback or turn the exit code into −2. (Console script only: a
    library caller keeps its own handler.)"""
    _state["exiting"] = True


def active() -> bool:
    """True while a command runs under `handling()`."""
    return _state["active"]


def requested() -> bool:
    """True once this command was interrupted (always False outside `handling()`)."""
    return _state["active"] and _state["requested"]


def check() -> None:
    """Raise KeyboardInterrupt if this command was interrupted (a safe point to stop at)."""
    if requested():
        raise KeyboardInterrupt


def note(where: str | None = None, epoch: int | None = None, epochs: int | None = None) -> None:
    """Record an interruption caught by the code (the first one: where and at which epoch)."""
    if not _state["active"]:
        return
    _state["requested"] = True
    if _state["first"] is None and where is not None:
        _state["first"] = {"where": where, "epoch": epoch, "epochs": epochs}


def first() -> dict | None:
    """{where, epoch, epochs} of the first interrupted epoch loop of this command, or None."""
    return dict(_state["first"]) if _state["first"] else None


@contextlib.contextmanager
def deferred():
    """Ctrl-C is recorded (`requested()`) but not raised inside this block: the renames that
    commit a set of result files are not cut in half."""
    _state["defer"] += 1
    try:
        yield
    finally:
        _state["defer"] -= 1


def interruption_text(at: dict | None) -> str:
    """'interrupted at epoch k of E (where)' for the record of an interrupted run.

    `at` holds `epoch` and `epochs`, and either `mode` (a comparison: the mode that was
    running, None once every mode had finished) or `where` (an experiment's loop).
    """
    if not at:
        return "interrupted"
    if "mode" in at:
        if at["mode"] is None:
            return f"interrupted after every mode finished its {at['epochs']} epochs"
        where = f"mode {at['mode']}"
    else:
        where = at.get("where")
    if at.get("epoch") is None:
        return "interrupted"
    if at["epoch"] == 0:
        return f"interrupted before the first epochs of {where} were computed"
    return f"interrupted at epoch {at['epoch']} of {at['epochs']} ({where})"
