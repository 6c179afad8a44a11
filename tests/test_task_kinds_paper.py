"""Paper-defined task details (docs/theory.md §7): flip-flop timing statistics, the `teacher` task,
`target_noise`, and the twins phase losses, each against a direct computation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of
from overlapflow.experiments.twins import (
    DEFAULTS,
    PHASE_LOSS,
    PhaseRun,
    run_phase,
    teacher_sigma,
    teacher_task,
)

TEACHER = {"zm": 0.5, "zu": 2.3, "vm": 2.0, "vu": 1.5, "mu": 1.6, "mm": 1.8, "uu": 2.2}


def _pulse_onsets(x):
    """Onset steps of the pulses in one trial's input (T,)."""
    return np.flatnonzero((x != 0) & np.r_[True, x[:-1] == 0])


def test_flip_flop_twin_statistics_match_the_papers_generator():
    # Twin setting: 20-s trials, dt 0.05, waits 1-2 s: ~5.2 pulses and ~0.33 supervised.
    task = of.make_task("flip_flop", dt=0.05, t_max=20.0, n_in=1, n_out=1, batch_size=4096,
                        wait_min=1.0, wait_max=2.0, amplitude=2.0, target_scale=1.0)
    b = task.sample(jax.random.PRNGKey(0))
    x, mask = np.asarray(b.x[..., 0]), np.asarray(b.mask[..., 0])
    pulses = np.mean([len(_pulse_onsets(row)) for row in x])
    assert abs(pulses - 5.2) < 0.1, pulses
    assert abs(mask.mean() - 0.33) < 0.01, mask.mean()


def test_flip_flop_default_onset_gaps_are_6_5_to_12_5_s():
    task = of.make_task("flip_flop", dt=0.05, t_max=400.0, n_in=1, n_out=1, batch_size=256)
    onsets, _ = task.onsets_and_signs(jax.random.PRNGKey(3))
    gaps = np.diff(np.asarray(onsets), axis=1) * 0.05
    assert gaps.min() == pytest.approx(6.5) and gaps.max() == pytest.approx(12.5)
    # uniform over the range: the mean is its midpoint
    assert abs(gaps.mean() - 9.5) < 0.1


def _erf_effective_outputs(sigma, x, dt):
    """Hand-written rank-1 effective network (order m, u, v, z), erf gain 1/√(1 + πΔ/2)."""
    s = np.asarray(sigma)
    mm, mu, uu = s[0, 0], s[0, 1], s[1, 1]
    vm, vu, zm, zu = s[2, 0], s[2, 1], s[3, 0], s[3, 1]
    B, T, _ = x.shape
    y = np.zeros((B, T, 1))
    for b in range(B):
        ki = kr = 0.0
        for t in range(T):
            g = 1.0 / math.sqrt(1.0 + math.pi / 2 * (mm * ki**2 + 2 * mu * ki * kr + uu * kr**2))
            ki, kr = ki + dt * (x[b, t, 0] - ki), kr + dt * (g * (vm * ki + vu * kr) - kr)
            g = 1.0 / math.sqrt(1.0 + math.pi / 2 * (mm * ki**2 + 2 * mu * ki * kr + uu * kr**2))
            y[b, t, 0] = g * (zm * ki + zu * kr)
    return y


def test_teacher_task_targets_are_the_teachers_outputs_on_scaled_noisy_pulses():
    src = of.make_task("flip_flop", dt=0.05, t_max=6.0, n_in=1, n_out=1, batch_size=3,
                       wait_min=1.0, wait_max=2.0)
    task = of.make_task("teacher", dt=0.05, t_max=6.0, n_in=1, n_out=1, phi="erf",
                        sigma=TEACHER, source=src, noise_sd=1.5, input_scale=2.0)
    key = jax.random.PRNGKey(7)
    b = task.sample(key)
    x = np.asarray(b.x)
    # the input is 2 × the source's pulses + noise of sd 1.5
    k_src, _ = jax.random.split(key)
    pulses = np.asarray(src.sample(k_src).x)
    noise = (x - 2.0 * pulses) / 1.5
    assert abs(noise.std() - 1.0) < 0.1 and abs(noise.mean()) < 0.1
    np.testing.assert_allclose(np.asarray(b.y), _erf_effective_outputs(task.sigma, x, 0.05),
                               rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(np.asarray(b.mask), 1.0)
    # the table's visible overlaps are kept; the invisible ones completed to a PD matrix
    S = np.asarray(task.sigma)
    assert S[3, 0] == 0.5 and S[1, 1] == 2.2 and np.linalg.eigvalsh(S)[0] > 0


def test_teacher_task_rejects_missing_visible_overlaps_and_bad_sources():
    src = {"kind": "flip_flop", "batch_size": 2}
    partial = {k: v for k, v in TEACHER.items() if k != "vu"}
    with pytest.raises(of.ConfigError, match="missing: vu"):
        of.make_task("teacher", dt=0.05, t_max=6.0, n_in=1, n_out=1, phi="erf",
                     sigma=partial, source=src)
    with pytest.raises(of.ConfigError, match="phi"):
        of.make_task("teacher", dt=0.05, t_max=6.0, n_in=1, n_out=1, sigma=TEACHER, source=src)
    with pytest.raises(of.ConfigError, match="source.t_max"):
        of.make_task("teacher", dt=0.05, t_max=6.0, n_in=1, n_out=1, phi="erf", sigma=TEACHER,
                     source={"kind": "flip_flop", "t_max": 3.0})
    with pytest.raises(of.ConfigError, match="positive semi-definite"):
        of.make_task("teacher", dt=0.05, t_max=6.0, n_in=1, n_out=1, phi="erf",
                     sigma=-np.eye(4), source=src)


def test_target_noise_adds_fresh_noise_to_targets_only():
    clean = of.make_task("impulse_exp", dt=0.05, t_max=20.0, n_in=1, n_out=1)
    noisy = of.make_task("impulse_exp", dt=0.05, t_max=20.0, n_in=1, n_out=1, target_noise=0.1)
    assert clean.deterministic and not noisy.deterministic
    b0 = clean.sample()
    draws = [noisy.sample(jax.random.PRNGKey(k)) for k in range(40)]
    for d in draws[:3]:
        np.testing.assert_array_equal(d.x, b0.x)
    residual = np.stack([np.asarray(d.y - b0.y) for d in draws])
    assert abs(residual.std() - 0.1) < 0.005 and abs(residual.mean()) < 0.005
    assert not np.array_equal(residual[0], residual[1])
    # a random task keeps its inputs and noise-free targets
    ff = dict(dt=0.05, t_max=10.0, n_in=1, n_out=1, batch_size=2)
    a = of.make_task("flip_flop", **ff).sample(jax.random.PRNGKey(1))
    b = of.make_task("flip_flop", target_noise=0.2, **ff).sample(jax.random.PRNGKey(1))
    np.testing.assert_array_equal(a.x, b.x)
    assert 0.15 < float(jnp.std(b.y - a.y)) < 0.25
    with pytest.raises(of.ConfigError, match="target_noise"):
        of.make_task("flip_flop", target_noise=-1.0, **ff)


def test_twins_phase_losses_match_a_direct_computation():
    # One epoch's loss from a fixed Σ and batch: A and B masked MSE, C mean × T·dt unmasked.
    params = dict(DEFAULTS, c_t_max=4.0)
    spec = of.NetworkSpec(N=1000, rank=1, phi="erf", dt=0.05)
    sigma = teacher_sigma() * 0.6 + 0.4 * np.eye(4)
    ff = of.make_task("flip_flop", dt=0.05, t_max=4.0, n_in=1, n_out=1, batch_size=3,
                      wait_min=1.0, wait_max=2.0, amplitude=2.0, target_scale=1.0)
    tasks = {"A": ff, "C": teacher_task(params, 3)}
    assert PHASE_LOSS == {"A": "masked_mean", "B": "masked_mean", "C": "mean_t_dt"}
    for phase, task in tasks.items():
        res = run_phase(PhaseRun(sigma[None], task, PHASE_LOSS[phase], 0.01, seed=5), spec,
                        epochs=0, chunk=1, progress=False, desc="")
        b = of.batch_for_epoch(task, 5, 0)
        y = _erf_effective_outputs(sigma, np.asarray(b.x), 0.05)
        err = np.asarray(b.mask) * (y - np.asarray(b.y)) ** 2
        if phase == "A":
            direct = err.sum() / np.asarray(b.mask).sum()
        else:
            assert np.all(np.asarray(b.mask) == 1)
            direct = err.mean() * task.n_steps * 0.05
        assert res.loss[0, 0] == pytest.approx(direct, rel=1e-12), phase


def test_task_and_network_must_share_dt_and_channels():
    # A dt mismatch used to change the loss silently (θ 0.637 vs closed form 0.735).
    spec = of.NetworkSpec(N=20, rank=1, dt=0.05)
    sigma = np.eye(4)
    coarse = of.make_task("impulse_exp", dt=0.1, t_max=2.0, n_in=1, n_out=1)
    with pytest.raises(of.ConfigError, match=r"task.dt = 0.1 but spec.dt = 0.05"):
        of.learn_overlaps(sigma, coarse, spec, mode="exact", eta=0.01, epochs=2)
    with pytest.raises(of.ConfigError, match=r"task.dt = 0.1"):
        of.train_theta(of.random_vectors(spec, seed=0), coarse, spec, eta=0.01, epochs=2)
    two_inputs = of.make_task("impulse_exp", dt=0.05, t_max=2.0, n_in=2, n_out=1)
    with pytest.raises(of.ConfigError, match=r"n_in=2, n_out=1 but the network has n_in=1"):
        of.learn_overlaps(sigma, two_inputs, spec, mode="exact", eta=0.01, epochs=2)
    with pytest.raises(of.ConfigError, match="make_task"):
        of.learn_overlaps(sigma, "impulse_exp", spec, mode="exact", eta=0.01, epochs=2)
