"""Make a state dict of the paper's RNN class (a small one) to try `overlapflow import` on.

    python examples/own_network/make_state_dict.py --N 200 --out paper_rnn.pt --probe probe.npz
    overlapflow import paper_rnn.pt --format torch --preset paper --phi erf --dt 0.05 \
        --probe probe.npz --out net.npz
    overlapflow inspect examples/own_network/network.toml --vectors net.npz

The class below is the paper's convention (docs/theory.md §11): parameters m, u, v, z of shape
(N, 1), the step h ← h + (dt/τ)(−h + u vᵀφ(h)/N + m x), and the readout z·φ(h_t)/N taken
*before* the update, so that its output at step t + 1 is overlapflow's output at step t.
`--probe` also saves inputs x and this class's outputs y on them, computed here in PyTorch: the
import then checks the network it writes against them (docs/theory.md §11.1).
Needs PyTorch (`pip install "overlapflow[torch]"`).
"""

import argparse
import math

import torch


class PaperRNN(torch.nn.Module):
    """Rank-1 RNN of N units with one input and one output (the paper's parametrisation)."""

    def __init__(self, N: int, dt: float = 0.05, tau: float = 1.0):
        super().__init__()
        for name in "muvz":  # i.i.d. N(0, 1) loadings, as the paper's random start
            setattr(self, name, torch.nn.Parameter(torch.randn(N, 1, dtype=torch.float64)))
        self.N, self.alpha = N, dt / tau

    @staticmethod
    def phi(h):
        return torch.erf(0.5 * math.sqrt(math.pi) * h)  # overlapflow's "erf"

    def forward(self, x):
        """x (B, T, 1) → outputs (B, T, 1); output t is read from h_t, before update t."""
        h = torch.zeros(x.shape[0], self.N, dtype=x.dtype)
        outputs = []
        for t in range(x.shape[1]):
            r = self.phi(h)
            outputs.append(r @ self.z / self.N)
            h = h + self.alpha * (-h + (r @ self.v) @ self.u.T / self.N + x[:, t] @ self.m.T)
        return torch.stack(outputs, dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=200, help="number of units (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the loadings (default 0)")
    parser.add_argument("--out", default="paper_rnn.pt", help="where to save the state dict")
    parser.add_argument("--probe", help="also save inputs x (4, 100, 1) and the model's outputs "
                        "y on them to this .npz (for overlapflow import --probe)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model = PaperRNN(args.N)
    torch.save(model.state_dict(), args.out)  # tensors only: loads with weights_only=True
    print(f"wrote {args.out}: state dict with {', '.join(model.state_dict())} of shape ({args.N}, 1)")
    if args.probe:
        import numpy as np

        x = torch.randn(4, 100, 1, dtype=torch.float64)
        with torch.no_grad():
            y = model(x)
        np.savez(args.probe, x=x.numpy(), y=y.numpy())
        print(f"wrote {args.probe}: inputs x {tuple(x.shape)} and the model's outputs y {tuple(y.shape)}")


if __name__ == "__main__":
    main()
