"""Memory (the paper's memory experiment): after A, B, A the visible overlaps return, the invisible ones
keep the history (docs/theory.md §5, §7).

Paper protocol (rank 1, linear): targets exp(−c t) with c = 0.2 (3000 epochs), then 0.4, 0.2,
0.4 (1000 each), then 0.2 with target noise 0.1 and step 2η (4000). Each phase starts from
the previous final state. As in the paper's code the sequence starts from the degenerate twin
Σ₁ of the degeneracy experiment (`start = "twin"`: the Figure-1 start Σ₀ with σ_uu = 32²/500
and σ_mu = 0.8, visible overlaps kept; θ-space runs use the same realised twin vectors as
the degeneracy experiment, `degeneracy.twin_pair`); `start = "fig1"` starts from Σ₀ itself
(docs/theory.md §5 quotes its numbers for that start). The paper's run is GD, reproduced exactly (any
N) by the exact overlap map; the distances are measured from Σ_ref, the state after the first
A phase.

Beyond the paper, the same sequence (noise only where stated) is run for gradient flow,
small-step GD, large-step GD, GD with target noise and Adam (θ-space, N-dim). For each, a
control run sees only task A (same epochs, same noise draws). The history the invisible
overlaps still carry at the end is

    retained = max_inv |σ_hist(E) − σ_ctrl(E)| / max_t max_inv |σ_hist(t) − σ_ctrl(t)|

(1: the excursion's whole trace is kept, 0: forgotten); `trace_end` is the numerator.

Remaining differences from the paper's code: the target is exp(−c (t+1) dt) at the readout
times (docs/theory.md §1; the paper samples exp(−c t) on linspace(0, T, T)·dt), the target noise is
the task option `target_noise` (fresh every epoch from the batch seed `seed + 1000 + phase`), so the noisy phase
agrees with the paper's in distribution, not draw by draw, and the twin's N-dim vectors are a
fresh realisation of Σ₁ (overlap-space runs depend on Σ₁ only).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import ConfigError, NetworkSpec, learn_overlaps, overlaps, random_vectors, train_theta
from ..internal import progress_bar
from ._common import (
    Check,
    Experiment,
    Outcome,
    check_choices,
    check_lengths,
    impulse_task,
    keep,
    register,
)
from ._memory_draw import draw_memory
from .degeneracy import twin_pair
from .fig1 import pair_arrays

__all__ = ["compute", "run_sequence", "start_vectors", "VARIANTS", "STARTS"]

VARIANTS = ("flow", "gd_small", "gd_large", "gd_noise", "adam")
STARTS = ("twin", "fig1")

DEFAULTS = dict(
    N=500, dt=0.05, t_max=20.0, eta=5e-3, eta_large=0.01, adam_lr=1e-3,
    decays=[0.2, 0.4, 0.2, 0.4, 0.2], phase_epochs=[3000, 1000, 1000, 1000, 4000],
    eta_factors=[1.0, 1.0, 1.0, 1.0, 2.0], noise_sd=0.1, variants=list(VARIANTS),
    start="twin", twin_uu=32.0**2 / 500, twin_mu=0.8,
)
QUICK = dict(N=32, variants=["gd_small", "gd_noise", "adam"])


def run_sequence(kind: str, state, spec: NetworkSpec, phases, *, seed: int, progress: bool):
    """Run phases (task, epochs, eta, noise_sd) one after the other from `state`.

    Args:
        kind: "exact", "flow" (state = Σ (P, P)) or "theta-adam" (state = X (N, P); Adam
            is re-initialised at each phase).
        phases: list of (task, epochs, eta, noise_sd): noise_sd > 0 trains that phase on the
            task with `target_noise = noise_sd`.

    Returns:
        (loss (E+1,), sigma (E+1, P, P), final state), E = total epochs; entry e is the state
        before update e, the last entry the final state.
    """
    losses, sigmas = [], []
    for k, (task, epochs, eta, noise) in enumerate(phases):
        # Target noise is the task's own option (fresh draws every epoch from the batch seed,
        # the same for a run and its control); a noisy phase is stepped, not in closed form.
        phase_seed = seed
        if noise > 0:
            task, phase_seed = dataclasses.replace(task, target_noise=float(noise)), seed + 1000 + k
        # One chunk length for every phase: one compilation per (task, kind).
        common = dict(loss="sum_dt", eta=eta, epochs=int(epochs), seed=phase_seed,
                      progress=progress, chunk=200)
        if kind == "theta-adam":
            res = train_theta(state, task, spec, optimizer="adam", **common)
            state = res.state[0]
        else:
            res = learn_overlaps(state, task, spec, mode=kind, **common)
            state = res.state
        loss, sig = res.loss, res.sigma
        last = k == len(phases) - 1
        losses.append(loss if last else loss[:-1])
        sigmas.append(sig if last else sig[:-1])
    return np.concatenate(losses), np.concatenate(sigmas), state


def start_vectors(params: dict, spec: NetworkSpec, *, seed: int):
    """The start of the sequence: (X (N, P), Σ = XᵀX/N (P, P)).

    start = "twin": the degeneracy experiment's twin (`twin_pair`, its realised vectors X₁);
    start = "fig1": the Figure-1 start `random_vectors(spec, seed)`.
    """
    start = params["start"]
    if start == "twin":
        X = twin_pair(spec, seed=seed, twin_uu=params["twin_uu"], twin_mu=params["twin_mu"])[3]
    elif start == "fig1":
        X = random_vectors(spec, seed=seed)
    else:
        raise ConfigError(f"memory: start must be one of {', '.join(STARTS)}, got {start!r}")
    return X, overlaps(X)


def _variant_phases(variant: str, params: dict, tasks: list, control: bool):
    eta = params["eta_large"] if variant == "gd_large" else params["eta"]
    if variant == "adam":
        eta = params["adam_lr"]
    out = []
    for k, (task, epochs, factor) in enumerate(zip(tasks, params["phase_epochs"],
                                                   params["eta_factors"])):
        noise = params["noise_sd"] if (variant == "gd_noise" and k == len(tasks) - 1) else 0.0
        out.append((tasks[0] if control else task, epochs, eta * factor, noise))
    return out


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """The paper protocol (gd_noise) and the five memory variants with their controls.

    Returns arrays: epochs (E+1,), bounds (phases+1,) phase boundaries, for each variant v:
    loss_v, sigma_v (E+1, P, P), sigma_ctrl_v; plus names/rows/cols/visible.
    """
    spec = NetworkSpec(N=int(params["N"]), rank=1, phi="linear", dt=float(params["dt"]))
    tasks = [impulse_task("impulse_exp", dt=spec.dt, t_max=params["t_max"], decay=c)
             for c in params["decays"]]
    X0, sigma0 = start_vectors(params, spec, seed=seed)
    names, rows, cols, vis = pair_arrays(spec)
    bounds = np.concatenate([[0], np.cumsum(params["phase_epochs"])])
    arrays = {"epochs": np.arange(bounds[-1] + 1), "bounds": bounds, "names": names.astype(str),
              "visible": vis, "rows": rows, "cols": cols,
              "decays": np.asarray(params["decays"], float)}
    kinds = {"flow": "flow", "gd_small": "exact", "gd_large": "exact", "gd_noise": "exact",
             "adam": "theta-adam"}
    retained, trace_end, vis_end = {}, {}, {}
    variants = list(params["variants"])
    with progress_bar(total=2 * len(variants), desc="memory variants", enabled=progress) as bar:
        for v in variants:
            start = X0 if kinds[v] == "theta-adam" else sigma0
            out = {}
            for ctrl in (False, True):
                phases = _variant_phases(v, params, tasks, ctrl)
                loss, sig, _ = run_sequence(kinds[v], start, spec, phases, seed=seed,
                                            progress=False)
                out[ctrl] = (loss, sig)
                bar.update(1)
            arrays[f"loss_{v}"], arrays[f"sigma_{v}"] = out[False]
            arrays[f"loss_ctrl_{v}"], arrays[f"sigma_ctrl_{v}"] = out[True]
            keep(**arrays)
            diff = np.abs(out[False][1] - out[True][1])[:, rows, cols]  # (E+1, D)
            inv = diff[:, ~vis].max(axis=1)
            arrays[f"trace_inv_{v}"] = inv
            arrays[f"trace_vis_{v}"] = diff[:, vis].max(axis=1)
            trace_end[v] = float(inv[-1])
            retained[v] = float(inv[-1] / inv.max())
            vis_end[v] = float(diff[-1, vis].max())
    checks = []
    info = {
        "retained_definition": "max_inv |σ_hist(E) − σ_ctrl(E)| / max_t max_inv |σ_hist(t) − "
        "σ_ctrl(t)|, control = task A only with the same epochs, rates and noise draws",
        "retained": retained, "trace_end_invisible": trace_end, "trace_end_visible": vis_end,
        "start": params["start"], "sigma_start": np.asarray(sigma0),
    }
    for v in ("gd_noise", "gd_small"):
        if f"sigma_{v}" not in arrays:
            continue
        sig = arrays[f"sigma_{v}"][:, rows, cols]
        ref = sig[bounds[1]]
        d = np.abs(sig - ref)
        arrays[f"dist_vis_{v}"] = d[:, vis].max(axis=1)
        arrays[f"dist_inv_{v}"] = d[:, ~vis].max(axis=1)
        at = {k: (float(d[bounds[k], vis].max()), float(d[bounds[k], ~vis].max()))
              for k in range(1, len(bounds))}
        info[f"distance_from_after_first_A_{v}"] = {
            f"end_of_phase_{k}": {"visible": dv, "invisible": di} for k, (dv, di) in at.items()}
        if v == "gd_noise":
            dv3, di3 = at[3]
            checks.append(Check.above(
                "GD, after A→B→A: invisible / visible distance from Σ after the first A",
                di3 / dv3, 10.0))
            checks.append(Check.below("GD, after A→B→A: visible distance from Σ after the first A",
                                      dv3, 1e-3))
            dve, die = at[len(bounds) - 1]
            checks.append(Check.above("GD + target noise, end: invisible / visible distance",
                                      die / dve, 1.0))
        else:
            checks.append(Check.above(
                "small-step GD: invisible distance after 2 cycles / after 1 cycle",
                at[len(bounds) - 1][1] / at[3][1], 1.0))
    if "gd_small" in trace_end:
        checks.append(Check.above("history kept at the end (invisible trace), small-step GD",
                                  trace_end["gd_small"], 1e-4))
    seeds = {"init": seed, "noise": seed + 1000}
    if params["start"] == "twin":
        seeds["realise_twin"] = seed + 2
    return Outcome(arrays, checks, seeds=seeds, info=info)


def validate(params: dict, given: set) -> None:
    """Known variants and start; one decay, epoch count and step factor per phase, and at
    least the three phases A → B → A that the checks compare."""
    check_choices("memory", params, "variants", VARIANTS)
    if params["start"] not in STARTS:
        raise ConfigError(f"memory: parameter start must be one of {', '.join(STARTS)}, "
                          f"got {params['start']!r}")
    check_lengths("memory", params, "decays", "phase_epochs", "eta_factors", minimum=3)


register(Experiment("memory", "Sequence A, B, A, B, A+noise: invisible overlaps keep the history",
                    DEFAULTS, QUICK, compute, draw_memory, validate))
