"""`overlapflow export net.npz --preset P --out model.pt`: a network back to PyTorch (or .npz)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a network file as a torch state dict (or .npz) in an import preset's convention",
        description="Write a network file (net.npz from `overlapflow import`) as a PyTorch state "
        "dict in the convention of a preset, so that `overlapflow import` with the same preset "
        "gives the network back (docs/theory.md §11.1). torch-rnn writes a torch.nn.RNN under "
        "'rnn.' and a readout Linear under 'readout.' that reproduce overlapflow's outputs "
        "(needs dt = 1 and φ = tanh or relu). A network with an h0 channel is refused. Bad "
        "input: one line, exit 2, nothing written.",
    )
    p.add_argument("network", help="the network file to export (net.npz, from overlapflow import)")
    p.add_argument("--preset", choices=("overlapflow", "paper", "torch-rnn"), default="overlapflow",
                   help="the convention: overlapflow's arrays (m, u, v, z, b, phi, dt), the "
                   "paper's RNN class (m, u, v, z, b), or torch.nn.RNN + readout Linear")
    p.add_argument("--out", required=True,
                   help="the file to write: .pt or .pth (a torch state dict) or .npz")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=_export)


def _export(args) -> int:
    from .._interop.export import EXPORT_SUFFIXES, export_network
    from .._interop.network_file import load_network
    from .._support.io import check_out_file

    out = check_out_file(args.out, tuple(EXPORT_SUFFIXES), overwrite=args.overwrite)
    net = load_network(args.network)
    arrays = export_network(net, preset=args.preset, path=out)
    spec = net.spec
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items() if not isinstance(v, str)
                       and v.ndim)
    print(f"wrote {out}: {shapes}")
    again = {"overlapflow": "--preset overlapflow",
             "paper": f"--preset paper --phi {spec.phi_name} --dt {spec.dt:g}",
             "torch-rnn": f"--preset torch-rnn --rank {spec.rank} --phi {spec.phi_name}"}[args.preset]
    print(f"  import it back with: overlapflow import {out} {again} --out NET.npz")
    if args.preset == "torch-rnn":
        n_src = net.n_source_inputs
        print(f"  load it into a module with rnn = torch.nn.RNN({n_src}, {spec.N}, nonlinearity="
              f"'{spec.phi_name}', batch_first=True, dtype=torch.float64) and readout = "
              f"torch.nn.Linear({spec.N}, {spec.n_out}, dtype=torch.float64)")
    return 0
