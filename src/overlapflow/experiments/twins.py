"""History decoding from overlaps (THEORY §5, §7 "twins, decoding").

Overlap space, rank-1 erf, dt = 0.05. From each of `starts` random starts (cross overlaps
|N(0, 0.4)|, self-overlaps U(0.5, 2), redrawn until PSD) network 1 learns the flip-flop
(waits 1–2 s, input ×2, target ×1) and network 2 learns decision making; then both learn
task C: imitate a teacher effective network (σ_zm 0.5, σ_zu 2.3, σ_vm 2.0, σ_vu 1.5,
σ_mu 1.6, σ_mm 1.8, σ_uu 2.2) driven by 1.5·white noise + 2·flip-flop pulses. Loss
mean·T·dt; GD by the exact overlap map (the image of θ-space GD), η = 0.01 divided by 5
once the loss falls below 0.015, task C η = 0.001; 30000 epochs per phase, batch 128.
A logistic-regression decoder (standardised features, repeated stratified k-fold) reads the
history (flip-flop or decision making) from the 10 overlaps before and after C.

Starts run side by side: a jitted `lax.scan` over epochs whose gradient step carries up to
`GROUP` networks in the lanes of one adjoint pass; every start sees the same batch at a
given epoch. Lane groups, and the independent phases A and B, learn in parallel threads,
one per core. Task C is built here (it is not a `_tasks` kind).
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._effective import effective_outputs, overlap_values_and_grads
from .._errors import ConfigError
from .._network import NetworkSpec
from .._overlap_learning import exact_overlap_step
from .._parallel import available_cores, map_threaded
from .._progress import progress_bar
from .._tasks import Task, TaskBatch, batch_for_epoch, make_task
from ._common import Check, Experiment, Outcome, register
from ._figures import draw_twins
from .fig1 import pair_arrays

__all__ = [
    "compute",
    "random_starts",
    "teacher_sigma",
    "run_phase",
    "run_phases",
    "PhaseRun",
    "PhaseTask",
    "decode",
]

TEACHER = {"zm": 0.5, "zu": 2.3, "vm": 2.0, "vu": 1.5, "mu": 1.6, "mm": 1.8, "uu": 2.2}

DEFAULTS = dict(
    starts=10, dt=0.05, epochs=30000, batch_size=128, eta=0.01, eta_drop=5.0,
    drop_below=0.015, eta_c=0.001, cross_sd=0.4, self_low=0.5, self_high=2.0,
    ff_t_max=20.0, ff_wait=[1.0, 2.0], ff_amplitude=2.0, ff_target=1.0,
    dm_times=[1.0, 9.0, 1.0, 9.0], c_t_max=20.0, c_noise=1.5, c_pulse=2.0,
    cv_splits=5, cv_repeats=20, chunk=500,
)
QUICK = dict(starts=8, epochs=100, batch_size=16, ff_t_max=8.0, dm_times=[0.5, 3.0, 0.5, 3.0],
             c_t_max=8.0, chunk=50, eta=0.05, eta_c=0.01)


class TwinState(NamedTuple):
    """Loop carry of one start: overlaps (P, P), whether η was already divided, divergence."""

    sigma: jax.Array
    reduced: jax.Array
    bad: jax.Array


@dataclass(frozen=True)
class PhaseTask:
    """A phase's batches: a `_tasks` Task, or the teacher task C (flip-flop pulses + noise).

    Attributes:
        task: the task whose batches are used (for C: the flip-flop supplying the pulses).
        noise_sd: C only: white noise added to the input, per step.
        teacher: C only: the teacher's Σ as a tuple of tuples (hashable), else None.
    """

    task: Task
    noise_sd: float = 0.0
    teacher: tuple | None = None

    def batch(self, seed, epoch, spec: NetworkSpec) -> TaskBatch:
        b = batch_for_epoch(self.task, seed, epoch)
        if self.teacher is None:
            return b
        key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), epoch), 7919)
        x = b.x + self.noise_sd * jax.random.normal(key, b.x.shape, b.x.dtype)
        y = effective_outputs(jnp.asarray(self.teacher, x.dtype), x, spec)
        return TaskBatch(x=x, y=y, mask=jnp.ones_like(y))


def teacher_sigma() -> np.ndarray:
    """The teacher's Σ (4, 4), order (m, u, v, z): the paper's seven visible overlaps plus a
    PSD completion of the invisible σ_zv, σ_vv, σ_zz (they do not affect its output)."""
    t = TEACHER
    B = np.array([[t["mm"], t["mu"]], [t["mu"], t["uu"]]])
    cv, cz = np.array([t["vm"], t["vu"]]), np.array([t["zm"], t["zu"]])
    Bi = np.linalg.inv(B)
    vv, zz, zv = cv @ Bi @ cv + 0.5, cz @ Bi @ cz + 0.5, cv @ Bi @ cz
    return np.array([[t["mm"], t["mu"], t["vm"], t["zm"]],
                     [t["mu"], t["uu"], t["vu"], t["zu"]],
                     [t["vm"], t["vu"], vv, zv],
                     [t["zm"], t["zu"], zv, zz]])


def random_starts(n: int, *, seed: int, cross_sd: float, low: float, high: float) -> np.ndarray:
    """n random PSD starts (n, 4, 4): off-diagonal |N(0, cross_sd)|, diagonal U(low, high)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        S = np.abs(rng.normal(0.0, cross_sd, (4, 4)))
        S = np.triu(S, 1)
        S = S + S.T + np.diag(rng.uniform(low, high, 4))
        if np.linalg.eigvalsh(S)[0] > 1e-3:
            out.append(S)
    return np.stack(out)


@functools.partial(jax.jit, static_argnames=("phase", "spec", "chunk"))
def _phase_chunk(state: TwinState, epoch0, total, eta, drop, below, seed, *, phase, spec, chunk):
    """A lax.scan over `chunk` epochs of n starts (state batched: sigma (n, P, P)); the starts
    run side by side in the lanes of one adjoint pass. Returns (state, losses (n, chunk))."""

    def step(st: TwinState, epoch):
        batch = phase.batch(seed, epoch, spec)
        loss, G = overlap_values_and_grads(st.sigma, batch, spec, "mean_t_dt")
        S = 0.5 * (G + jnp.swapaxes(G, 1, 2))
        eta_now = jnp.where(st.reduced, eta / drop, eta)
        new = exact_overlap_step(st.sigma, S, eta_now[:, None, None])  # batched over starts
        ok = jnp.isfinite(loss) & jnp.all(jnp.isfinite(new), axis=(1, 2))
        live = (epoch < total) & ok & ~st.bad
        nxt = TwinState(jnp.where(live[:, None, None], new, st.sigma),
                        st.reduced | (live & (loss < below)), st.bad | ~ok)
        return nxt, loss

    state, losses = jax.lax.scan(step, state, epoch0 + jnp.arange(chunk))
    return state, losses.T


#: Starts per lane group: the adjoint's per-trajectory cost is lowest around 8–16 networks
#: (128 trials each) per pass on CPU; beyond that its stored latents outgrow the cache.
GROUP = 16


@dataclass(frozen=True)
class PhaseRun:
    """One phase to learn: from sigma0 (S, P, P), on `phase`'s batches (seed), with rate eta."""

    sigma0: np.ndarray
    phase: PhaseTask
    eta: float
    seed: int


def _run_group(sigma0, run: PhaseRun, spec, *, epochs, drop, below, chunk, tick):
    """All epochs of one lane group; returns (sigma, losses, bad, compiled s/epoch)."""
    n = sigma0.shape[0]
    state = TwinState(jnp.asarray(sigma0), jnp.zeros(n, bool), jnp.zeros(n, bool))
    losses, done = [], 0
    start = steady = time.perf_counter()
    while done < epochs + 1:
        state, loss = _phase_chunk(state, done, epochs, run.eta, drop, below, run.seed,
                                   phase=run.phase, spec=spec, chunk=chunk)
        take = min(chunk, epochs + 1 - done)
        losses.append(np.asarray(loss[:, :take]))
        tick(take)
        done += take
        if done == take:
            steady = time.perf_counter()
    n_steady = (len(losses) - 1) * chunk
    per_epoch = ((time.perf_counter() - steady) / n_steady if n_steady
                 else (time.perf_counter() - start) / chunk)
    return (np.asarray(state.sigma), np.concatenate(losses, axis=1), np.asarray(state.bad),
            per_epoch)


def run_phases(runs, spec: NetworkSpec, *, epochs: int, drop: float, below: float, chunk: int,
               progress: bool, desc: str, group: int = GROUP, workers: int | None = None):
    """Learn independent phases at once: each split into ⌈S/group⌉ equal lane groups, and the
    groups of all phases spread over `workers` threads (default: one per available core; XLA
    runs each thread's computation on its own core, so the groups learn in parallel).

    Args:
        runs: `PhaseRun`s (independent of one another).

    Returns:
        Per run: (sigma_final (S, P, P), losses (S, epochs + 1), diverged (S,) bool, compiled
        seconds per epoch summed over its groups, i.e. its cost on one core).
    """
    jobs = []  # (run index, lo, hi)
    for r, run in enumerate(runs):
        S = run.sigma0.shape[0]
        n_groups = -(-S // max(1, group))
        bounds = np.linspace(0, S, n_groups + 1).round().astype(int)
        jobs += [(r, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    lock = threading.Lock()
    with progress_bar(total=(epochs + 1) * len(jobs), desc=desc, enabled=progress,
                      unit="ep") as bar:
        def tick(n):
            with lock:
                bar.update(n)

        def work(job):
            r, lo, hi = job
            return _run_group(runs[r].sigma0[lo:hi], runs[r], spec, epochs=epochs, drop=drop,
                              below=below, chunk=chunk, tick=tick)

        outs = map_threaded(work, jobs, workers)
    results = []
    for r in range(len(runs)):
        mine = [o for (rr, _, _), o in zip(jobs, outs) if rr == r]
        results.append((np.concatenate([o[0] for o in mine]), np.concatenate([o[1] for o in mine]),
                        np.concatenate([o[2] for o in mine]), float(sum(o[3] for o in mine))))
    return results


def run_phase(sigma0, phase: PhaseTask, spec: NetworkSpec, *, epochs: int, eta: float,
              drop: float, below: float, seed: int, chunk: int, progress: bool, desc: str,
              group: int = GROUP, workers: int | None = None):
    """Learn one phase from sigma0 (S, P, P) for all starts (see `run_phases`).

    Returns:
        (sigma_final (S, P, P), losses (S, epochs + 1), diverged (S,) bool, compiled seconds
        per epoch on one core).
    """
    return run_phases([PhaseRun(np.asarray(sigma0), phase, eta, seed)], spec, epochs=epochs,
                      drop=drop, below=below, chunk=chunk, progress=progress, desc=desc,
                      group=group, workers=workers)[0]


def decode(features, labels, *, splits: int, repeats: int, seed: int) -> np.ndarray:
    """Cross-validated accuracies (splits·repeats,) of a standardised logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    counts = np.bincount(labels, minlength=2)
    splits = min(splits, int(counts.min()))
    if splits < 2:
        return np.full(1, np.nan)  # too few (surviving) networks of one history to decode
    cv = RepeatedStratifiedKFold(n_splits=splits, n_repeats=repeats, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return cross_val_score(model, features, labels, cv=cv)


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """Phases A (flip-flop) and B (decision making) for every start, then C for all 2·starts.

    Returns arrays: starts (S, 4, 4), sigma_ab (2S, 4, 4) after A/B, sigma_c (2S, 4, 4) after
    C, history (2S,) 0 = flip-flop, 1 = decision making, loss_a/loss_b (S, E+1), loss_c
    (2S, E+1), accuracies (splits·repeats,) per feature set, teacher (4, 4).
    """
    S = int(params["starts"])
    if S < 2:
        raise ConfigError(f"twins: starts must be ≥ 2 (got {S})")
    dt = float(params["dt"])
    spec = NetworkSpec(N=1000, rank=1, phi="erf", dt=dt)  # N unused in overlap space
    B, E = int(params["batch_size"]), int(params["epochs"])
    w_lo, w_hi = params["ff_wait"]
    ff = make_task("flip_flop", dt=dt, t_max=params["ff_t_max"], n_in=1, n_out=1, batch_size=B,
                   wait_min=w_lo, wait_max=w_hi, amplitude=params["ff_amplitude"],
                   target_scale=params["ff_target"])
    fix, stim, delay, resp = params["dm_times"]
    dm = make_task("decision_making", dt=dt, n_in=1, n_out=1, batch_size=B, fixation=fix,
                   stimulus=stim, delay=delay, response=resp)
    pulses = make_task("flip_flop", dt=dt, t_max=params["c_t_max"], n_in=1, n_out=1,
                       batch_size=B, wait_min=w_lo, wait_max=w_hi, amplitude=params["c_pulse"],
                       target_scale=1.0)
    teacher = teacher_sigma()
    phase_c = PhaseTask(pulses, float(params["c_noise"]), tuple(map(tuple, teacher.tolist())))
    starts = random_starts(S, seed=seed, cross_sd=params["cross_sd"], low=params["self_low"],
                           high=params["self_high"])
    common = dict(drop=params["eta_drop"], below=params["drop_below"], chunk=int(params["chunk"]),
                  progress=progress)
    # A and B are independent: their lane groups learn in parallel, then C's.
    (sig_a, loss_a, bad_a, t_a), (sig_b, loss_b, bad_b, t_b) = run_phases(
        [PhaseRun(starts, PhaseTask(ff), params["eta"], seed + 1),
         PhaseRun(starts, PhaseTask(dm), params["eta"], seed + 2)],
        spec, epochs=E, desc="twins A (flip-flop) and B (decision)", **common)
    sig_ab = np.concatenate([sig_a, sig_b])
    sig_c, loss_c, bad_c, t_c = run_phase(sig_ab, phase_c, spec, epochs=E, eta=params["eta_c"],
                                          seed=seed + 3, desc="twins C: teacher", **common)
    history = np.r_[np.zeros(S, int), np.ones(S, int)]
    names, rows, cols, vis = pair_arrays(spec)
    cv = dict(splits=int(params["cv_splits"]), repeats=int(params["cv_repeats"]), seed=seed + 4)
    # Networks that diverged (non-finite, or |σ| > 1e6) in any phase are flagged and left out
    # of the decoding; the others continue.
    blown = np.r_[bad_a, bad_b] | bad_c
    blown |= ~np.all(np.abs(sig_ab) < 1e6, axis=(1, 2)) | ~np.all(np.abs(sig_c) < 1e6, axis=(1, 2))
    keep = ~blown
    acc = {
        "before_c": decode(sig_ab[keep][:, rows, cols], history[keep], **cv),
        "after_c": decode(sig_c[keep][:, rows, cols], history[keep], **cv),
        "after_c_invisible": decode(sig_c[keep][:, rows, cols][:, ~vis], history[keep], **cv),
    }
    arrays = {"starts": starts, "sigma_ab": sig_ab, "sigma_c": sig_c, "history": history,
              "loss_a": loss_a, "loss_b": loss_b, "loss_c": loss_c, "teacher": teacher,
              "names": names.astype(str), "visible": vis, "rows": rows, "cols": cols,
              "diverged": blown}
    for k, v in acc.items():
        arrays[f"accuracy_{k}"] = v
    diverged = int(blown.sum())
    c_ratio = float(np.median(loss_c[keep, -1] / loss_c[keep, 0])) if keep.any() else np.nan
    checks = [
        Check.equals("networks that diverged (any phase; left out of decoding)", diverged, 0),
        Check.below("task C learned: median final / initial loss", c_ratio, 1.0),
        Check.above("decoder accuracy before C (mean over CV splits)", acc["before_c"].mean(), 0.9),
        Check.above("decoder accuracy after C (mean over CV splits)", acc["after_c"].mean(), 0.75),
        Check.below("decoder accuracy after C: sd over CV splits", acc["after_c"].std(), 0.3),
    ]
    # Cost ∝ epochs × batch × steps per start-network (compiled seconds per epoch measured
    # here; T = 400 steps for every phase at the paper's dt = 0.05 and 20 s trials).
    scale = 30000 * 128 / B * 400
    est = (t_a / ff.n_steps + t_b / dm.n_steps + t_c / pulses.n_steps) * scale
    cores = available_cores()
    info = {
        "accuracy_mean": {k: float(v.mean()) for k, v in acc.items()},
        "accuracy_sd": {k: float(v.std()) for k, v in acc.items()},
        "n_cv_scores": int(acc["after_c"].size),
        "seconds_per_epoch_one_core": {"A": t_a, "B": t_b, "C": t_c},
        "cores": cores,
        "paper_size_estimate_s": {
            "this_many_starts_one_core": est, "per_start_one_core": est / S,
            "this_many_starts_wall": est / cores,
            "formula": "Σ_phase (compiled s/epoch on one core) × 30000 × (128/batch) × (400/T),"
            " same number of starts; wall ≈ that / cores (lane groups and phases A, B run in "
            "parallel, one thread per core)",
        },
        "teacher_sigma": teacher,
        "decoder": "StandardScaler + LogisticRegression, RepeatedStratifiedKFold",
    }
    return Outcome(arrays, checks, seeds={"starts": seed, "batches_a": seed + 1,
                                          "batches_b": seed + 2, "batches_c": seed + 3,
                                          "cv": seed + 4}, info=info)


register(Experiment("twins", "History decoding: flip-flop vs decision-making histories read "
                    "from the overlaps before and after task C", DEFAULTS, QUICK, compute,
                    draw_twins))
