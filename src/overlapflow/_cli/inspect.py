"""`overlapflow inspect CONFIG [--vectors file.npz] [--out DIR]`."""

from __future__ import annotations

from .._support.errors import ConfigError
from .main import add_set_argument

_VECTOR_KEYS = ("M", "U", "V", "Z")


def register(sub) -> None:
    p = sub.add_parser(
        "inspect",
        help="report visible/invisible overlaps, the metric G, conserved forms and invariants",
        description="Inspect the network of a TOML config (its initial state) or a saved "
        "network (--vectors): overlap values, loss-visible and invisible overlaps, the metric "
        "G(Σ) and its structural zeros, conserved quadratic forms J with tr(ΣJ) and the "
        "spectrum of ΣJ, the dimension of the set of Σ reachable by learning "
        "(docs/theory.md §4–§6), and for the config's learning rule ([train] optimizer, "
        "momentum, weight_decay, lr_scale, clip_norm, noise_temperature) whether overlap space "
        "is exact for it, the size of its overlap state and its conserved forms (§9). With "
        "--out, writes inspect.json and metric.png.",
    )
    p.add_argument("config", help="TOML config (its [network] gives φ, dt, rank, n_in, n_out)")
    p.add_argument("--vectors", help=".npz with arrays M (N, n_in), U (N, R), V (N, R), "
                   "Z (N, n_out) of a saved network (overrides the config's initial state)")
    p.add_argument("--out", help="output folder for inspect.json and metric.png "
                   "(must be empty unless --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of an earlier run in --out")
    add_set_argument(p)
    p.set_defaults(func=_inspect)


def _load_vectors(path, spec):
    """Stacked X (N, P) from an .npz with M, U, V, Z; ConfigError on anything else."""
    import numpy as np

    from .._support.io import load_npz

    data = load_npz(path, what="--vectors file")
    missing = [k for k in _VECTOR_KEYS if k not in data]
    if missing:
        raise ConfigError(
            f"--vectors file must contain arrays M, U, V, Z; missing {', '.join(missing)}"
        )
    widths = {"M": spec.n_in, "U": spec.rank, "V": spec.rank, "Z": spec.n_out}
    parts = []
    for key in _VECTOR_KEYS:
        arr = data[key]
        if arr.dtype.kind not in "fiu":
            raise ConfigError(f"--vectors array {key} must be numeric, got dtype {arr.dtype}")
        arr = arr[:, None] if arr.ndim == 1 else arr
        if arr.ndim != 2 or arr.shape[1] != widths[key]:
            raise ConfigError(
                f"--vectors array {key} must have shape (N, {widths[key]}) for this config, "
                f"got {data[key].shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise ConfigError(f"--vectors array {key} contains NaN or inf")
        parts.append(arr.astype(np.float64))
    Ns = {a.shape[0] for a in parts}
    if len(Ns) != 1:
        raise ConfigError(f"--vectors arrays M, U, V, Z must share N rows, got {sorted(Ns)}")
    return np.concatenate(parts, axis=1)


def _check_network_file(path, spec) -> None:
    """A network file of `overlapflow import` must agree with the config's [network]."""

    from .._support.io import load_npz

    if "format" not in load_npz(path, what="--vectors file"):
        return  # plain arrays M, U, V, Z: the config says what they are
    from .._interop.networks import load_network

    file_spec = load_network(path).spec
    if file_spec != spec:
        raise ConfigError(
            f"--vectors {path} is a network of φ = {file_spec.phi_name}, dt = {file_spec.dt:g}, "
            f"rank {file_spec.rank}, n_in = {file_spec.n_in}, n_out = {file_spec.n_out}, but the "
            f"config's [network] has φ = {spec.phi_name}, dt = {spec.dt:g}, rank {spec.rank}, "
            f"n_in = {spec.n_in}, n_out = {spec.n_out}: make them agree")


def _inspect(args) -> int:
    import numpy as np

    from .._analysis.report import inspect_overlaps
    from .._interop.network_file import network_labels, relabel_report
    from .._model.overlaps import overlaps
    from .._support.parsing import parse_settings
    from .._workflows.compare import initial_vectors
    from .._workflows.config import load_config

    config = load_config(args.config, parse_settings(args.set))
    spec = config.network
    out = None
    if args.out:
        from .._support.io import prepare_out

        out = prepare_out(args.out, overwrite=args.overwrite)  # before anything is computed
    if args.vectors:
        X = _load_vectors(args.vectors, spec)
        spec = spec.with_N(X.shape[0])
        _check_network_file(args.vectors, spec)
        source = f"vectors {args.vectors}"
    else:
        X = initial_vectors(config)
        source = ("config init.vectors" if config.init_vectors is not None
                  else f"config init.sigma (realised, seed {config.init_seed})"
                  if config.init_sigma is not None else f"config init, seed {config.init_seed}")
    sigma = np.asarray(overlaps(np.asarray(X)))
    report = inspect_overlaps(sigma, spec, rule=config.train.rule, eta=config.train.eta)
    labels = network_labels(args.vectors) if args.vectors else config.vector_labels
    if labels is not None:  # an imported network's channels by name: bias, h0, …
        report = relabel_report(report, spec, labels)
    report["source"] = source
    _print_report(report)
    if out is not None:
        from .._support.extras import require_module

        require_module("matplotlib", "inspect --out (metric.png)")
        from .._plots.analysis import plot_metric
        from .._support.io import atomic_group, provenance, write_json_atomic

        report["resolved_config"] = config.resolved
        report["provenance"] = provenance()
        stale = [out / "inspect.json", out / "metric.png"] if args.overwrite else []
        with atomic_group(remove=stale):  # both files or neither
            write_json_atomic(out / "inspect.json", report)
            visible = set(report["visible"])
            net = report["network"]
            plot_metric(
                np.array(report["metric"]), np.array(report["metric_structural_zero_mask"]),
                report["names"], [n in visible for n in report["names"]], out / "metric.png",
                title=f"G(Σ): rank {net['rank']}, n_in={net['n_in']}, n_out={net['n_out']}, "
                f"φ={net['phi']}",
            )
        print(f"wrote {out}/inspect.json, metric.png")
    from .._support.io import exit_after_writing

    return exit_after_writing(args.out)


def _print_report(r: dict) -> None:
    import numpy as np

    net = r["network"]
    print(f"network: N={net['N']}, rank {net['rank']}, n_in={net['n_in']}, "
          f"n_out={net['n_out']}, φ={net['phi']}, dt={net['dt']}  (Σ from {r['source']})")
    visible = set(r["visible"])
    print(f"overlaps: {len(r['visible'])} loss-visible, {len(r['invisible'])} invisible")
    for name in r["visible"] + r["invisible"]:
        tag = "visible" if name in visible else "invisible"
        print(f"  σ_{name:<8} {r['values'][name]:>12.6g}   {tag}")
    D = r["n_overlaps"]
    print(f"metric G(Σ): {D}×{D}, {r['metric_structural_zeros']} of {D * D} entries "
          "structurally zero")
    forms = r["conserved_forms"]
    vec = r["vector_names"]
    if not forms:
        print("conserved quadratic forms: none (the visible pattern leaves no J with SJ+JS=0)")
    for k, (J, inv) in enumerate(zip(forms, r["invariant_values"]), start=1):
        J = np.array(J)
        if np.allclose(J, np.diag(np.diag(J))):
            body = ", ".join(f"{n}: {d:+.4g}" for n, d in zip(vec, np.diag(J)))
            print(f"conserved form J{k} = diag({body})")
        else:
            print(f"conserved form J{k} (rows/cols {' '.join(vec)}):")
            for row in J:
                print("   " + " ".join(f"{x:+.3f}" for x in row))
        spectrum = ", ".join(f"{x:.6g}" for x in inv["spectrum"])
        print(f"  tr(ΣJ{k}) = {inv['trace']:.6g}; spectrum of ΣJ{k}: [{spectrum}]")
    print(f"independent invariants: {r['independent_invariants']}; reachable dimension of Σ: "
          f"{r['reachable_dimension']} of {D} (single-step velocities span "
          f"{r['reachable_dimension_first_order']})")
    if "learning_rule" in r:
        _print_rule(r["learning_rule"], vec)


def _print_rule(lr: dict, vec) -> None:
    import numpy as np

    rule = lr["rule"]
    opts = [f"{k}={v}" for k, v in rule.items() if k != "optimizer" and v not in (None, 0.0, {})
            and not (k == "momentum" and rule["optimizer"] not in ("momentum", "nesterov"))]
    print(f"learning rule: {rule['optimizer']}{' (' + ', '.join(opts) + ')' if opts else ''}: "
          f"{lr['class']} (docs/theory.md §9)")
    if lr["state"] is None:
        print("  overlap state: none (not closed: θ-space only); no conserved forms can be stated")
        return
    names = list(vec) if lr["state"] == "sigma" else list(vec) + [f"w_{n}" for n in vec]
    what = "Σ" if lr["state"] == "sigma" else "Γ of [X | W] (W = N·velocity)"
    print(f"  overlap state: {what}, {lr['state_size']} numbers")
    if not lr["forms"]:
        print(f"  conserved forms of its {lr['forms_kind']}: none")
    for k, (J, v) in enumerate(zip(lr["forms"], lr["form_values"]), start=1):
        J = np.array(J)
        nz = [(names[i], names[j], J[i, j]) for i in range(len(J)) for j in range(i, len(J))
              if J[i, j] != 0]
        body = " ".join(f"{x:+.4g}·({a},{b})" for a, b, x in nz)
        print(f"  conserved form K{k} of its {lr['forms_kind']}: {body}; value tr = {v['trace']:.6g}")
