"""Watch an imported network learn and record what `overlapflow reveal` reads.

    python examples/own_network/observe.py net_linear.npz --config examples/own_network/reveal.toml

θ-space gradient descent (step N·η) of the network in the file on the config's task; its
outputs on reveal's default probe input (the batch of epoch 0) every --every epochs up to
--epochs, written to observed.npz (`epochs`, `outputs`), and its overlaps Σ₀ = XᵀX/N to
sigma0.npy (only to check the answer: `overlapflow reveal ... --truth sigma0.npy`).
"""

import argparse

import numpy as np

import overlapflow as of


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("network", help="network file written by `overlapflow import`")
    ap.add_argument("--config", required=True, help="the TOML config reveal will read")
    ap.add_argument("--every", type=int, default=25, help="observe every this many epochs")
    ap.add_argument("--epochs", type=int, default=500, help="observe up to this epoch")
    ap.add_argument("--out", default="observed.npz", help="observations file to write")
    args = ap.parse_args()
    of.enable_float64()
    cfg = of.load_config(args.config)
    X = np.asarray(of.load_network(args.network).X)
    spec, task = cfg.network.with_N(X.shape[0]), cfg.task
    x = of.batch_for_epoch(task, cfg.task_seed, 0).x
    epochs = np.arange(0, args.epochs, args.every)
    outputs, done = [], 0
    X_now = X
    for e in epochs:
        if e > done:
            X_now = of.train_theta(X_now, task, spec, eta=cfg.train.eta,
                                   epochs=int(e - done)).state[0]
            done = int(e)
        outputs.append(np.asarray(of.network_outputs(X_now, x, spec)))
    np.savez(args.out, epochs=epochs, outputs=np.stack(outputs))
    np.save("sigma0.npy", X.T @ X / X.shape[0])
    print(f"wrote {args.out} ({len(epochs)} epochs) and sigma0.npy")


if __name__ == "__main__":
    main()
