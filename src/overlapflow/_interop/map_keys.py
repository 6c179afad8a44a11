"""The keys of a MAP.toml (docs/theory.md §11.1): what each says and its default.

Kept free of numpy so that `overlapflow import --help` lists them without loading it.
"""

from __future__ import annotations

__all__ = ["MAP_DEFAULTS", "MAP_KEYS", "map_key_table"]

#: map key → what it says.
MAP_KEYS = {
    "m": "key of the input vectors M (N, n_in)",
    "u": "key of U (N, R) of a low-rank W = s_w U Vᵀ",
    "v": "key of V (N, R)",
    "w": "key of a full recurrent matrix (N, N) (instead of u, v): truncated to --rank by SVD",
    "z": "key of the readout vectors Z (N, n_out)",
    "b": "key, or list of keys summed, of a bias (N,) inside the leak bracket",
    "h0": "key of the initial state (N,)",
    "h0_is_rate": "true: h0 is the initial rate φ(h_0) (torch.nn.RNN's h_0); needs α = 1",
    "phi_bias": "key of a bias inside φ, r = φ(h + b) (refused unless all zero)",
    "readout_bias": "key of a readout bias y = … + c (refused unless all zero)",
    "transpose": "list of arrays stored as (k, N) instead of (N, k): the file's keys (\"wi\") "
                 "or the roles m, u, v, w, z",
    "scale_w": 'W = scale_w · U Vᵀ: a number, "1/N", "c/N" or "1/sqrt(N)"',
    "scale_in": "drive = scale_in · M x: a factor as scale_w, a key of an (n_in,) array "
                "scaling the columns of M, or a list of these multiplied",
    "scale_out": "y = scale_out · Zᵀ φ(h): a factor, a key of an (n_out,) array scaling the "
                 "columns of Z, or a list (e.g. [\"so\", \"1/N\"])",
    "readout": '"after" (y_t from h_{t+1}, overlapflow\'s) or "before" (from h_t)',
    "phi": "nonlinearity name (overlapflow's: erf is erf(√π x/2))",
    "dt": "the source's time step (α = dt/τ)",
    "tau": "the source's time constant",
    "alpha": "α = dt/τ directly (instead of dt, tau)",
}

#: The default of each `MAP_KEYS` entry when a map starts from the "overlapflow" preset.
MAP_DEFAULTS = {
    "m": '"m"', "u": '"u"', "v": '"v"', "w": "none (u, v)", "z": '"z"',
    "b": '"b" if present', "h0": '"h0" if present', "h0_is_rate": "false", "phi_bias": "none",
    "readout_bias": "none", "transpose": "[]", "scale_w": '"1/N"', "scale_in": "1",
    "scale_out": '"1/N"', "readout": '"after"', "phi": 'the file\'s "phi", or --phi',
    "dt": 'the file\'s "dt", or --dt', "tau": 'the file\'s "tau", --tau, or 1', "alpha": "dt/tau",
}


def map_key_table(markdown: bool = False) -> str:
    """The map keys with their meaning and default, as plain text or a markdown table."""
    if markdown:
        rows = ["| key | meaning | default |", "|---|---|---|"]
        rows += [f"| `{k}` | {MAP_KEYS[k].replace('|', chr(92) + '|')} | {MAP_DEFAULTS[k]} |"
                 for k in MAP_KEYS]
        return "\n".join(rows)
    width = max(map(len, MAP_KEYS))
    return "\n".join(f"  {k:<{width}}  {MAP_KEYS[k]} (default: {MAP_DEFAULTS[k]})" for k in MAP_KEYS)
