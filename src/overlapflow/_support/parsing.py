"""The one grammar for integer lists on the command line (`--seeds`, `--N`).

    n          the single value n
    a:b        the range a, a+1, …, b−1 (a < b)
    a,b,c      the listed values
"""

from __future__ import annotations

from .errors import ConfigError

__all__ = ["parse_ints"]


def parse_ints(text: str, what: str, *, minimum: int = 0, limit: int = 1_000_000) -> tuple[int, ...]:
    """Parse `text` in the grammar above; ConfigError naming `what` on anything else.

    Values must be ≥ `minimum`, distinct, and at most `limit` of them.
    """
    text = str(text).strip()
    try:
        if ":" in text:
            a, b = (int(v) for v in text.split(":"))
        else:
            values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{what} must be an integer n, a range a:b (a … b−1) or a list "
                          f"a,b,c; got {text!r}") from None
    if ":" in text:
        if b <= a:
            raise ConfigError(f"{what} {text!r}: a range a:b needs a < b")
        if b - a > limit:
            raise ConfigError(f"{what} {text!r} asks for {b - a} values; at most {limit} "
                              "(split the job)")
        values = tuple(range(a, b))
    if not values:
        raise ConfigError(f"{what} is empty ({text!r})")
    if len(values) > limit:
        raise ConfigError(f"{what} {text!r} asks for {len(values)} values; at most {limit}")
    if min(values) < minimum:
        raise ConfigError(f"{what} values must be ≥ {minimum}, got {text!r}")
    if len(set(values)) != len(values):
        raise ConfigError(f"{what} {text!r} repeats a value")
    return values
