"""Forgetting: what learning rules do to the history kept in the invisible overlaps
(docs/theory.md §5.4, §7.5, §9.10, §9.12; beyond the paper).

The memory protocol of `memory` (rank 1, linear, targets exp(−c t) with c = 0.2, 0.4, 0.2, 0.4,
0.2 for 3000, 1000, 1000, 1000, 4000 epochs, step doubled in the last phase, from the
degenerate twin Σ₁), run in overlap space with the exact map of each learning rule
(`rule_exact_step`, float64) and without target noise (memory's `gd_small` variant), under

- plain GD (η = 5e-3: exactly memory's `gd_small`),
- heavy-ball momentum μ (the overlap state is Γ of [X | W], velocity W; a fresh optimiser at
  each phase, velocity zero, as `memory` re-initialises Adam),
- weight decay λ (the penalty (λ/2) tr Σ: S ← S + (λ/2) I),
- weight noise at temperature T, as its mean effect Σ ← Σ + 2ηT·I per epoch: the N → ∞ limit
  of θ-space weight noise (finite networks add fluctuations of order N^−½ that are not
  modelled here).

Each rule has a control run that sees only task A (same epochs, rates, rule). With Σ_hist and
Σ_ctrl the two runs,

    trace(t)  = max_inv |σ_hist(t) − σ_ctrl(t)|                  (the history B left behind)
    retained  = trace(E) / max_t trace(t)                          (memory's definition)

How fast the history is forgotten: in the last phase both runs learn task A under the same
rule, so once the loss has stopped improving the difference d(t) = Σ_hist(t) − Σ_ctrl(t) is
the separation of two trajectories of one map and obeys its linearisation, d(t+1) ≈ J d(t).
The invisible overlaps of the run that saw B approach their final values (those of the
control: a forgetting rule drives both to one fixed point) as exp(−r t), r the slowest decay
rate of J. Measured: r_meas = −slope of a least-squares line through log trace(t) over the
fit window (`late_window`): from t_s, the first epoch of the last phase from which on the
loss changes by less than SETTLE_TOL = 1e-4 of itself per epoch (training has stopped
improving it; the fast, loss-carrying modes change it by percents per epoch), to t_e, the
end of the phase or the first epoch with trace < TRACE_FLOOR = 1e-11 (below that, float64
rounding of O(1) overlaps matters); the fit uses the later half [(t_s + t_e)/2, t_e), where
modes faster than the slowest have decayed further. Predicted: `linearise_exact_map` at the
final state, r_pred = the slowest −log|λ| among the eigenmodes of its Jacobian with at least
a tenth of their weight on invisible directions. Also reported: r_block, from the Jacobian
restricted to the invisible directions (the visible overlaps held at their values; exact
only where the loss gradient vanishes: with weight decay λ ≥ 0.1 it is 20% too fast), and
r_increments, the run's own approach from the epoch-to-epoch changes of its invisible
overlaps (NaN once they stop; several modes with rates within a factor 1.5 mix there).

Checks: weight decay within RATE_TOL = 10% where the fit window holds ≥ RESOLVE_EFOLDS = 2
e-folds of the predicted rate, otherwise both rates below 2 e-folds per window; GD, momentum
and noise keep the history: predicted and measured |r| below KEEP_CHANGE / window (the trace
changes by less than 1% across the window); retained falls with λ and is below GD's; noise
raises every self-overlap by exactly 2ηT per epoch once the loss has converged.

Longer than 400 lines on purpose: the protocol loop, the rate fits and the linearised
prediction are one measurement; its figures are in `_forgetting_draw`.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import (
    ConfigError,
    LearningRule,
    NetworkSpec,
    batch_for_epoch,
    column_scales,
    initial_rule_state,
    linearise_exact_map,
    overlap_values_and_grads,
    rule_exact_step,
)
from ..internal import check_float64, drive_chunks, progress_bar, sigma_block
from . import memory as _memory
from ._common import (
    Check,
    Experiment,
    Outcome,
    check_choices,
    check_lengths,
    impulse_task,
    register,
)
from ._forgetting_draw import draw_forgetting
from .fig1 import pair_arrays

__all__ = ["compute", "FAMILIES", "build_rules", "run_protocol", "retained_fraction",
           "late_window", "fit_rate", "predicted_rates"]

#: Rule families, in the order of the tables and figures.
FAMILIES = ("gd", "momentum", "decay", "noise")
#: Families whose history is kept (predicted rate ~0) and the one that forgets.
KEEPING = ("gd", "momentum", "noise")

SETTLE_TOL = 1e-4
LOSS_FLOOR = 1e-20
TRACE_FLOOR = 1e-11
RESOLVE_EFOLDS = 2.0
KEEP_CHANGE = 0.01
RATE_TOL = 0.1
#: An eigenmode of the Jacobian counts as invisible when at least this part of its
#: eigenvector's norm lies on invisible directions.
INVISIBLE_WEIGHT = 0.1

_PROTOCOL = ("N", "dt", "t_max", "eta", "decays", "phase_epochs", "eta_factors", "start",
             "twin_uu", "twin_mu")
DEFAULTS = dict(
    {k: _memory.DEFAULTS[k] for k in _PROTOCOL},
    rules=list(FAMILIES), momenta=[0.5, 0.9], weight_decays=[0.01, 0.03, 0.1, 0.3],
    temperatures=[1e-4, 3e-4, 1e-3], chunk=500,
)
QUICK = dict(N=32, phase_epochs=[600, 200, 200, 200, 2000], rules=["gd", "decay"],
             weight_decays=[0.3], chunk=200)


def build_rules(params: dict) -> list[tuple[str, str, float, LearningRule]]:
    """The rules of a run: [(key, family, parameter, LearningRule)], families in FAMILIES order.

    Keys: "gd", "momentum_0.9", "decay_0.1", "noise_0.001" (parameter formatted with %g).

    Raises:
        ConfigError: an unknown family, a momentum outside (0, 1), a repeated rule.
    """
    fams = list(params["rules"])
    bad = [f for f in fams if f not in FAMILIES]
    if bad:
        raise ConfigError(f"forgetting: rules must be among {', '.join(FAMILIES)}, got {bad[0]!r}")
    out = []
    for fam in FAMILIES:
        if fam not in fams:
            continue
        if fam == "gd":
            out.append(("gd", "gd", 0.0, LearningRule()))
            continue
        values = {"momentum": params["momenta"], "decay": params["weight_decays"],
                  "noise": params["temperatures"]}[fam]
        for v in values:
            v = float(v)
            if fam == "momentum":
                if not 0.0 < v < 1.0:
                    raise ConfigError(f"forgetting: momenta must be in (0, 1), got {v!r}")
                rule = LearningRule(optimizer="momentum", momentum=v)
            elif fam == "decay":
                rule = LearningRule(weight_decay=v)
            else:
                rule = LearningRule(noise_temperature=v)
            out.append((f"{fam}_{v:g}", fam, v, rule))
    keys = [k for k, *_ in out]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"forgetting: a rule is listed twice ({', '.join(keys)})")
    return out


@functools.partial(jax.jit, static_argnames=("spec", "chunk"))
def _protocol_chunk(states, epoch0, total, batch_hist, batch_ctrl, eta, rules, *, spec, chunk):
    """`chunk` epochs of every rule's history and control runs (epochs ≥ total: no update).

    states: (hist, ctrl), each a tuple of one state per rule (Σ (P, P) or Γ (2P, 2P)).
    rules: the tuple of `LearningRule`s, traced (their numbers never compile again).
    Records per epoch: losses (K,) and Σ blocks (K, P, P) of both runs, before the update.
    """
    P = spec.P
    scales = [jnp.asarray(column_scales(r, spec)) for r in rules]

    def body(sts, epoch):
        # the history and the control runs: each group in one adjoint pass on its own batch
        new, recs = [], []
        for group, batch in zip(sts, (batch_hist, batch_ctrl)):
            sig = jnp.stack([sigma_block(s, P) for s in group])
            loss, G = overlap_values_and_grads(sig, batch, spec, "sum_dt")
            S = 0.5 * (G + jnp.swapaxes(G, -1, -2))  # sym(∂L/∂Σ), docs/theory.md §4.1
            new.append(tuple(rule_exact_step(s, S[k], eta, r, scales[k])
                             for k, (s, r) in enumerate(zip(group, rules))))
            recs += [loss, sig]
        live = epoch < total
        new = jax.tree_util.tree_map(lambda o, n: jnp.where(live, n, o), sts, tuple(new))
        return new, tuple(recs)

    return jax.lax.scan(body, states, epoch0 + jnp.arange(chunk))


def run_protocol(rules, sigma0, spec: NetworkSpec, phases, *, chunk: int = 500,
                 progress: bool = False):
    """Run every rule through the phases, with its control, in overlap space (exact maps).

    Args:
        rules: sequence of `LearningRule` (not Adam), K of them.
        sigma0: (P, P) start, shared by every run.
        spec: the network (linear or not; the loss is "sum_dt").
        phases: [(task_hist, task_ctrl, epochs, eta)]: the history run learns task_hist, the
            control task_ctrl, for `epochs` updates at rate eta. Each phase starts from the
            previous final Σ with a fresh rule state (momentum: velocity zero).
        chunk: epochs per compiled scan (one compilation for all phases and rules).

    Returns:
        dict with loss_hist, loss_ctrl (E+1, K), sigma_hist, sigma_ctrl (E+1, K, P, P) (entry e
        before update e, the last entry the final state), state_hist, state_ctrl (the final
        rule states, Σ or Γ, per rule).
    """
    check_float64(jnp.float64, "run_protocol")
    rules = tuple(rules)
    P = spec.P
    total = sum(int(e) for _, _, e, _ in phases)
    sig_h = sig_c = [jnp.asarray(sigma0, jnp.float64)] * len(rules)
    rec: list[list] = [[], [], [], []]
    done, stopped = 0, False
    states = None
    last = len(phases) - 1
    with progress_bar(total=total, desc="forgetting", enabled=progress, unit="ep") as bar:
        for p, (task_h, task_c, epochs, eta) in enumerate(phases):
            epochs = int(epochs)
            states = (tuple(initial_rule_state(s, r) for s, r in zip(sig_h, rules)),
                      tuple(initial_rule_state(s, r) for s, r in zip(sig_c, rules)))
            bh = batch_for_epoch(task_h, 0, 0)
            bc = batch_for_epoch(task_c, 0, 0)

            def run_chunk(sts, e0, tot, bh=bh, bc=bc, eta=eta):
                return _protocol_chunk(sts, e0, tot, bh, bc, jnp.asarray(eta, jnp.float64),
                                       rules, spec=spec, chunk=chunk)

            def collect(e0, take, out, sts):
                for k in range(4):  # all four, or none, recorded
                    rec[k].append(np.asarray(out[k])[:take])
                return False

            # the entries before each update; the last phase also the final state's
            states, _, at = drive_chunks(
                run_chunk, states, epochs, chunk, collect=collect, desc="forgetting", bar=bar,
                entries=epochs + 1 if p == last else epochs, offset=done, of_total=total)
            if at is not None:
                done += at
                stopped = True
                break
            done += epochs
            sig_h = [sigma_block(s, P) for s in states[0]]
            sig_c = [sigma_block(s, P) for s in states[1]]
    K = len(rules)
    empty = (np.zeros((0, K)), np.zeros((0, K, P, P)))
    run = {
        "loss_hist": np.concatenate(rec[0]) if rec[0] else empty[0],
        "loss_ctrl": np.concatenate(rec[2]) if rec[2] else empty[0],
        "sigma_hist": np.concatenate(rec[1]) if rec[1] else empty[1],
        "sigma_ctrl": np.concatenate(rec[3]) if rec[3] else empty[1],
        "interrupted": stopped,
    }
    if not stopped:
        run["state_hist"] = [np.asarray(s) for s in states[0]]
        run["state_ctrl"] = [np.asarray(s) for s in states[1]]
    return run


def retained_fraction(trace) -> float:
    """`memory`'s retained history: trace(E) / max_t trace(t), trace (E+1,) =
    max_inv |σ_hist − σ_ctrl| (1: the whole trace is kept, 0: forgotten)."""
    trace = np.asarray(trace)
    return float(trace[-1] / trace.max())


def late_window(loss, trace, start: int) -> tuple[int, int, int]:
    """The late window of the last phase (epochs start … len(loss) − 1): (t_s, t_w, t_e).

    t_s: the first epoch ≥ start from which on the loss changes by at most SETTLE_TOL of
    itself per epoch, |L(t+1) − L(t)| ≤ SETTLE_TOL·L(t) + LOSS_FLOOR·L(start) (training has
    stopped improving the loss: the fast, loss-carrying modes change it by percents per
    epoch; a loss fallen to LOSS_FLOOR of its start is rounding). t_e: the first epoch ≥ t_s
    with trace < TRACE_FLOOR, or len(loss). The fit window is [t_w, t_e), t_w = (t_s + t_e)
    // 2, the later half: modes faster than the slowest that the loss does not show (such as
    invisible ones) have decayed across the first half by more than the slowest has.
    """
    loss = np.asarray(loss)[start:]
    change = np.abs(np.diff(loss))
    ok = change <= SETTLE_TOL * np.abs(loss[:-1]) + LOSS_FLOOR * abs(loss[0])
    bad = np.flatnonzero(~ok)
    t_s = start + (int(bad[-1]) + 1 if bad.size else 0)
    below = np.flatnonzero(np.asarray(trace)[t_s:] < TRACE_FLOOR)
    t_e = t_s + int(below[0]) if below.size else len(np.asarray(trace))
    return t_s, (t_s + t_e) // 2, t_e


def fit_rate(values, t_s: int, t_e: int) -> tuple[float, float]:
    """(rate, rms residual): least-squares line through log values[t_s:t_e] against t;
    rate = −slope per epoch. NaN for fewer than 3 positive points."""
    y = np.asarray(values[t_s:t_e], dtype=np.float64)
    t = np.arange(t_s, t_e, dtype=np.float64)
    ok = y > 0
    if ok.sum() < 3:
        return math.nan, math.nan
    slope, icpt = np.polyfit(t[ok], np.log(y[ok]), 1)
    resid = np.log(y[ok]) - (slope * t[ok] + icpt)
    return float(-slope), float(np.sqrt(np.mean(resid**2)))


def predicted_rates(state, task, spec: NetworkSpec, rule: LearningRule, eta: float):
    """Decay rates per epoch predicted by the linearised exact map at `state`.

    Returns:
        (r_pred, r_block): r_pred = min −log|λ| over the eigenmodes of the full Jacobian of
        `linearise_exact_map` whose eigenvector has ≥ INVISIBLE_WEIGHT of its norm on the
        invisible directions; r_block = min −log|λ| of the Jacobian restricted to the
        invisible directions (the visible overlaps held at their values).
    """
    lin = linearise_exact_map(state, task, spec, rule=rule, eta=eta)
    w, V = np.linalg.eig(lin.jacobian)
    weight = np.linalg.norm(V[lin.invisible], axis=0) / np.linalg.norm(V, axis=0)
    modes = weight >= INVISIBLE_WEIGHT
    r_pred = float(np.min(-np.log(np.abs(w[modes])))) if modes.any() else math.nan
    r_block = float(np.min(lin.decay_rates)) if lin.decay_rates.size else math.nan
    return r_pred, r_block


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """The memory protocol under each learning rule, with its control; retained history and
    the late decay rate of the history, measured and predicted.

    Returns arrays: epochs (E+1,), bounds, decays, names/rows/cols/visible (D,), rule_keys,
    rule_family, rule_param (K,), sigma_hist, sigma_ctrl (E+1, K, D) distinct overlaps,
    loss_hist, loss_ctrl, trace (E+1, K), increments (E, K), retained, rate_measured,
    rate_predicted, rate_block, rate_increments, fit_residual (K,), window (K, 2).
    """
    rules = build_rules(params)
    n_ph = len(params["decays"])
    if not (len(params["phase_epochs"]) == len(params["eta_factors"]) == n_ph >= 2):
        raise ConfigError("forgetting: decays, phase_epochs and eta_factors must have the same "
                          f"length ≥ 2, got {n_ph}, {len(params['phase_epochs'])}, "
                          f"{len(params['eta_factors'])}")
    spec = NetworkSpec(N=int(params["N"]), rank=1, phi="linear", dt=float(params["dt"]))
    tasks = [impulse_task("impulse_exp", dt=spec.dt, t_max=params["t_max"], decay=c)
             for c in params["decays"]]
    _, sigma0 = _memory.start_vectors(params, spec, seed=seed)
    etas = [params["eta"] * f for f in params["eta_factors"]]
    phases = [(task, tasks[0], e, eta) for task, e, eta in zip(tasks, params["phase_epochs"], etas)]
    run = run_protocol([r for *_, r in rules], sigma0, spec, phases, chunk=int(params["chunk"]),
                       progress=progress)
    names, rows, cols, vis = pair_arrays(spec)
    bounds = np.concatenate([[0], np.cumsum(params["phase_epochs"])])
    E = int(bounds[-1])
    hist = run["sigma_hist"][:, :, rows, cols]  # (E+1, K, D)
    ctrl = run["sigma_ctrl"][:, :, rows, cols]
    trace = np.abs(hist - ctrl)[:, :, ~vis].max(axis=2, initial=0.0)  # (E+1, K)
    if run["interrupted"]:  # the epochs computed so far; nothing fitted, nothing checked
        arrays = {"epochs": np.arange(len(hist)), "bounds": bounds, "names": names.astype(str),
                  "visible": vis, "rows": rows, "cols": cols,
                  "decays": np.asarray(params["decays"], float),
                  "rule_keys": np.array([k for k, *_ in rules]),
                  "rule_family": np.array([f for _, f, *_ in rules]),
                  "rule_param": np.array([v for _, _, v, _ in rules], float),
                  "sigma_hist": hist, "sigma_ctrl": ctrl, "loss_hist": run["loss_hist"],
                  "loss_ctrl": run["loss_ctrl"], "trace": trace}
        return Outcome(arrays, [], seeds={"init": seed}, info={"start": params["start"]})
    incs = np.abs(np.diff(hist, axis=0))[:, :, ~vis].max(axis=2)  # (E, K)
    K = len(rules)
    res = {k: np.full(K, math.nan) for k in ("retained", "rate_measured", "rate_predicted",
                                             "rate_block", "rate_increments", "fit_residual",
                                             "noise_drift")}
    window = np.zeros((K, 2), dtype=np.int64)
    settled = np.zeros(K, dtype=np.int64)
    eta_last = etas[-1]
    diag = [d for d in range(len(names)) if rows[d] == cols[d]]
    for k, (_, fam, val, rule) in enumerate(rules):
        res["retained"][k] = retained_fraction(trace[:, k])
        settled[k], t_s, t_e = late_window(run["loss_hist"][:, k], trace[:, k],
                                           int(bounds[-2]))
        window[k] = t_s, t_e
        res["rate_measured"][k], res["fit_residual"][k] = fit_rate(trace[:, k], t_s, t_e)
        inc = incs[:, k]
        inc_end = min(t_e, E)
        if np.all(inc[t_s:inc_end] > 1e-13):  # otherwise the overlaps have stopped: no approach
            res["rate_increments"][k] = fit_rate(inc, t_s, inc_end)[0]
        res["rate_predicted"][k], res["rate_block"][k] = predicted_rates(
            run["state_hist"][k], tasks[-1], spec, rule, eta_last)
        if fam == "noise" and t_e - t_s >= 2:
            drift = (hist[t_e - 1, k, diag] - hist[t_s, k, diag]) / (t_e - 1 - t_s)
            res["noise_drift"][k] = float(np.max(np.abs(drift / (2 * eta_last * val) - 1.0)))
    arrays = {
        "epochs": np.arange(E + 1), "bounds": bounds, "names": names.astype(str),
        "visible": vis, "rows": rows, "cols": cols,
        "decays": np.asarray(params["decays"], float),
        "rule_keys": np.array([k for k, *_ in rules]), "rule_family": np.array([f for _, f, *_ in rules]),
        "rule_param": np.array([v for _, _, v, _ in rules], float),
        "sigma_hist": hist, "sigma_ctrl": ctrl, "loss_hist": run["loss_hist"],
        "loss_ctrl": run["loss_ctrl"], "trace": trace, "increments": incs, "window": window,
        "settled": settled,
        **res,
    }
    checks = _checks(rules, arrays, eta_last)
    table = {}
    for k, (key, fam, val, _) in enumerate(rules):
        table[key] = {
            "family": fam, "parameter": val, "retained": res["retained"][k],
            "trace_end": float(trace[-1, k]), "rate_predicted": res["rate_predicted"][k],
            "rate_block": res["rate_block"][k], "rate_measured": res["rate_measured"][k],
            "rate_increments": res["rate_increments"][k],
            "window": [int(window[k, 0]), int(window[k, 1])],
            "efolds_in_window": float(res["rate_predicted"][k] * (window[k, 1] - window[k, 0])),
        }
    info = {
        "retained_definition": "max_inv |σ_hist(E) − σ_ctrl(E)| / max_t max_inv |σ_hist(t) − "
        "σ_ctrl(t)| (as memory), control = task A only with the same epochs, rates and rule",
        "rate_definitions": {
            "measured": "−slope of log max_inv |σ_hist − σ_ctrl| over the late window",
            "predicted": "slowest −log|λ| of the Jacobian of the exact map at the final state "
                         "(linearise_exact_map) over its modes with ≥ 10% invisible weight",
            "block": "slowest −log|λ| of that Jacobian restricted to the invisible directions",
            "increments": "−slope of log max_inv |σ(t+1) − σ(t)| over the late window (the "
                          "run's own approach; NaN where the overlaps have stopped, < 1e-13)",
            "window": f"[(t_s + t_e)/2, t_e): t_s the first epoch of the last phase from "
                      f"which on |L(t+1) − L(t)| ≤ {SETTLE_TOL:g}·L(t) (+ {LOSS_FLOOR:g}·L at "
                      f"the phase start), t_e the end or the first epoch with trace < "
                      f"{TRACE_FLOOR:g}",
        },
        "noise": "weight noise as its mean effect Σ ← Σ + 2ηT·I (the N → ∞ limit)",
        "momentum": "a fresh optimiser (velocity zero) at each phase, as memory's Adam",
        "table": table, "start": params["start"], "sigma_start": np.asarray(sigma0).tolist(),
    }
    seeds = {"init": seed}
    if params["start"] == "twin":
        seeds["realise_twin"] = seed + 2
    return Outcome(arrays, checks, seeds=seeds, info=info)


def _checks(rules, a: dict, eta_last: float) -> list[Check]:
    checks = []
    W = (a["window"][:, 1] - a["window"][:, 0]).astype(float)
    for k, (key, fam, _, _) in enumerate(rules):
        r_p, r_m = a["rate_predicted"][k], a["rate_measured"][k]
        if fam in KEEPING:
            bound = KEEP_CHANGE / max(W[k], 1.0)
            checks.append(Check.below(
                f"{key}: history kept, max(|predicted|, |measured|) decay rate / "
                f"({KEEP_CHANGE:g} / window)", max(abs(r_p), abs(r_m)) / bound, 1.0))
        elif r_p * W[k] >= RESOLVE_EFOLDS:
            checks.append(Check.below(
                f"{key}: |measured − predicted| / predicted decay rate of the history",
                abs(r_m - r_p) / r_p, RATE_TOL))
        else:
            checks.append(Check.below(
                f"{key}: too slow to resolve in the window: max(predicted, measured) rate × "
                "window (e-folds)", max(r_p, r_m) * W[k], RESOLVE_EFOLDS))
        if fam == "noise":
            checks.append(Check.below(
                f"{key}: self-overlaps grow by 2ηT per epoch after convergence "
                "(max relative error)", a["noise_drift"][k], 1e-6))
    fam = a["rule_family"]
    dec = np.flatnonzero(fam == "decay")
    if dec.size >= 2:
        order = dec[np.argsort(a["rule_param"][dec])]
        ret = a["retained"][order]
        checks.append(Check.below("weight decay: retained history falls with λ (max ratio "
                                  "retained(next λ) / retained(λ))",
                                  np.max(ret[1:] / np.maximum(ret[:-1], 1e-300)), 1.0))
    gd = np.flatnonzero(fam == "gd")
    if dec.size and gd.size:
        checks.append(Check.below("retained with the weakest weight decay / with plain GD",
                                  a["retained"][dec].max() / a["retained"][gd[0]], 1.0))
    return checks


#: The list parameter each family of rules reads.
FAMILY_PARAMS = {"momentum": "momenta", "decay": "weight_decays", "noise": "temperatures"}


def validate(params: dict, given: set) -> None:
    """Known rules, none twice; every rule parameter in range; one decay, epoch count and step
    factor per phase; and no rule parameter set that the chosen rules ignore."""
    check_choices("forgetting", params, "rules", FAMILIES)
    for fam, key in FAMILY_PARAMS.items():
        if key in given and fam not in params["rules"]:
            raise ConfigError(f"forgetting: parameter {key} is read by the {fam} rules only, "
                              f"and rules = {', '.join(params['rules'])} runs none: add "
                              f"{fam!r} to rules or leave {key} out")
    check_lengths("forgetting", params, "decays", "phase_epochs", "eta_factors", minimum=2)
    if params["start"] not in _memory.STARTS:
        raise ConfigError(f"forgetting: parameter start must be one of "
                          f"{', '.join(_memory.STARTS)}, got {params['start']!r}")
    build_rules(params)


register(Experiment("forgetting", "Learning rules and the history in the invisible overlaps: "
                    "retained fraction and predicted decay rates", DEFAULTS, QUICK, compute,
                    draw_forgetting, validate))
