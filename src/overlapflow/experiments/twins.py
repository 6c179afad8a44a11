"""History decoding from overlaps: the paper's twins study (Figures 4d–f, 9 and 10; docs/theory.md §5, §7).

Overlap space, rank-1 erf, dt = 0.05, GD by the exact overlap map (the image of θ-space GD
for any N). From each of `starts` random starts (cross overlaps |N(0, 0.4)|, self-overlaps
U(0.5, 2)) two networks learn different first tasks:

- A (network 1): the flip-flop with the paper's timing (waits 1–2 s counted from the end of
  the 2-s post-pulse window, input ×2, target ×1, 20-s trials);
- B (network 2): decision making (input noise sd 0.05, coherences ±2, 8, 16 %);

both with the masked mean-squared error and η = 0.01, divided by 5 once (the first epoch
whose loss is below 0.015). Then all 2·starts networks learn task C, the `teacher` task:
imitate a teacher effective network (σ_zm 0.5, σ_zu 2.3, σ_vm 2.0, σ_vu 1.5, σ_mu 1.6,
σ_mm 1.8, σ_uu 2.2) driven by 1.5·white noise + 2 × the pulses of the default flip-flop
(waits 4–10 s, amplitude 1), loss mean over time and batch × T·dt, unmasked, η = 0.001,
no division. 30000 epochs per phase, batch 128.

A logistic-regression decoder (standard scaling) reads the history (A or B) from the 7
loss-visible overlaps, the 3 invisible ones, and all 10, at the start (chance: both
networks of a start share it), after A/B and after C, with the overlaps as they are and
with Gaussian noise (sd 0.3) added to them. Each split holds out 20 % of the starts with both
their networks: for 10 starts the paper's 50 stratified 16/4 splits (5 splits per start
when there are more than 10 starts).

Differences from the paper's code, and why:

- Random starts that are not positive semi-definite (13.6 % of the paper's draws; such a
  Σ belongs to no network) are redrawn until λ_min(Σ) > 1e-3; the draws are otherwise the
  paper's. Redrawing conditions the start distribution on realisability.
- Where the paper trains each network on its own batches, here the lanes of a phase share
  one batch per epoch (a different batch every epoch, the same statistics).
- Splits keep the two networks of a start together (both in training or both in test).
  They are still stratified 16/4; splitting a pair apart would leak the shared start into
  the test (at the start itself that gives an accuracy far below chance, 0.13 measured).
- Noise in the decoder: added to the training and the test overlaps, a fresh draw per
  split.

Starts run side by side: a jitted `lax.scan` over epochs whose gradient step carries up to
`GROUP` networks in the lanes of one adjoint pass. Lane groups, and the independent phases
A and B, learn in parallel threads, one per core.

Longer than 400 lines on purpose: the three phases, the decoder and the checks of one study
read as one protocol; its figures are in `_twins_draw`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .. import ConfigError, NetworkSpec, batch_for_epoch, effective_outputs, make_task
from ..internal import (
    Task,
    available_cores,
    batched_chunk,
    drive_chunks,
    lane_state,
    map_threaded,
    progress_bar,
    require_module,
)
from ._common import Check, Experiment, Outcome, check_lengths, register
from ._twins_draw import draw_twins
from .fig1 import pair_arrays

__all__ = [
    "compute",
    "random_starts",
    "teacher_sigma",
    "teacher_task",
    "run_phase",
    "run_phases",
    "PhaseRun",
    "decode",
    "shuffled_control",
    "zero_output_mse",
    "STAGES",
    "FEATURE_SETS",
]

TEACHER = {"zm": 0.5, "zu": 2.3, "vm": 2.0, "vu": 1.5, "mu": 1.6, "mm": 1.8, "uu": 2.2}

DEFAULTS = dict(
    starts=10, dt=0.05, epochs=30000, batch_size=128, eta=0.01, eta_drop=5.0,
    drop_below=0.015, eta_c=0.001, cross_sd=0.4, self_low=0.5, self_high=2.0,
    ff_t_max=20.0, ff_wait=[1.0, 2.0], ff_amplitude=2.0, ff_target=1.0,
    dm_times=[1.0, 9.0, 1.0, 9.0], dm_noise=0.05, dm_coherences=[-16.0, -8.0, -2.0, 2.0, 8.0, 16.0],
    dm_test_coherences=[-14.0, -4.0, 4.0, 14.0], dm_plot_noise=0.03,
    c_t_max=20.0, c_noise=1.5, c_input_scale=2.0, c_wait=[4.0, 10.0],
    decode_splits=50, decode_noise=0.3, chunk=500,
    a_learned_below=0.01, b_learned_below=0.03, c_learned_below=0.5, invisible_above=0.75,
    invisible_stage="after_c", control_shuffles=20, control_splits=10,
)
QUICK = dict(starts=8, epochs=100, batch_size=16, ff_t_max=8.0, dm_times=[0.5, 3.0, 0.5, 3.0],
             c_t_max=8.0, chunk=50, eta=0.05, eta_c=0.01, c_wait=[1.0, 2.0],
             a_learned_below=0.05, b_learned_below=0.15, invisible_stage="after_ab",
             decode_splits=30, control_shuffles=10, control_splits=5)
# --quick is a smoke run (100 epochs, 8 starts): A and B are learned to well below the error of
# a zero output (≈ 1 and ≈ 0.4), not to the paper's level; C is learned for too short a time
# for the history to have left the visible overlaps, and too few networks decode it to tell
# 0.6 from chance: the quick run checks that the invisible overlaps carry the history after
# A/B (invisible_stage), the paper-size run that they still do after C. It decodes over fewer
# splits and shuffles (the decoder's logistic fits are most of a quick run's time).

#: Decoding stages and feature sets (summary.json keys).
STAGES = ("start", "after_ab", "after_c")
FEATURE_SETS = ("visible", "invisible", "all")
#: Loss of each phase: A and B the masked mean-squared error, C mean × T·dt (docs/theory.md §7).
PHASE_LOSS = {"A": "masked_mean", "B": "masked_mean", "C": "mean_t_dt"}


def teacher_sigma() -> np.ndarray:
    """The teacher's Σ (4, 4), order (m, u, v, z): the paper's seven visible overlaps, the
    invisible σ_zv, σ_vv, σ_zz completed by the `teacher` task (they do not affect its output)."""
    return np.asarray(teacher_task(DEFAULTS, 1).sigma)


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


def teacher_task(params: dict, batch_size: int) -> Task:
    """Task C: the `teacher` task with the paper's teacher and inputs (see the module doc)."""
    w_lo, w_hi = params["c_wait"]
    source = make_task("flip_flop", dt=float(params["dt"]), t_max=params["c_t_max"], n_in=1,
                       n_out=1, batch_size=batch_size, wait_min=w_lo, wait_max=w_hi)
    return make_task("teacher", dt=float(params["dt"]), t_max=params["c_t_max"], n_in=1,
                     n_out=1, phi="erf", sigma=dict(TEACHER), source=source,
                     noise_sd=params["c_noise"], input_scale=params["c_input_scale"])


def phase_tasks(params: dict) -> tuple[Task, Task, Task]:
    """The tasks of phases A (flip-flop), B (decision making) and C (teacher)."""
    dt, B = float(params["dt"]), int(params["batch_size"])
    w_lo, w_hi = params["ff_wait"]
    ff = make_task("flip_flop", dt=dt, t_max=params["ff_t_max"], n_in=1, n_out=1, batch_size=B,
                   wait_min=w_lo, wait_max=w_hi, amplitude=params["ff_amplitude"],
                   target_scale=params["ff_target"])
    fix, stim, delay, resp = params["dm_times"]
    dm = make_task("decision_making", dt=dt, n_in=1, n_out=1, batch_size=B, fixation=fix,
                   stimulus=stim, delay=delay, response=resp, noise_sd=params["dm_noise"],
                   coherences=[float(c) for c in params["dm_coherences"]])
    return ff, dm, teacher_task(params, B)


def validate(params: dict, given: set) -> None:
    """At least two starts; the phases' tasks can be made (before anything runs)."""
    if int(params["starts"]) < 2:
        raise ConfigError(f"twins: starts must be ≥ 2 (got {params['starts']})")
    if params["invisible_stage"] not in STAGES[1:]:
        raise ConfigError(f"twins: parameter invisible_stage must be one of "
                          f"{', '.join(STAGES[1:])}, got {params['invisible_stage']!r}")
    check_lengths("twins", params, "dm_times", length=4)
    for key in ("ff_wait", "c_wait"):
        check_lengths("twins", params, key, length=2)
    phase_tasks(params)


#: Networks per lane group: the adjoint's per-trajectory cost is lowest around 8–16 networks
#: (128 trials each) per pass on CPU; beyond that its stored latents outgrow the cache.
GROUP = 16


@dataclass(frozen=True)
class PhaseRun:
    """One phase to learn.

    Attributes:
        sigma0: (S, P, P) starting overlaps of the S networks.
        task: the phase's task (batches from `batch_for_epoch(task, seed, epoch)`).
        loss: loss kind ("masked_mean", "mean_t_dt", …).
        eta: learning rate; divided by `drop` once, at the first epoch whose loss is below
            `below` (drop = 1 or below = -inf: never).
        seed: batch seed.
    """

    sigma0: np.ndarray
    task: Task
    loss: str
    eta: float
    seed: int
    drop: float = 1.0
    below: float = -np.inf


class PhaseResult(NamedTuple):
    """What `run_phases` returns per run.

    Attributes:
        sigma: (S, P, P) final overlaps.
        loss: (S, E+1) loss before each update and after the last.
        diverged: (S,) bool.
        trajectory: (S, K, P, P) overlaps at `trajectory_epochs` (every chunk, and the end).
        trajectory_epochs: (K,) int.
        seconds_per_epoch: compiled seconds per epoch, summed over the run's lane groups (its
            cost on one core).
    """

    sigma: np.ndarray
    loss: np.ndarray
    diverged: np.ndarray
    trajectory: np.ndarray
    trajectory_epochs: np.ndarray
    seconds_per_epoch: float


def _run_group(sigma0, run: PhaseRun, spec, *, epochs, chunk, tick):
    """All epochs of one lane group (the batched engine, `batched_chunk`, exact map); returns
    the pieces of a `PhaseResult`."""
    losses, traj, marks = [], [np.asarray(sigma0)], [0]
    clock = {"start": time.perf_counter()}

    def run_chunk(state, epoch0, total):
        return batched_chunk(state, epoch0, total, run.eta, run.drop, run.below, run.seed,
                             spec=spec, task=run.task, loss_kind=run.loss, mode="exact",
                             chunk=chunk, record_sigma=False)

    def collect(epoch0, take, out, state):
        losses.append(np.asarray(out[0])[:take].T)
        traj.append(np.moveaxis(np.asarray(state.sigma), -1, 0))
        marks.append(min(epoch0 + take, epochs))
        tick(take)
        if epoch0 == 0:
            clock["steady"] = time.perf_counter()  # after the compilation
        return False

    state, _, _ = drive_chunks(run_chunk, lane_state(sigma0), epochs, chunk, collect=collect,
                               keep_partial=False)
    n_steady = (len(losses) - 1) * chunk
    per_epoch = ((time.perf_counter() - clock["steady"]) / n_steady if n_steady
                 else (time.perf_counter() - clock["start"]) / chunk)
    return (np.moveaxis(np.asarray(state.sigma), -1, 0), np.concatenate(losses, axis=1),
            np.asarray(state.bad), np.stack(traj, axis=1), np.asarray(marks), per_epoch)


def run_phases(runs, spec: NetworkSpec, *, epochs: int, chunk: int, progress: bool, desc: str,
               group: int = GROUP, workers: int | None = None) -> list[PhaseResult]:
    """Learn independent phases at once: each split into ⌈S/group⌉ equal lane groups, and the
    groups of all phases spread over `workers` threads (default: one per available core; XLA
    runs each thread's computation on its own core, so the groups learn in parallel).

    Args:
        runs: `PhaseRun`s (independent of one another).

    Returns:
        One `PhaseResult` per run.
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
            return _run_group(runs[r].sigma0[lo:hi], runs[r], spec, epochs=epochs, chunk=chunk,
                              tick=tick)

        outs = map_threaded(work, jobs, workers)
    results = []
    for r in range(len(runs)):
        mine = [o for (rr, _, _), o in zip(jobs, outs) if rr == r]
        results.append(PhaseResult(*(np.concatenate([o[k] for o in mine]) for k in range(4)),
                                   mine[0][4], float(sum(o[5] for o in mine))))
    return results


def run_phase(run: PhaseRun, spec: NetworkSpec, *, epochs: int, chunk: int, progress: bool,
              desc: str, group: int = GROUP, workers: int | None = None) -> PhaseResult:
    """Learn one phase for all its networks (see `run_phases`)."""
    return run_phases([run], spec, epochs=epochs, chunk=chunk, progress=progress, desc=desc,
                      group=group, workers=workers)[0]


def decode(features, labels, groups, *, splits: int, noise_sd: float, seed: int) -> np.ndarray:
    """Accuracies (splits,) of a standardised logistic regression over random splits.

    Each split holds out 20 % of the starts with both their networks (`groups` = start
    index), so train and test are stratified (every start gives one network of each history:
    10 starts → the paper's 16/4 splits) and no test network has its twin, which shares its
    start, in the training set. (Splitting the twins apart leaks the start: at the start
    itself a network's twin carries the opposite label, and accuracy falls far below chance —
    measured 0.13.)

    Args:
        features: (n, F) overlaps of n networks; labels: (n,) 0/1 history; groups: (n,) start.
        splits: number of splits.
        noise_sd: sd of Gaussian noise added to every feature of the training and the test
            set, a fresh draw per split (0: none).
        seed: seed of the splits and of the noise.

    Returns NaN (1,) when fewer than 2 starts remain (nothing to hold out).
    """
    require_module("sklearn", "the twins decoder")
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupShuffleSplit
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features, float)
    labels = np.asarray(labels, int)
    groups = np.asarray(groups)
    if len(np.unique(groups)) < 2 or np.bincount(labels, minlength=2).min() < 1:
        return np.full(1, np.nan)
    rng = np.random.default_rng(seed)
    cv = GroupShuffleSplit(n_splits=splits, test_size=0.2, random_state=seed)
    scores = []
    for train, test in cv.split(features, labels, groups):
        noisy = features + noise_sd * rng.standard_normal(features.shape)
        if len(np.unique(labels[train])) < 2:
            scores.append(np.nan)
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(noisy[train], labels[train])
        scores.append(model.score(noisy[test], labels[test]))
    return np.asarray(scores)


def shuffled_control(features, labels, groups, *, splits: int, shuffles: int,
                     seed: int) -> np.ndarray:
    """Mean accuracies (shuffles,) of `decode` with the history labels swapped within a random
    half of the pairs (a fresh half per shuffle): the same features, splits and decoder with
    no history to find. Its 95th percentile is the level the real accuracy must beat. (With
    S pairs there are 2^S swaps; swapping all or none keeps the history decodable, so below
    S ≈ 6 no accuracy can beat the control at that level.)"""
    labels = np.asarray(labels, int)
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(shuffles):
        flip = rng.random(int(groups.max()) + 1) < 0.5
        shuffled = np.where(flip[groups], 1 - labels, labels)
        out.append(float(np.nanmean(decode(features, shuffled, groups, splits=splits,
                                           noise_sd=0.0, seed=seed))))
    return np.asarray(out)


def zero_output_mse(task: Task, seed: int) -> float:
    """The masked mean-squared error of a network whose output is 0 (on epoch 0's batch): what
    a phase's loss is when nothing was learned."""
    batch = batch_for_epoch(task, seed, 0)
    mask = np.asarray(batch.mask)
    return float(np.sum(mask * np.asarray(batch.y) ** 2) / np.sum(mask))


def _decision_probe(params: dict, cohs, dt: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One decision-making trial per coherence (plot noise): x (C, T, 1), target (C, T, 1)."""
    fix, stim, delay, resp = params["dm_times"]
    xs, ys = [], []
    for k, c in enumerate(cohs):
        t = make_task("decision_making", dt=dt, n_in=1, n_out=1, batch_size=1, fixation=fix,
                      stimulus=stim, delay=delay, response=resp, coherences=[float(c)],
                      noise_sd=params["dm_plot_noise"])
        b = batch_for_epoch(t, seed, k)
        xs.append(np.asarray(b.x))
        ys.append(np.asarray(b.y))
    return np.concatenate(xs), np.concatenate(ys)


def _outputs(sigma, x, spec) -> np.ndarray:
    return np.asarray(effective_outputs(jnp.asarray(sigma), jnp.asarray(x), spec))


def compute(params: dict, *, seed: int, progress: bool) -> Outcome:
    """Phases A (flip-flop) and B (decision making) for every start, then C for all 2·starts.

    Returns arrays: starts (S, 4, 4); sigma_ab, sigma_c (2S, 4, 4) after A/B and after C;
    history (2S,) 0 = flip-flop (A), 1 = decision making (B); loss_a, loss_b (S, E+1), loss_c
    (2S, E+1), each its phase's own loss; trajectories traj_ab, traj_c (2S, K, 4, 4) at
    traj_epochs (K,); accuracy_<stage>_<set>_noise<0|1> (splits,); probe outputs of the
    first pair (network 1 = index 0, network 2 = index S): ff_x, ff_target, ff_out (flip-flop
    after A), dm_x, dm_target, dm_out, dm_coherences (decision making after B, training and
    unseen coherences), c_x, c_target, c_out (2, …) (task C, both students after C).
    """
    S = int(params["starts"])
    if S < 2:
        raise ConfigError(f"twins: starts must be ≥ 2 (got {S})")
    dt = float(params["dt"])
    spec = NetworkSpec(N=1000, rank=1, phi="erf", dt=dt)  # N unused in overlap space
    B, E = int(params["batch_size"]), int(params["epochs"])
    ff, dm, task_c = phase_tasks(params)
    teacher = np.asarray(task_c.sigma)
    starts = random_starts(S, seed=seed, cross_sd=params["cross_sd"], low=params["self_low"],
                           high=params["self_high"])
    drop = dict(drop=float(params["eta_drop"]), below=float(params["drop_below"]))
    common = dict(epochs=E, chunk=int(params["chunk"]), progress=progress)
    # A and B are independent: their lane groups learn in parallel, then C's.
    res_a, res_b = run_phases(
        [PhaseRun(starts, ff, PHASE_LOSS["A"], params["eta"], seed + 1, **drop),
         PhaseRun(starts, dm, PHASE_LOSS["B"], params["eta"], seed + 2, **drop)],
        spec, desc="twins A (flip-flop) and B (decision)", **common)
    sig_ab = np.concatenate([res_a.sigma, res_b.sigma])
    res_c = run_phase(PhaseRun(sig_ab, task_c, PHASE_LOSS["C"], params["eta_c"], seed + 3),
                      spec, desc="twins C: teacher", **common)
    sig_c = res_c.sigma
    history = np.r_[np.zeros(S, int), np.ones(S, int)]
    group = np.r_[np.arange(S), np.arange(S)]  # the start each network came from
    names, rows, cols, vis = pair_arrays(spec)
    # Networks that diverged (non-finite, or |σ| > 1e6) in any phase are flagged and left out
    # of the decoding; the others continue.
    blown = np.r_[res_a.diverged, res_b.diverged] | res_c.diverged
    blown |= ~np.all(np.abs(sig_ab) < 1e6, axis=(1, 2)) | ~np.all(np.abs(sig_c) < 1e6, axis=(1, 2))
    keep = ~blown
    stage_sigma = {"start": np.concatenate([starts, starts]), "after_ab": sig_ab,
                   "after_c": sig_c}
    columns = {"visible": vis, "invisible": ~vis, "all": np.ones_like(vis)}
    splits = max(int(params["decode_splits"]), 5 * S)
    noises = (0.0, float(params["decode_noise"]))
    acc = {}
    for stage in STAGES:
        flat = stage_sigma[stage][keep][:, rows, cols]
        for fs in FEATURE_SETS:
            for k, noise in enumerate(noises):
                acc[stage, fs, k] = decode(flat[:, columns[fs]], history[keep], group[keep],
                                           splits=splits, noise_sd=noise, seed=seed + 4)
    arrays = {"starts": starts, "sigma_ab": sig_ab, "sigma_c": sig_c, "history": history,
              "loss_a": res_a.loss, "loss_b": res_b.loss, "loss_c": res_c.loss,
              "traj_ab": np.concatenate([res_a.trajectory, res_b.trajectory]),
              "traj_c": res_c.trajectory, "traj_epochs": res_a.trajectory_epochs,
              "teacher": teacher, "names": names.astype(str), "visible": vis, "rows": rows,
              "cols": cols, "diverged": blown, "dt": np.asarray(dt)}
    for (stage, fs, k), v in acc.items():
        arrays[f"accuracy_{stage}_{fs}_noise{k}"] = v
    # Probe outputs of the first pair (start 0): network 1 (index 0), network 2 (index S).
    probe = seed + 5
    fb = batch_for_epoch(dataclasses.replace(ff, batch_size=1), probe, 0)
    arrays.update(ff_x=np.asarray(fb.x), ff_target=np.asarray(fb.y), ff_mask=np.asarray(fb.mask),
                  ff_out=_outputs(sig_ab[0], fb.x, spec))
    cohs = np.r_[params["dm_coherences"], params["dm_test_coherences"]].astype(float)
    cohs = np.unique(cohs)
    dx, dy = _decision_probe(params, cohs, dt, probe)
    arrays.update(dm_x=dx, dm_target=dy, dm_out=_outputs(sig_ab[S], dx, spec),
                  dm_coherences=cohs,
                  dm_trained=np.isin(cohs, np.asarray(params["dm_coherences"], float)))
    cb = batch_for_epoch(teacher_task(params, 1), probe, 0)
    arrays.update(c_x=np.asarray(cb.x), c_target=np.asarray(cb.y),
                  c_out=np.stack([_outputs(sig_c[0], cb.x, spec), _outputs(sig_c[S], cb.x, spec)]))

    final = {"A": res_a.loss[keep[:S], -1], "B": res_b.loss[keep[S:], -1],
             "C": res_c.loss[keep, -1]}
    median_final = {k: float(np.median(v)) if v.size else float("nan") for k, v in final.items()}
    c_ratio = float(np.median(res_c.loss[keep, -1] / res_c.loss[keep, 0])) if keep.any() else np.nan
    mean = {f"{st}/{fs}/noise_{noises[k]:g}": float(np.mean(v)) for (st, fs, k), v in acc.items()}

    def a(st, fs, k=0):
        return float(np.mean(acc[st, fs, k]))

    # What the checks must beat: the error of a zero output, and the 95th percentile of the
    # accuracy of the same decoder on the same features with the labels shuffled within pairs.
    zero_mse = {"A": zero_output_mse(ff, seed + 1), "B": zero_output_mse(dm, seed + 2)}
    inv_stage = params["invisible_stage"]
    control = {}
    for st, fs in (("after_ab", "all"), (inv_stage, "invisible")):
        flat = stage_sigma[st][keep][:, rows, cols][:, columns[fs]]
        control[st, fs] = shuffled_control(flat, history[keep], group[keep],
                                           splits=min(splits, int(params["control_splits"])),
                                           shuffles=int(params["control_shuffles"]),
                                           seed=seed + 6)

    def beyond_control(st, fs, floor):
        return max(float(floor), float(np.quantile(control[st, fs], 0.95)))

    unit = (0.0, 1.0)
    stage_words = {"after_ab": "after A/B", "after_c": "after C"}
    checks = [
        Check.equals("networks that diverged (any phase; left out of decoding)", int(blown.sum()), 0),
        Check.below("phase A (flip-flop) learned: median final masked MSE",
                    median_final["A"], params["a_learned_below"], null=zero_mse["A"],
                    bounds=(0.0, None)),
        Check.below("phase B (decision making) learned: median final masked MSE",
                    median_final["B"], params["b_learned_below"], null=zero_mse["B"],
                    bounds=(0.0, None)),
        Check.below("task C learned: median final / initial loss", c_ratio,
                    params["c_learned_below"], null=1.0, bounds=(0.0, None)),
        Check.equals("decoding at the start is at chance (all overlaps, no noise)",
                     a("start", "all"), 0.5, 0.1, null=0.5, bounds=unit),
        Check.above("decoding after A/B (all overlaps, no noise), above the shuffled-label "
                    "control", a("after_ab", "all"), beyond_control("after_ab", "all", 0.9),
                    null=float(np.mean(control["after_ab", "all"])), bounds=unit),
        Check.above(f"decoding {stage_words[inv_stage]} from the invisible overlaps (no noise), "
                    "above the shuffled-label control", a(inv_stage, "invisible"),
                    beyond_control(inv_stage, "invisible", params["invisible_above"]),
                    null=float(np.mean(control[inv_stage, "invisible"])), bounds=unit),
    ]
    # Cost ∝ epochs × batch × steps per network (compiled seconds per epoch, timed in this run;
    # T = 400 steps for every phase at the paper's dt = 0.05 and 20 s trials).
    scale = 30000 * 128 / B * 400
    est = (res_a.seconds_per_epoch / ff.n_steps + res_b.seconds_per_epoch / dm.n_steps
           + res_c.seconds_per_epoch / task_c.n_steps) * scale
    cores = available_cores()
    info = {
        "median_final_loss": median_final,
        "zero_output_mse": zero_mse,
        "shuffled_control_accuracy": {
            f"{st}/{fs}": {"mean": float(np.mean(v)), "q95": float(np.quantile(v, 0.95)),
                           "max": float(np.max(v)), "shuffles": len(v),
                           "splits": min(splits, int(params["control_splits"]))}
            for (st, fs), v in control.items()},
        "phase_loss": dict(PHASE_LOSS),
        "decoder_accuracy": {
            st: {fs: {f"noise_{noises[k]:g}": {"mean": float(np.mean(acc[st, fs, k])),
                                                "sd": float(np.std(acc[st, fs, k]))}
                      for k in range(2)} for fs in FEATURE_SETS} for st in STAGES},
        "decoder_accuracy_mean": mean,
        "n_splits": splits,
        "n_visible": int(vis.sum()), "n_invisible": int((~vis).sum()),
        "eta_divided_at_epoch": {
            ph: [int(np.argmax(r.loss[i] < params["drop_below"])) if np.any(
                r.loss[i] < params["drop_below"]) else None for i in range(r.loss.shape[0])]
            for ph, r in (("A", res_a), ("B", res_b))},
        "seconds_per_epoch_one_core": {"A": res_a.seconds_per_epoch,
                                       "B": res_b.seconds_per_epoch,
                                       "C": res_c.seconds_per_epoch},
        "cores": cores,
        "paper_size_estimate_s": {
            "this_many_starts_one_core": est, "per_start_one_core": est / S,
            "this_many_starts_wall": est / cores,
            "formula": "Σ_phase (compiled s/epoch on one core) × 30000 × (128/batch) × (400/T),"
            " same number of starts; wall ≈ that / cores (lane groups and phases A, B run in "
            "parallel, one thread per core)",
        },
        "teacher_sigma": teacher,
        "decoder": "StandardScaler + LogisticRegression; GroupShuffleSplit over starts (test "
                   "0.2, both networks of a start on the same side); noise added to train and "
                   "test overlaps, fresh per split",
    }
    return Outcome(arrays, checks, seeds={"starts": seed, "batches_a": seed + 1,
                                          "batches_b": seed + 2, "batches_c": seed + 3,
                                          "decoder": seed + 4, "probes": seed + 5,
                                          "control": seed + 6}, info=info)


register(Experiment("twins", "History decoding: flip-flop vs decision-making histories read "
                    "from the visible and the invisible overlaps, before and after task C",
                    DEFAULTS, QUICK, compute, draw_twins, validate))
