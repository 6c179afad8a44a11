"""Task kind "neurogym" (docs/theory.md §11): batches from a neurogym environment, drawn on the
host into a pool, chosen per epoch from the run's seed."""

import warnings

import jax
import numpy as np
import pytest

import overlapflow as of
from overlapflow import ConfigError, NeurogymTask, batch_for_epoch

neurogym = pytest.importorskip("neurogym")

ENV = "PerceptualDecisionMaking-v0"


def _task(**kw):
    args = dict(dt=0.2, n_in=3, n_out=3, env=ENV, env_kwargs={"dt": 20}, batch_size=6,
                pool_size=24, pool_seed=5)
    args.update(kw)
    return NeurogymTask(**args)


def _env_trials(n, seed, **kwargs):
    """n trials drawn from the environment itself: (ob, gt, start_ind, end_ind)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = neurogym.make(ENV, **kwargs).unwrapped
    env.seed(seed)
    out = []
    for _ in range(n):
        env.new_trial()
        out.append((env.ob.copy(), env.gt.copy(), dict(env.start_ind), dict(env.end_ind)))
    return out


def test_pool_is_the_environments_trials_with_one_hot_targets_and_decision_mask():
    task = _task()
    # one trial of 2.2 s at dt = 20 ms: T = 110 steps; t_max in units of τ = 100 ms
    assert task.n_steps == 110 and task.t_max == pytest.approx(22.0)
    assert task.pool_x.shape == (24, 110, 3) and task.pool_y.shape == task.pool_mask.shape == (24, 110, 3)
    assert task.pool_bytes == 3 * 24 * 110 * 3 * 8
    for s, (ob, gt, start, end) in enumerate(_env_trials(24, 5, dt=20)):
        np.testing.assert_array_equal(task.pool_x[s], ob.astype(np.float64))
        np.testing.assert_array_equal(task.pool_y[s], np.eye(3)[gt])
        decision = np.zeros(110)
        decision[start["decision"]:end["decision"]] = 1.0
        np.testing.assert_array_equal(task.pool_mask[s], np.repeat(decision[:, None], 3, axis=1))
    assert task.pool_mask.sum() == 24 * 5 * 3  # the decision period: 100 ms = 5 steps
    full = _task(mask_periods="all", pool_size=6)
    assert np.all(full.pool_mask == 1.0)


def test_batches_are_determined_by_the_seed_and_the_epoch():
    task = _task()
    b = batch_for_epoch(task, 3, 7)
    assert b.x.shape == (6, 110, 3) and b.y.shape == b.mask.shape == (6, 110, 3)
    # every row of the batch is a distinct sequence of the pool
    rows = [int(np.flatnonzero([np.array_equal(np.asarray(b.x[i]), p) for p in task.pool_x])[0])
            for i in range(6)]
    assert len(set(rows)) == 6
    np.testing.assert_array_equal(np.asarray(b.y), task.pool_y[rows])
    again = batch_for_epoch(_task(), 3, 7)  # a new task from the same seed: the same batch
    for u, v in zip(b, again):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    other_epoch = batch_for_epoch(task, 3, 8)
    assert not np.array_equal(np.asarray(other_epoch.x), np.asarray(b.x))
    other_pool = _task(pool_seed=6)
    assert not np.array_equal(other_pool.pool_x, task.pool_x)
    # traced inside jit with a traced epoch, as the training loops call it
    traced = jax.jit(lambda e: batch_for_epoch(task, 3, e))(7)
    np.testing.assert_array_equal(np.asarray(traced.x), np.asarray(b.x))


def test_theta_and_overlap_runs_see_the_same_batches():
    # Linear network: the exact overlap map equals θ-space GD only if both see the same batch
    # at every epoch (docs/theory.md §4.2).
    task = _task(batch_size=4, pool_size=8)
    spec = of.NetworkSpec(N=40, rank=1, n_in=3, n_out=3, phi="linear", dt=0.2)
    X0 = of.random_vectors(spec, seed=1)
    kw = dict(eta=2e-3, epochs=4, loss="masked_mean", seed=11)
    theta = of.train_theta(X0, task, spec, **kw)
    exact = of.learn_overlaps(of.overlaps(X0), task, spec, mode="exact", **kw)
    assert float(np.max(np.abs(np.asarray(theta.sigma) - np.asarray(exact.sigma)))) <= 1e-10
    assert float(np.max(np.abs(np.diff(np.asarray(theta.sigma), axis=0)))) > 1e-6  # it learned
    shifted = of.learn_overlaps(of.overlaps(X0), task, spec, mode="exact", **{**kw, "seed": 12})
    assert float(np.max(np.abs(np.asarray(shifted.sigma) - np.asarray(exact.sigma)))) > 1e-8


def test_continuous_targets_and_variable_trial_lengths():
    with pytest.raises(ConfigError, match="vary in length .*give t_max"):
        NeurogymTask(dt=1.0, n_in=2, n_out=2, env="ReachingDelayResponse-v0", pool_size=4,
                     batch_size=2, mask_periods="all")
    task = NeurogymTask(dt=1.0, t_max=40.0, n_in=2, n_out=2, env="ReachingDelayResponse-v0",
                        pool_size=4, batch_size=2, mask_periods="all", pool_seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = neurogym.make("ReachingDelayResponse-v0").unwrapped
    env.seed(2)
    env.new_trial()
    L = env.ob.shape[0]
    np.testing.assert_array_equal(task.pool_y[0, :L], env.gt.astype(np.float64))
    env.new_trial()  # the sequence goes on with the next trial
    L2 = min(env.ob.shape[0], 40 - L)
    np.testing.assert_array_equal(task.pool_x[0, L:L + L2], env.ob[:L2].astype(np.float64))


def test_bad_parameters_are_refused_in_one_line():
    cases = [
        (dict(dt=0.1), "dt = 20 ms, which with tau_ms = 100 is dt = 0.2 .* network has dt = 0.1"),
        (dict(n_in=1, n_out=1), "3 observation channels and 3 actions; .* set \\[network\\] n_in = 3"),
        (dict(mask_periods=["choice"]), "no period 'choice'; its periods: fixation, stimulus"),
        (dict(pool_size=4), "pool_size = 4 must be ≥ batch_size = 6"),
        (dict(env="NoSuchEnv-v0"), "cannot make 'NoSuchEnv-v0'"),
        (dict(env="Bandit-v0", n_in=1, n_out=2), "no supervised trials"),
        (dict(tau_ms=-1.0), "tau_ms must be > 0"),
        # neurogym itself takes these and fails later (ZeroDivisionError) or draws nonsense
        (dict(env_kwargs={"dt": 0}), r"env_kwargs.dt \(the environment's step, in ms\) must be "
                                     "a number > 0, got 0"),
        (dict(env_kwargs={"dt": -20}), "env_kwargs.dt .* must be a number > 0, got -20"),
        (dict(env_kwargs={"dt": 20, "timing": {"fixation": -100}}),
         "env_kwargs.timing.fixation must be a duration in ms ≥ 0.*got -100$"),
        (dict(env_kwargs={"dt": 20, "timing": {"fixation": "long"}}),
         "env_kwargs.timing.fixation must be a duration.*got 'long'$"),
        (dict(env_kwargs={"dt": 20, "timing": {"delay": ["uniform", [100, -5]]}}),
         "env_kwargs.timing.delay must be a duration"),
        (dict(env_kwargs={"dt": 20, "timing": {"delay": ["gamma", [1, 2]]}}),
         "env_kwargs.timing.delay must be a duration"),
        (dict(env_kwargs={"dt": 20, "timing": 100}), "env_kwargs.timing must be a table"),
        (dict(env_kwargs={"dt": 20, "timing": {"stimulus": ["until", 1]}}),
         "cannot draw a trial with these env_kwargs: ValueError"),
    ]
    for kw, _ in cases[-8:]:  # no word of tau_ms where dt or timing is wrong
        with pytest.raises(ConfigError) as info:
            _task(**kw)
        assert "tau_ms" not in str(info.value)
    for kw, match in cases:
        with pytest.raises(ConfigError, match=match) as info:
            _task(**kw)
        assert "\n" not in str(info.value)
