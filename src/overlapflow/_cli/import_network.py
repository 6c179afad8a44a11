"""`overlapflow import SOURCE --out net.npz`: a network from a file, in overlapflow's model."""

from __future__ import annotations

from pathlib import Path

_SUFFIX_FORMATS = {".npz": "npz", ".pt": "torch", ".pth": "torch", ".ckpt": "torch", ".bin": "torch"}


def register(sub) -> None:
    p = sub.add_parser(
        "import",
        help="convert a network from a file (npz arrays, a torch state dict) into overlapflow's model",
        description="Read a low-rank RNN (or a torch.nn.RNN, truncated to --rank) and write it "
        "exactly in overlapflow's model as net.npz: biases and a non-zero initial state become "
        "extra input channels, a readout taken before the update a shift of one step "
        "(docs/theory.md §11). The conversion is checked against the source's own equations on "
        "random inputs and the error printed. Bad input: one line, exit 2, nothing written.",
    )
    p.add_argument("source", help="the file: .npz (arrays m, u, v, z or X with columns) or a "
                   "torch state dict / checkpoint (loaded with weights_only=True)")
    p.add_argument("--format", choices=("npz", "torch"),
                   help="the file's format (default: from its suffix: .npz; .pt, .pth, .ckpt, .bin)")
    p.add_argument("--preset", choices=("overlapflow", "paper", "torch-rnn"),
                   help="how to read the arrays: overlapflow's convention (default), the paper's "
                   "RNN class, or a torch.nn.RNN / RNNCell with a readout Linear under 'readout.'")
    p.add_argument("--map", metavar="MAP.toml",
                   help="key names, scale factors, α = dt/τ, readout timing and φ of another "
                   "convention (overrides the preset; keys listed in docs/theory.md §11)")
    p.add_argument("--rank", type=int, help="R: required for a full-rank recurrent matrix "
                   "(truncated by SVD); may lower the rank of a low-rank one")
    p.add_argument("--phi", help="nonlinearity, where the file does not hold it "
                   "(erf, linear, relu, softplus, tanh; overlapflow's erf is erf(√π x/2))")
    p.add_argument("--dt", type=float, help="the source's time step (overlapflow's dt = dt/τ)")
    p.add_argument("--tau", type=float, help="the source's time constant (default 1)")
    p.add_argument("--out", required=True, help="the network file to write (.npz)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=_import)


def _import(args) -> int:
    from .._interop.networks import import_network, write_network
    from .._support.errors import ConfigError

    source = Path(args.source)
    fmt = args.format or _SUFFIX_FORMATS.get(source.suffix.lower())
    if fmt is None:
        raise ConfigError(f"cannot tell the format of {str(source)!r} from its suffix: give "
                          "--format npz or --format torch")
    out = Path(args.out)
    if out.suffix != ".npz":
        raise ConfigError(f"--out {str(out)!r} must end in .npz")
    if out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a folder; give a file name ending in .npz")
    if out.exists() and not args.overwrite:
        raise ConfigError(f"--out {str(out)!r} already exists; pass --overwrite to replace it")
    if not out.parent.exists():
        raise ConfigError(f"--out {str(out)!r}: the folder {str(out.parent)!r} does not exist")
    net = import_network(source, fmt=fmt, preset=args.preset, map=args.map, rank=args.rank,
                         phi=args.phi, dt=args.dt, tau=args.tau)
    write_network(out, net)  # atomic: a failed write leaves no file (or the old one)
    _print_summary(net, out)
    return 0


def _print_summary(net, out) -> None:
    spec = net.spec
    extra = [c for c in net.channels if not c.startswith("input:")]
    print(f"network: N={spec.N}, rank {spec.rank}, n_in={spec.n_in}"
          f"{' (' + ', '.join(extra) + ' added)' if extra else ''}, n_out={spec.n_out}, "
          f"φ={spec.phi_name}, dt={spec.dt:g}")
    print(f"source: {net.source}")
    if "bias" in net.channels:
        print(f"  input {net.channels.index('bias') + 1}: the bias, drive it with 1 at every step")
    if "h0" in net.channels:
        print(f"  input {net.channels.index('h0') + 1}: the initial state, drive it with 1/dt = "
              f"{1 / spec.dt:g} at step 0 and 0 after")
    if net.output_lead:
        print("  outputs: overlapflow's y[:, t] is the source's output at step t + 1 "
              "(the source reads out before the update)")
    print(f"check: max |y − y_source| / max |y_source| = {net.check_error:.3g} "
          f"({net.check_inputs})")
    print(f"wrote {out}")
