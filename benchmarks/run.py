"""Speed and memory benchmarks: one table, medians of ≥ 5 runs after compile, with ratios.

    python benchmarks/run.py            # full sizes (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # tiny sizes, seconds (checks that every row runs)
    python benchmarks/run.py --limit    # also group 6: the N → ∞ limit mode (~8 min)
    python benchmarks/run.py --limit-only   # group 6 alone
    python benchmarks/run.py --neurogym-only   # group 7 alone (needs neurogym)
    python benchmarks/run.py --rules-only   # group 8 alone: learning rules' exact maps
    python benchmarks/run.py --reveal-only  # group 9 alone: reveal (Σ₀ from observed learning)
    python benchmarks/run.py --cli-only     # group 0 alone: start-up of the command line
    python benchmarks/run.py --sweep-grid-only  # group 10 alone: a sweep over rule numbers

Every row is timed after one compiling call; the median of `--reps` (≥ 5) timed calls (more
for short rows, until they add up to 1 s) is reported, with the ratio against the baseline row
of its group, measured in the same run.
The Figure-1 config is examples/fig1.toml (N = 500, rank 1, linear, dt = 0.05, impulse →
exp(−0.2 t), T = 400 steps, GD η = 5e-3, 2000 epochs).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import overlapflow as of
from overlapflow import exact_overlap_step, overlap_gradient, run_sweep
from overlapflow.internal import batched_overlap_runs, lanes_per_group

ROOT = Path(__file__).resolve().parents[1]
FIG1 = ROOT / "examples" / "fig1.toml"


def median_time(fn, reps: int, min_total: float = 1.0, max_reps: int = 200) -> float:
    """Median wall time of fn() after one compiling call (results blocked).

    At least `reps` timed calls, and more (up to `max_reps`) until they add up to `min_total`
    seconds: a 20 ms row then gets ~50 calls, so a short burst of machine noise cannot move
    its median.
    """
    jax.block_until_ready(fn())
    times = []
    while len(times) < reps or (sum(times) < min_total and len(times) < max_reps):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(fns, rounds: int = 7, per_round: float = 0.3) -> list[float]:
    """Median wall time of each fn(), measured in interleaved rounds (A, B, A, B, …).

    This machine has slow phases (everything ~2× slower for seconds to minutes). Rows that are
    compared for equality (flat in T) are therefore timed round by round, alternating, so a
    slow phase hits all of them alike; each round takes the median of ~`per_round` seconds of
    calls, and the result is the median over the rounds.
    """
    for fn in fns:
        jax.block_until_ready(fn())
    per_fn = [[] for _ in fns]
    for _ in range(rounds):
        for fn, out in zip(fns, per_fn):
            times = []
            while sum(times) < per_round or len(times) < 3:
                start = time.perf_counter()
                jax.block_until_ready(fn())
                times.append(time.perf_counter() - start)
            out.append(statistics.median(times))
    return [statistics.median(out) for out in per_fn]


def _scan_runner(spec, task, epochs, eta, *, closed_form: bool):
    """One jitted lax.scan over epochs of the exact map (stepped or closed-form loss)."""
    batch = of.batch_for_epoch(task, 0, 0)

    @jax.jit
    def run(sig):
        def body(s, _):
            loss, S = overlap_gradient(s, batch, spec, "sum_dt", task if closed_form else None)
            return exact_overlap_step(s, S, eta), loss

        return jax.lax.scan(body, sig, None, length=epochs + 1)[1]

    return run


def _sigma0(spec, seed=0):
    X = of.random_vectors(spec, seed=seed)
    return X.T @ X / spec.N


class Table:
    def __init__(self):
        self.rows = []

    def add(self, group, name, seconds, per, per_unit, goal="", base=None):
        ratio = "" if base is None else f"{seconds / base:.3g}×"
        self.rows.append((group, name, seconds, per, per_unit, goal, ratio))
        print(f"  {group:<3} {name:<52} {seconds:10.4g} s", file=sys.stderr, flush=True)

    def print(self):
        head = ("#", "benchmark", "median s", "per unit", "goal", "ratio to baseline")
        lines = [f"| {' | '.join(head)} |", "|" + "---|" * len(head)]
        for g, name, s, per, unit, goal, ratio in self.rows:
            lines.append(f"| {g} | {name} | {s:.4g} | {per:.4g} {unit} | {goal} | {ratio} |")
        print("\n".join(lines))


def limit_rows(table, q: bool) -> None:
    """Group 6: the limit mode on the docs/theory.md §8 set-up (erf unfolded, erf, tanh)."""
    from overlapflow import learn_particles, limit_nodes

    base = None  # seconds per epoch of the baseline: erf on all nodes
    for phi, fold in (("erf", False), ("erf", True), ("tanh", True)):
        lcfg = of.load_config(ROOT / "examples" / "limit" / f"white_noise_{phi}.toml")
        # 60 epochs (the goal's length); the slow baseline is timed on 20 (same work/epoch)
        E_lim = 3 if q else (lcfg.train.epochs if fold else 20)
        rule = limit_nodes(lcfg.init_sigma, lcfg.network, nodes=3 if q else 9)
        K = rule.weights.shape[0]

        def run(rule=rule, lcfg=lcfg, fold=fold, E_lim=E_lim):
            return learn_particles(rule, lcfg.task, lcfg.network, loss=lcfg.loss,
                                   eta=lcfg.train.eta, epochs=E_lim, fold=fold).loss

        n_runs = 1 if q else 3
        t = median_time(run, n_runs)
        label = "all nodes" if not fold else "mirror fold (half the nodes)"
        table.add("6", f"limit {phi}, K = {K} nodes, {label}, {E_lim} ep ({n_runs} runs)", t,
                  t / E_lim, "s/epoch", "≤ 30 s for 60 ep" if fold else "(baseline)",
                  None if base is None else base * E_lim)
        base = base or t / E_lim


def neurogym_rows(table, q: bool, reps: int) -> None:
    """Group 7: runs on neurogym batches against a native task of the same size (§11).

    PerceptualDecisionMaking at dt = 20 ms, τ = 100 ms (network dt 0.2): 3 inputs, 3 outputs,
    T = 110 steps, B = 16, against `noise_filter` with the same n_in, n_out, T and B.
    """
    from overlapflow.internal import has_module

    if not has_module("neurogym"):
        print("  7   neurogym is not installed: group 7 skipped", file=sys.stderr)
        return
    import neurogym  # noqa: F401  (imported before the pool is timed)

    from overlapflow import NeurogymTask

    spec = of.NetworkSpec(N=100 if q else 500, rank=1, n_in=3, n_out=3, phi="tanh", dt=0.2)
    E = 5 if q else 50
    pool = 64 if q else 1024
    start = time.perf_counter()
    ng = NeurogymTask(dt=0.2, n_in=3, n_out=3, env_kwargs={"dt": 20}, batch_size=16,
                      pool_size=pool)
    t_pool = time.perf_counter() - start
    native = of.make_task("noise_filter", dt=0.2, t_max=ng.t_max, n_in=3, n_out=3, batch_size=16)
    X0 = of.random_vectors(spec, seed=0)
    s0 = X0.T @ X0 / spec.N
    kw = dict(eta=1e-3, epochs=E, loss="masked_mean")
    runs = []
    for tk in (native, ng):
        runs.append(lambda tk=tk: of.train_theta(X0, tk, spec, **kw).loss)
        runs.append(lambda tk=tk: of.learn_overlaps(s0, tk, spec, mode="exact", **kw).loss)
    t_nt, t_ne, t_gt, t_ge = interleaved_medians(runs, rounds=max(5, reps))
    size = f"B = 16, T = {ng.n_steps}, 3 in / 3 out"
    table.add("7", f"θ-space GD, N = {spec.N}, native noise_filter, {size}, {E} ep (interleaved)",
              t_nt, t_nt / E * 1e3, "ms/epoch", "(baseline)")
    table.add("7", "  same on neurogym PerceptualDecisionMaking batches", t_gt, t_gt / E * 1e3,
              "ms/epoch", "≤ 2× native", t_nt)
    table.add("7", f"overlap exact, native noise_filter, {size}, {E} ep (interleaved)", t_ne,
              t_ne / E * 1e3, "ms/epoch", "(baseline)")
    table.add("7", "  same on neurogym PerceptualDecisionMaking batches", t_ge, t_ge / E * 1e3,
              "ms/epoch", "≤ 2× native", t_ne)
    table.add("7", f"  neurogym pool of {pool} sequences, drawn once per task", t_pool,
              t_pool / pool * 1e3, "ms/sequence", "")


def _rule_runner(spec, task, epochs, eta, rule):
    """One jitted lax.scan over epochs of a learning rule's exact map (closed-form loss)."""
    from overlapflow import rule_exact_step
    from overlapflow.internal import sigma_block

    batch = of.batch_for_epoch(task, 0, 0)
    scales = of.column_scales(rule, spec)

    @jax.jit
    def run(state):
        def body(s, _):
            loss, S = overlap_gradient(sigma_block(s, spec.P), batch, spec, "sum_dt", task)
            return rule_exact_step(s, S, eta, rule, scales), loss

        return jax.lax.scan(body, state, None, length=epochs + 1)[1]

    return run


def rule_rows(table, spec, task, eta, E, sig0, reps) -> None:
    """Group 8: the augmented momentum map (Γ, 2P × 2P) against the plain exact map, per epoch
    (docs/theory.md §9); both closed-form loss, one run, timed in interleaved rounds."""
    plain = _scan_runner(spec, task, E, eta, closed_form=True)
    rules = [("heavy-ball momentum μ = 0.9", of.LearningRule(optimizer="momentum")),
             ("Nesterov μ = 0.9", of.LearningRule(optimizer="nesterov")),
             ("GD + weight decay + lr_scale + clip (Σ only)",
              of.LearningRule(weight_decay=0.1, lr_scale={"u": 0.5}, clip_norm=1.0))]
    runs = [lambda: plain(sig0)]
    for _, rule in rules:
        run = _rule_runner(spec, task, E, eta, rule)
        state = of.initial_rule_state(sig0, rule)
        runs.append(lambda run=run, state=state: run(state))
    times = interleaved_medians(runs, rounds=max(5, reps))
    table.add("8", f"overlap exact, plain GD, Fig-1 closed form, one run, {E} ep (interleaved)",
              times[0], times[0] / E * 1e6, "µs/epoch", "(baseline)")
    for (label, rule), t in zip(rules, times[1:]):
        aug = rule.optimizer in ("momentum", "nesterov")
        P = spec.P * (2 if aug else 1)
        table.add("8", f"  {label}, state {'Γ' if aug else 'Σ'} {P}×{P}", t, t / E * 1e6,
                  "µs/epoch", "≤ 2× plain" if aug else "", times[0])


def reveal_rows(table, q: bool, reps: int) -> None:
    """Group 9: `reveal` on the Figure-1 task (docs/theory.md §10): noise-free outputs of a
    random PSD Σ₀ at 20 epochs over 500 and at all 500; the whole fit (restarts until one
    fits exactly), first call with compilation, then compiled; one Fisher Jacobian."""
    from overlapflow.internal import fisher_information, random_start

    cfg = of.load_config(FIG1)
    spec, task, eta = cfg.network, cfg.task, cfg.train.eta
    truth = random_start(spec.P, 7, 0)
    x = of.batch_for_epoch(task, 0, 0).x
    last = 50 if q else 500
    for step in ((10, 1) if q else (25, 1)):
        epochs = np.arange(0, last, step)
        run = of.learn_overlaps(truth, task, spec, eta=eta, epochs=int(epochs[-1]))
        y = np.stack([np.asarray(of.effective_outputs(run.sigma[e], x, spec)) for e in epochs])
        obs = of.check_observations({"epochs": epochs, "outputs": y}, spec, task, 0)

        t0 = time.perf_counter()
        res = of.reveal(spec, task, obs, loss_kind="sum_dt", eta=eta)
        first = time.perf_counter() - t0

        def fit(obs=obs):
            return of.reveal(spec, task, obs, loss_kind="sum_dt", eta=eta).sigma0

        err = float(np.max(np.abs(res.aligned(truth) - truth)))
        table.add("9", f"reveal, Fig-1 outputs at {len(epochs)} epochs over {last}, "
                  f"{len(res.runs)} restart(s), first call (compiles)", first, first, "s",
                  "≤ 60 s (500 epochs)" if len(epochs) == last else "")
        t = median_time(fit, 1 if len(epochs) == last else min(reps, 3), min_total=0.0)
        table.add("9", f"  same, compiled (max error {err:.1g})", t, t, "s", "", first)
        model = of.observation_model(spec, task, loss_kind="sum_dt", eta=eta, seed=0,
                                     epochs=epochs, kind="outputs", probe_x=x)
        w = np.ones((len(epochs), task.n_steps))
        t = median_time(lambda model=model, w=w: fisher_information(model, truth, w)[1], reps)
        table.add("9", f"  one Jacobian (10 tangents through {int(epochs[-1])} epochs)", t,
                  t * 1e3, "ms", "")


def cli_rows(table, reps: int) -> None:
    """Group 0: `overlapflow --help` and `overlapflow compare --help`, whole processes (the
    console script of this interpreter's environment), median of `reps` runs after one."""
    script = Path(sys.executable).parent / "overlapflow"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "overlapflow"]
    for args in (["--help"], ["compare", "--help"]):
        subprocess.run(command + args, check=True, capture_output=True)  # warm the file cache
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            subprocess.run(command + args, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        t = statistics.median(times)
        table.add("0", f"overlapflow {' '.join(args)} (median of {reps} runs)", t, t * 1e3, "ms",
                  "≤ 0.5 s")


#: The weight decays of group 10: a grid over a rule's numbers (one compiled program).
DECAYS = "0,1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1"


def sweep_grid_rows(table, q: bool, reps: int) -> None:
    """Group 10: `overlapflow sweep examples/fig1.toml --modes exact --seeds 0:64` over 8
    weight decays against one, whole processes (start-up and compilation included), median of
    `reps` interleaved runs (the goal: ≤ 1.3× the one-value sweep)."""
    script = Path(sys.executable).parent / "overlapflow"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "overlapflow"]
    seeds = "0:8" if q else "0:64"
    grids = {"one weight decay (1e-4)": "train.weight_decay=1e-4",
             "one weight decay (0, plain GD)": "train.weight_decay=0",
             "8 weight decays": f"train.weight_decay={DECAYS}"}
    times = {name: [] for name in grids}
    with tempfile.TemporaryDirectory() as tmp:
        def run(grid):
            args = ["sweep", str(FIG1), "--grid", grid, "--seeds", seeds, "--modes", "exact",
                    "--out", str(Path(tmp) / "out"), "--overwrite", "--no-progress"]
            start = time.perf_counter()
            subprocess.run(command + args, check=True, capture_output=True)
            return time.perf_counter() - start

        run(grids["8 weight decays"])  # warm the file cache
        for _ in range(reps):
            for name, grid in grids.items():
                times[name].append(run(grid))
    base = statistics.median(times["one weight decay (1e-4)"])
    for name in grids:
        t = statistics.median(times[name])
        goal = "≤ 1.3× one value" if name.startswith("8") else (
            "(baseline)" if t == base else "")
        table.add("10", f"sweep fig1 {seeds} seeds exact, {name} (median of {reps})", t, t,
                  "s/sweep", goal, None if t == base and not name.startswith("8") else base)


def compare_rows(table, spec, task, eta, E, reps: int) -> None:
    """Group 11: the exact mode of `overlapflow compare examples/fig1.toml` (its compiled
    second run, `--time-compiled`) against the engine alone (one jitted scan of the closed-form
    exact map), per epoch, median of `reps` (the goal: ≤ 1.5× the engine)."""
    sig0 = _sigma0(spec)
    closed = _scan_runner(spec, task, E, eta, closed_form=True)
    t_cf = median_time(lambda: closed(sig0), reps)
    table.add("11", f"engine: closed-form exact map, one jitted scan, {E} ep", t_cf,
              t_cf / E * 1e6, "µs/epoch", "(baseline)")
    t_pub = median_time(lambda: of.learn_overlaps(sig0, task, spec, eta=eta, epochs=E).loss, reps)
    table.add("11", f"learn_overlaps (chunks of the one driver, records Σ), {E} ep", t_pub,
              t_pub / E * 1e6, "µs/epoch", "≤ 1.5× engine", t_cf)
    cfg = of.load_config(FIG1, {"train.modes": ["exact"], "train.epochs": E})
    times = []
    for _ in range(reps):
        comp = of.run_comparison(cfg, progress=False, time_compiled=True)
        times.append(comp.compiled_time_s["exact"])
    t_cmp = statistics.median(times)
    table.add("11", f"compare fig1.toml, mode exact, compiled run, {E} ep", t_cmp,
              t_cmp / E * 1e6, "µs/epoch", "≤ 1.5× engine", t_cf)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions per row (≥ 5)")
    ap.add_argument("--no-dask", action="store_true", help="skip the dask-local row")
    ap.add_argument("--limit", action="store_true",
                    help="add group 6: limit mode, 9⁴ nodes, docs/theory.md §8 set-up (3 runs per row)")
    ap.add_argument("--limit-only", action="store_true", help="group 6 alone")
    ap.add_argument("--neurogym-only", action="store_true",
                    help="group 7 alone: runs on neurogym batches vs a native task")
    ap.add_argument("--rules-only", action="store_true",
                    help="group 8 alone: learning rules' exact maps vs the plain exact map")
    ap.add_argument("--reveal-only", action="store_true",
                    help="group 9 alone: reveal Σ₀ from observed learning (Figure 1)")
    ap.add_argument("--cli-only", action="store_true",
                    help="group 0 alone: start-up time of `overlapflow --help`")
    ap.add_argument("--sweep-grid-only", action="store_true",
                    help="group 10 alone: a sweep over 8 weight decays against one value")
    ap.add_argument("--compare-only", action="store_true",
                    help="group 11 alone: compare's exact mode against the engine, per epoch")
    args = ap.parse_args(argv)
    of.enable_float64()  # the rows compare float64 runs
    reps = max(5, args.reps)
    q = args.quick
    cfg = of.load_config(FIG1)
    spec, task, eta = cfg.network, cfg.task, cfg.train.eta
    E = 20 if q else cfg.train.epochs  # 2000
    n_batch = 16 if q else 1024
    E_batch = 10 if q else 200  # the old-layout batched row: E_batch epochs, reported per epoch
    theta_N = (50, 100, 200) if q else (500, 5000, 50_000)
    theta_E = {n: (5 if q else max(5, min(100, 100_000 // n))) for n in theta_N}  # 100, 20, 5
    t_long = 50.0 if q else 500.0  # T = 10 000 steps
    table = Table()
    if args.cli_only:
        cli_rows(table, reps)
        table.print()
        return 0
    if args.sweep_grid_only:
        sweep_grid_rows(table, q, args.reps)
        table.print()
        return 0
    if args.compare_only:
        compare_rows(table, spec, task, eta, E, reps)
        table.print()
        return 0
    if args.limit_only:
        limit_rows(table, q)
        table.print()
        return 0
    if args.neurogym_only:
        neurogym_rows(table, q, reps)
        table.print()
        return 0
    if args.rules_only:
        rule_rows(table, spec, task, eta, E, _sigma0(spec), reps)
        table.print()
        return 0
    if args.reveal_only:
        reveal_rows(table, q, reps)
        table.print()
        return 0
    print(f"overlapflow {of.__version__}, jax {jax.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, devices {jax.devices()}", file=sys.stderr)

    # -- 0: start-up of the command line (no JAX before a command runs) ----------------------
    cli_rows(table, reps)

    # -- 1: one overlap-space run of the Figure-1 config ---------------------------
    sig0 = _sigma0(spec)
    stepped = _scan_runner(spec, task, E, eta, closed_form=False)
    closed = _scan_runner(spec, task, E, eta, closed_form=True)
    t_step = median_time(lambda: stepped(sig0), reps)
    table.add("1", f"overlap exact, Fig-1, stepped loss (stepped engine), {E} ep", t_step,
              t_step / E * 1e6, "µs/epoch", "≤ 0.2 s")
    t_cf = median_time(lambda: closed(sig0), reps)
    table.add("1", f"overlap exact, Fig-1, closed-form loss, one run, {E} ep", t_cf,
              t_cf / E * 1e6, "µs/epoch", "≤ 25 ms (≤ 12 µs/epoch)", t_step)
    t_pub = median_time(lambda: of.learn_overlaps(sig0, task, spec, eta=eta, epochs=E).loss, reps)
    table.add("1", "  same via learn_overlaps (40 chunks, records Σ)", t_pub, t_pub / E * 1e6,
              "µs/epoch", "", t_step)
    sigs = jnp.broadcast_to(sig0, (n_batch,) + sig0.shape)
    batched = functools.partial(batched_overlap_runs, spec=spec, task=task, loss_kind="sum_dt",
                                mode="exact")
    t_one = median_time(lambda: batched(sigs, jnp.asarray(eta), 0, epochs=E_batch,
                                        lanes=n_batch, threads=1), reps)
    per_one = t_one / (n_batch * E_batch)
    table.add("1", f"  {n_batch} runs in one lane group on one thread (old layout), {E_batch} ep",
              t_one, per_one * 1e6, "µs/run-epoch", "", t_cf / E * E_batch * n_batch)
    t_b = median_time(lambda: batched(sigs, jnp.asarray(eta), 0, epochs=E), reps)
    per = t_b / (n_batch * E)
    table.add("1", f"overlap exact, {n_batch} runs batched (lane groups of "
              f"{lanes_per_group(spec, task, 'sum_dt')}, threads), {E} ep", t_b,
              per * 1e6, "µs/run-epoch", "≤ 4 s (≤ 2 µs/run-ep)", per_one * n_batch * E)

    # -- 11: the exact mode through `compare` against the engine ------------------------------
    compare_rows(table, spec, task, eta, E, reps)

    # -- 2: θ-space, time per epoch vs N ----------------------------------------------------
    times = {}
    base = None
    for N in theta_N:
        s = spec.with_N(N)
        X0 = of.random_vectors(s, seed=0)
        e = theta_E[N]
        t = median_time(lambda X0=X0, s=s, e=e: of.train_theta(X0, task, s, eta=eta, epochs=e).loss, reps)
        times[N] = t / e
        base = base or times[N]
        table.add("2", f"θ-space GD, Fig-1, N = {N}, {e} ep", t, t / e * 1e3, "ms/epoch",
                  "≤ 2.5 ms/epoch (N=500)" if N == theta_N[0] else "linear in N",
                  None if N == theta_N[0] else base * e)
    Ns = np.array(theta_N, float)
    slope = np.polyfit(np.log(Ns), np.log([times[n] for n in theta_N]), 1)[0]
    table.add("2", f"  log-log slope of time/epoch vs N ({theta_N[0]}…{theta_N[-1]})", 0.0,
              slope, "(slope)", "1 at large N")

    # -- 3: overlap space does not depend on N (rows timed in interleaved rounds) -----------
    Ns = (theta_N[0], theta_N[1], theta_N[-1])
    starts = [_sigma0(spec.with_N(N)) for N in Ns]
    times = interleaved_medians([lambda s0=s0: closed(s0) for s0 in starts],
                                rounds=max(5, reps))
    for N, t in zip(Ns, times):
        table.add("3", f"overlap exact (closed form), Σ₀ from N = {N}, {E} ep (interleaved)", t,
                  t / E * 1e6, "µs/epoch", "flat in N", times[0])

    # -- 4: a sweep, in-process vs dask-local with 2 workers --------------------------------
    n_seeds = 16 if q else 1024
    E_sweep = 10 if q else 200
    with tempfile.TemporaryDirectory() as tmp:
        text = FIG1.read_text().replace(f"epochs = {cfg.train.epochs}", f"epochs = {E_sweep}")
        conf = Path(tmp) / "sweep.toml"
        conf.write_text(text)
        counter = iter(range(10_000))

        def sweep(**kw):
            return run_sweep(conf, Path(tmp) / f"o{next(counter)}", seeds=range(n_seeds),
                             modes=("exact",), chunk_size=max(1, n_seeds // 4), progress=False, **kw)

        t_local = median_time(sweep, reps)
        table.add("4", f"sweep {n_seeds} seeds × {E_sweep} ep, in-process (4 chunks)", t_local,
                  t_local / n_seeds * 1e3, "ms/run", "")
        if not args.no_dask:
            from dask.distributed import Client, LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                t_dask = median_time(lambda: sweep(client=client), reps)
            table.add("4", "  same sweep, dask LocalCluster 2 workers", t_dask,
                      t_dask / n_seeds * 1e3, "ms/run", "", t_local)

    # -- 5: closed form is flat in T (rows timed in interleaved rounds) ----------------------
    runs, steps = [], []
    for t_max in (cfg.task.t_max, t_long):
        tk = of.make_task("impulse_exp", dt=spec.dt, t_max=t_max, n_in=1, n_out=1, decay=0.2)
        runs.append(_scan_runner(spec, tk, E, eta, closed_form=True))
        steps.append(tk.n_steps)
    times = interleaved_medians([lambda run=run: run(sig0) for run in runs], rounds=max(5, reps))
    for n, t in zip(steps, times):
        table.add("5", f"overlap exact, closed form, T = {n} steps, {E} ep (interleaved)", t,
                  t / E * 1e6, "µs/epoch", "flat in T", times[0])
    base = times[0]
    # damped cosine: rank 1 uses the T-free Newton form at every T (the default); rank 2 the
    # O(log T) Smith doubling below 2^18 steps, against the Newton form forced on (traced
    # while its threshold is 0)
    from overlapflow.internal import closed_form_impulse as cf

    cos_rows = []
    for rank in (1, 2):
        spec_r = of.NetworkSpec(N=spec.N, rank=rank, dt=spec.dt)
        sig_r = _sigma0(spec_r)
        tasks_r = [of.make_task("impulse_damped_cos", dt=spec.dt, t_max=t_max, n_in=1, n_out=1)
                   for t_max in (cfg.task.t_max, t_long)]
        label = "T-free Newton" if rank == 1 else "doubling"
        cos_rows += [(rank, label, sig_r, _scan_runner(spec_r, tk_r, E, eta, closed_form=True))
                     for tk_r in tasks_r]
        if rank == 2:
            saved = cf.NEWTON_MIN_STEPS[2]
            cf.NEWTON_MIN_STEPS[2] = (0, 0)
            try:
                forced = [_scan_runner(spec_r, tk_r, E, eta, closed_form=True) for tk_r in tasks_r]
                for run in forced:
                    jax.block_until_ready(run(sig_r))
            finally:
                cf.NEWTON_MIN_STEPS[2] = saved
            cos_rows += [(rank, "T-free Newton, forced", sig_r, run) for run in forced]
    times_c = interleaved_medians([lambda r=r: r[3](r[2]) for r in cos_rows], rounds=max(5, reps))
    for i, ((rank, label, _, _), t) in enumerate(zip(cos_rows, times_c)):
        n = steps[i % 2]
        table.add("5", f"  rank {rank}, damped cos ({label}), T = {n} steps, {E} ep (interleaved)",
                  t, t / E * 1e6, "µs/epoch", "flat in T" if "Newton" in label else "",
                  times_c[i - i % 2])
    tk = of.make_task("impulse_exp", dt=spec.dt, t_max=t_long, n_in=1, n_out=1, decay=0.2)
    run = _scan_runner(spec, tk, E, eta, closed_form=False)
    t = median_time(lambda: run(sig0), reps)
    table.add("5", f"  stepped loss, T = {tk.n_steps} steps, {E} ep (reference)", t, t / E * 1e6,
              "µs/epoch", "", base)

    # -- 7: tasks from neurogym against a native task of the same size ---------------------
    neurogym_rows(table, q, reps)

    # -- 8: learning rules: the augmented momentum map against the plain exact map ----------
    rule_rows(table, spec, task, eta, E, sig0, reps)

    # -- 9: reveal: initial overlaps from observed learning --------------------------------
    reveal_rows(table, q, reps)

    if args.limit:
        limit_rows(table, q)

    table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
