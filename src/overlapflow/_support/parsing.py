"""The grammars of command-line values: integer lists (`--seeds`, `--N`) and config settings
(`--set table.key=value`, the values of `--grid`).

Integer lists:

    n          the single value n
    a:b        the range a, a+1, …, b−1 (a < b)
    a,b,c      the listed values

Config values are TOML values (`1e-3`, `500`, `"erf"`, `true`, `[0.1, 0.2]`, `{u = 0.5}`); a
text that is not one is taken as a bare string (`erf`).
"""

from __future__ import annotations

import tomllib

from .errors import ConfigError

__all__ = ["parse_ints", "parse_value", "parse_settings", "split_setting"]


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


def parse_value(text: str):
    """A config value: a TOML value (1e-3, 500, "erf", true, [1, 2]) or else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def split_setting(item: str, what: str, example: str) -> tuple[str, str]:
    """`"train.eta=0.01"` → ("train.eta", "0.01"); ConfigError naming `what` unless the item is
    table.key=text (one dot, a non-empty text)."""
    key, sep, text = str(item).partition("=")
    key, text = key.strip(), text.strip()
    table, dot, name = key.partition(".")
    if not sep or not dot or not table or not name or "." in name or not text:
        raise ConfigError(f"{what} {item!r} must look like {example}")
    return key, text


def parse_settings(items, what: str = "--set") -> dict[str, object]:
    """`["train.eta=0.01", "task.decay=0.5"]` → {"train.eta": 0.01, "task.decay": 0.5}.

    ConfigError naming `what` for an item that is not table.key=value or a key given twice.
    The tables and keys are checked by the config they apply to (`_workflows.config`).
    """
    settings: dict[str, object] = {}
    for item in items:
        key, text = split_setting(item, what, "table.key=value (e.g. train.eta=0.01)")
        if key in settings:
            raise ConfigError(f"{what} {key} is given twice")
        settings[key] = parse_value(text)
    return settings
