"""Progress bars (tqdm), silent when disabled or when stderr is not a terminal."""

from __future__ import annotations

import contextlib

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


class _NullBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass


@contextlib.contextmanager
def progress_bar(*, total: int, desc: str = "", enabled: bool = True, unit: str = "it"):
    """Context manager yielding an object with `.update(n)`; a tqdm bar when enabled."""
    if not enabled:
        yield _NullBar()
        return
    # disable=None: tqdm stays silent when stderr is not a terminal (CI logs, pipes).
    bar = tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True, disable=None)
    try:
        yield bar
    finally:
        bar.close()
