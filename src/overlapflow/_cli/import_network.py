"""`overlapflow import SOURCE --out net.npz`: a network from a file, in overlapflow's model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_SUFFIX_FORMATS = {".npz": "npz", ".pt": "torch", ".pth": "torch", ".ckpt": "torch", ".bin": "torch"}

EXIT_PROBE_FAILED = 1

_DESCRIPTION = (
    "Read a low-rank RNN (or a torch.nn.RNN, truncated to --rank) and write it\n"
    "exactly in overlapflow's model as net.npz: biases and a non-zero initial state become\n"
    "extra input channels, a readout taken before the update a shift of one step\n"
    "(docs/theory.md §11.1). The conversion is checked on random inputs against the map's\n"
    "reading of the file, which shows the conversion exact but not the map right: --probe\n"
    "checks the network against outputs of your own model. Keys of the file that the map\n"
    "does not read are refused (--allow-unused: a warning). Bad input: one line, exit 2,\n"
    "nothing written; a --probe mismatch: exit 1, nothing written."
)


def _epilog() -> str:
    import textwrap

    from .._interop.map_keys import map_key_table

    rows = [textwrap.fill(line, 96, subsequent_indent=" " * 16) for line in map_key_table().splitlines()]
    return "\n".join(["keys of a MAP.toml (--map; docs/theory.md §11.1), with their default when",
                      "a map starts from the overlapflow preset:", *rows])


def register(sub) -> None:
    p = sub.add_parser(
        "import",
        help="convert a network from a file (npz arrays, a torch state dict) into overlapflow's model",
        description=_DESCRIPTION,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="the file: .npz (arrays m, u, v, z or X with columns) or a "
                   "torch state dict / checkpoint (loaded with weights_only=True)")
    p.add_argument("--format", choices=("npz", "torch"),
                   help="the file's format (default: from its suffix: .npz; .pt, .pth, .ckpt, .bin)")
    p.add_argument("--preset", choices=("overlapflow", "paper", "torch-rnn", "low-rank-rnns"),
                   help="how to read the arrays: overlapflow's convention (default), the paper's "
                   "RNN class, a torch.nn.RNN / RNNCell with a readout Linear under 'readout.', "
                   "or LowRankRNN of the low_rank_rnns package")
    p.add_argument("--map", metavar="MAP.toml",
                   help="key names, scale factors and arrays, α = dt/τ, readout timing and φ of "
                   "another convention (overrides the preset; keys listed below)")
    p.add_argument("--rank", type=int, help="R: required for a full-rank recurrent matrix "
                   "(truncated by SVD); may lower the rank of a low-rank one")
    p.add_argument("--phi", help="nonlinearity, where the file does not hold it "
                   "(erf, linear, relu, softplus, tanh; overlapflow's erf is erf(√π x/2))")
    p.add_argument("--dt", type=float, help="the source's time step (overlapflow's dt = dt/τ)")
    p.add_argument("--tau", type=float, help="the source's time constant (default 1)")
    p.add_argument("--probe", metavar="PROBE.npz",
                   help="arrays x (B, T, n_in) and y (B, T, n_out): your model's outputs y on "
                   "inputs x, computed in your framework; the imported network must reproduce "
                   "them within --probe-tol (else exit 1, nothing written)")
    p.add_argument("--probe-tol", type=float, default=1e-6,
                   help="largest max |y − y_probe| / max |y_probe| accepted")
    p.add_argument("--allow-unused", action="store_true",
                   help="import even if the file holds keys the map does not read (a warning)")
    p.add_argument("--out", required=True, help="the network file to write (.npz)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=_import)


def _import(args) -> int:
    import math
    import warnings

    from .._interop.networks import UnusedKeysWarning, import_network, probe_failure, write_network
    from .._support.errors import ConfigError
    from .._support.io import check_out_file

    source = Path(args.source)
    fmt = args.format or _SUFFIX_FORMATS.get(source.suffix.lower())
    if fmt is None:
        raise ConfigError(f"cannot tell the format of {str(source)!r} from its suffix: give "
                          "--format npz or --format torch")
    out = check_out_file(args.out, (".npz",), overwrite=args.overwrite)
    if not (math.isfinite(args.probe_tol) and args.probe_tol >= 0):
        raise ConfigError(f"--probe-tol must be a finite number ≥ 0, got {args.probe_tol!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnusedKeysWarning)
        net = import_network(source, fmt=fmt, preset=args.preset, map=args.map, rank=args.rank,
                             phi=args.phi, dt=args.dt, tau=args.tau, allow_unused=args.allow_unused,
                             probe=args.probe, probe_tol=None)
    for w in caught:
        if issubclass(w.category, UnusedKeysWarning):
            print(f"overlapflow: warning: {w.message}", file=sys.stderr)
    if args.probe is not None and not net.probe_error <= args.probe_tol:
        print(f"overlapflow: failed: {probe_failure(net, args.probe_tol)}", file=sys.stderr)
        return EXIT_PROBE_FAILED
    write_network(out, net)  # atomic: a failed write leaves no file (or the old one)
    _print_summary(net, out, args.probe_tol)
    return 0


def _print_summary(net, out, probe_tol) -> None:
    from .._interop.network_file import channel_labels

    spec = net.spec
    labels = channel_labels(net.channels)
    extra = [c for c in net.channels if not c.startswith("input:")]
    print(f"network: N={spec.N}, rank {spec.rank}, n_in={spec.n_in}"
          f"{' (' + ', '.join(extra) + ' added)' if extra else ''}, n_out={spec.n_out}, "
          f"φ={spec.phi_name}, dt={spec.dt:g}")
    print(f"source: {net.source}")
    if "bias" in net.channels:
        print(f"  input {net.channels.index('bias') + 1} ({labels[net.channels.index('bias')]}): "
              "the bias, drive it with 1 at every step")
    if "h0" in net.channels:
        print(f"  input {net.channels.index('h0') + 1} ({labels[net.channels.index('h0')]}): the "
              f"initial state, drive it with 1/dt = {1 / spec.dt:g} at step 0 and 0 after")
    if net.output_lead:
        print("  outputs: overlapflow's y[:, t] is the source's output at step t + 1 "
              "(the source reads out before the update)")
    print(f"check: max |y − y_source| / max |y_source| = {net.check_error:.3g} "
          f"({net.check_inputs})")
    if net.probe_inputs:
        print(f"probe: max |y − y_probe| / max |y_probe| = {net.probe_error:.3g} ≤ {probe_tol:g} "
              f"({net.probe_inputs}): the network reproduces your model's outputs")
    else:
        print("  the check compares the conversion with the map's reading of the file, not with "
              "your model: it cannot see a key the map misreads; pass --probe PROBE.npz (x and "
              "your model's y) to check against your model")
    print(f"wrote {out}")
