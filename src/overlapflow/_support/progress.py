"""Progress reports: a tqdm bar on a terminal, plain lines on stderr otherwise.

Without a terminal (CI logs, pipes, `nohup`) a bar is invisible, so long runs report in
plain lines instead: one line per update (a chunk of epochs, a chunk of runs), at most one
every `LINE_INTERVAL_S` seconds, and always the last one, each with the count, the percentage,
the elapsed time and an estimate of the time left. `enabled=False` (the CLI's
`--no-progress`) silences both.

Whichever the display, the first update also measures the rate: when the whole job then
projects to more than `WARN_ABOVE_S` seconds, one line on stderr says so with the estimate,
before most of the work is done.
"""

from __future__ import annotations

import contextlib
import sys
import time

__all__ = ["progress_bar", "LINE_INTERVAL_S", "WARN_ABOVE_S"]

#: The least time between two progress lines when stderr is not a terminal.
LINE_INTERVAL_S = 5.0
#: A job projected to take longer than this (after its first update) is announced.
WARN_ABOVE_S = 180.0


class _NullBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class LineBar:
    """Progress as plain lines on a stream (rate-limited; the final line always)."""

    def __init__(self, *, total: int, desc: str, unit: str, stream, interval: float):
        self.total, self.desc, self.unit, self.stream = max(int(total), 0), desc, unit, stream
        self.interval = interval
        self.n = 0
        self.postfix = ""
        self.start = self.last = time.monotonic()
        self.reported = -1

    def update(self, n=1):
        self.n += int(n)
        now = time.monotonic()
        if self.n >= self.total or now - self.last >= self.interval:
            self._line(now)

    def set_postfix_str(self, s):
        self.postfix = str(s)

    def _line(self, now: float) -> None:
        if self.n == self.reported:
            return
        elapsed = now - self.start
        pct = 100.0 * self.n / self.total if self.total else 100.0
        left = elapsed * (self.total - self.n) / self.n if self.n else float("nan")
        eta = _clock(left) if self.n else "?"
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {self.n}/{self.total} {self.unit} ({pct:.0f}%), "
              f"{_clock(elapsed)} elapsed, ~{eta} left{extra}", file=self.stream, flush=True)
        self.last, self.reported = now, self.n

    def close(self) -> None:
        if self.n and self.n != self.reported:
            self._line(time.monotonic())


class _Estimate:
    """Wraps a bar: it never counts past its total, and after the first update it warns once
    if the projected total is long."""

    def __init__(self, bar, *, total: int, desc: str, stream, threshold: float):
        self.bar, self.total, self.desc, self.stream = bar, total, desc, stream
        self.threshold = threshold
        self.start = time.monotonic()
        self.n = 0
        self.warned = False

    def update(self, n=1):
        n = max(0, min(int(n), self.total - self.n))  # e.g. the record after the last epoch
        self.n += n
        self.bar.update(n)
        if not self.warned and 0 < self.n < self.total:
            self.warned = True
            projected = (time.monotonic() - self.start) * self.total / self.n
            if projected > self.threshold:
                print(f"overlapflow: {self.desc or 'this job'} will take about "
                      f"{projected / 60:.0f} min at the current rate ({_clock(projected)}); "
                      "Ctrl-C stops it and keeps what is done", file=self.stream, flush=True)

    def set_postfix_str(self, s):
        self.bar.set_postfix_str(s)

    def close(self):
        self.bar.close()


@contextlib.contextmanager
def progress_bar(*, total: int, desc: str = "", enabled: bool = True, unit: str = "it"):
    """Context manager yielding an object with `.update(n)` and `.set_postfix_str(s)`.

    A tqdm bar when stderr is a terminal, plain progress lines on stderr otherwise (see the
    module docstring), nothing when `enabled` is False.
    """
    if not enabled:
        yield _NullBar()
        return
    stream = sys.stderr
    if stream is not None and stream.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)
    elif stream is not None:
        bar = LineBar(total=total, desc=desc, unit=unit, stream=stream, interval=LINE_INTERVAL_S)
    else:  # no stderr at all (pythonw, some daemons)
        yield _NullBar()
        return
    bar = _Estimate(bar, total=total, desc=desc, stream=stream, threshold=WARN_ABOVE_S)
    try:
        yield bar
    finally:
        bar.close()
