"""Hyper-parameters are data: new values of η, of a learning rule's numbers (momentum, weight
decay, clip, temperature, lr_scale), of Adam's ε and of the epoch count never compile again
(docs/theory.md §9). Every JAX trace and XLA compilation is counted through `jax.monitoring`;
a second call with new numbers must cause none. Each result is also checked against an
independent float64 computation, so that a stale, baked-in number would fail too."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of
from overlapflow import LearningRule, learn_overlaps, learn_particles, run_sweep, train_theta
from overlapflow.internal import learn_batched

_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/backend_compile_duration")


@contextlib.contextmanager
def compilations():
    """Count the traces and compilations of JAX inside the block: `with compilations() as n`
    then `n[0]`."""
    count = [0]

    def listener(event, duration, **kwargs):
        if event in _EVENTS:
            count[0] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield count
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


SPEC = of.NetworkSpec(N=16, rank=1, dt=0.1)
TASK = of.make_task("impulse_exp", dt=0.1, t_max=2.0, n_in=1, n_out=1, decay=0.3)
X0 = of.random_vectors(SPEC, seed=1)
SIGMA0 = np.asarray(X0.T @ X0 / SPEC.N)

# Pairs of rules of one structure whose numbers differ.
PAIRS = {
    "momentum": (LearningRule(optimizer="momentum", momentum=0.5),
                 LearningRule(optimizer="momentum", momentum=0.8)),
    "weight_decay": (LearningRule(weight_decay=0.1), LearningRule(weight_decay=0.4)),
    "weight_decay_from_0": (LearningRule(optimizer="colnorm", weight_decay=0.0),
                            LearningRule(optimizer="colnorm", weight_decay=0.2)),
    "clip": (LearningRule(clip_norm=0.5), LearningRule(clip_norm=2.0)),
    "temperature": (LearningRule(noise_temperature=1e-3, noise_seed=1),
                    LearningRule(noise_temperature=3e-3, noise_seed=2)),
    "lr_scale": (LearningRule(lr_scale={"u": 0.5, "v": 0.0}),
                 LearningRule(lr_scale={"u": 2.0, "v": 0.0})),
}


@pytest.mark.parametrize("name", list(PAIRS))
def test_theta_learner_compiles_once_for_rule_numbers(name):
    first, second = PAIRS[name]
    kw = dict(eta=2e-2, epochs=20, seed=0)
    a = train_theta(X0, TASK, SPEC, rule=first, **kw)
    with compilations() as n:
        b = train_theta(X0, TASK, SPEC, rule=second, **{**kw, "eta": 3e-2})
    assert n[0] == 0, f"{name}: {n[0]} traces/compilations for new numbers"
    assert np.max(np.abs(a.loss - b.loss)) > 1e-8  # the new numbers were used
    if name != "temperature":  # the exact map of the second rule: independent, float64
        ref = learn_overlaps(SIGMA0, TASK, SPEC, rule=second, eta=3e-2, epochs=20)
        np.testing.assert_allclose(b.sigma, ref.sigma, rtol=0, atol=1e-10)
    else:  # the same rule on its own (compiled for it) gives the same numbers, bit for bit
        alone = train_theta(X0, TASK, SPEC, rule=second, **{**kw, "eta": 3e-2})
        np.testing.assert_array_equal(b.sigma, alone.sigma)


@pytest.mark.parametrize("name", list(PAIRS))
def test_overlap_learner_compiles_once_for_rule_numbers(name):
    first, second = PAIRS[name]
    learn_overlaps(SIGMA0, TASK, SPEC, rule=first, eta=2e-2, epochs=20)
    with compilations() as n:
        b = learn_overlaps(SIGMA0, TASK, SPEC, rule=second, eta=3e-2, epochs=20)
    assert n[0] == 0, f"{name}: {n[0]} traces/compilations for new numbers"
    # the second rule's exact map, step by step with its numbers as Python constants
    scales = second.column_scales(SPEC)
    state = of.initial_rule_state(jnp.asarray(SIGMA0), second)
    for e in range(20):
        sig = state[: SPEC.P, : SPEC.P]
        loss, S = of.overlap_gradient(sig, of.batch_for_epoch(TASK, 0, e), SPEC, "sum_dt")
        np.testing.assert_allclose(b.sigma[e], np.asarray(sig), rtol=1e-10, atol=1e-12)
        state = of.rule_exact_step(state, S, 3e-2, second, scales)


def test_epoch_counts_compile_once():
    rule = LearningRule(optimizer="momentum", momentum=0.7, weight_decay=0.1)
    train_theta(X0, TASK, SPEC, rule=rule, eta=2e-2, epochs=10)
    learn_overlaps(SIGMA0, TASK, SPEC, rule=rule, eta=2e-2, epochs=100)
    with compilations() as n:
        short = train_theta(X0, TASK, SPEC, rule=rule, eta=2e-2, epochs=23)
        long = learn_overlaps(SIGMA0, TASK, SPEC, rule=rule, eta=2e-2, epochs=137)
    assert n[0] == 0, f"{n[0]} traces/compilations for new epoch counts"
    assert short.loss.shape == (24,) and long.loss.shape == (138,)
    np.testing.assert_allclose(short.sigma, long.sigma[:24], rtol=0, atol=1e-11)
    # the batched engine: one program for every number of epochs
    batched = learn_batched.batched_overlap_runs
    kw = dict(spec=SPEC, task=TASK, loss_kind="sum_dt", mode="exact", threads=1)
    batched(SIGMA0[None], 2e-2, 0, epochs=50, **kw)
    with compilations() as n:
        loss, sigma, _ = batched(SIGMA0[None], 2e-2, 0, epochs=300, **kw)
    assert n[0] == 0
    plain = learn_overlaps(SIGMA0, TASK, SPEC, eta=2e-2, epochs=300)
    np.testing.assert_allclose(loss[:, 0], plain.loss, rtol=1e-12)


def test_adam_eps_of_every_N_compiles_once():
    # θ-space Adam at another N has other shapes (X is N × P) and compiles for them; the node
    # engine at a fixed node count takes ε = 1e-8·N as a traced number: one program.
    nodes = of.limit_nodes(SIGMA0, SPEC, nodes=5)
    kw = dict(optimizer="adam", eta=1e-2, epochs=6)
    learn_particles(nodes, TASK, SPEC, adam_eps=1e-8 * 100, **kw)
    with compilations() as n:
        big = learn_particles(nodes, TASK, SPEC, adam_eps=1e-8 * 1e6, **kw)
    assert n[0] == 0, f"{n[0]} traces/compilations for a new adam_eps"
    huge = learn_particles(nodes, TASK, SPEC, adam_eps=1e3, **kw)
    # ε ≫ the gradient: Adam's step is η·m̂/ε, visibly smaller than at ε = 1e-2
    moved = [np.max(np.abs(r.sigma[-1] - r.sigma[0])) for r in (big, huge)]
    assert moved[1] < 1e-2 * moved[0]


def test_linearise_exact_map_compiles_once():
    rule_a, rule_b = LearningRule(weight_decay=0.3), LearningRule(weight_decay=0.7)
    of.linearise_exact_map(SIGMA0, TASK, SPEC, rule=rule_a, eta=1e-2)
    state = SIGMA0 + 0.01 * np.eye(SPEC.P)
    with compilations() as n:
        lin = of.linearise_exact_map(state, TASK, SPEC, rule=rule_b, eta=2e-2)
    assert n[0] == 0
    # finite differences of the exact map (float64, central, on each distinct entry)
    iu = np.triu_indices(SPEC.P)
    scales = rule_b.column_scales(SPEC)

    def F(coords):
        M = np.zeros((SPEC.P, SPEC.P))
        M[iu] = coords
        M = M + np.triu(M, 1).T
        _, S = of.overlap_gradient(jnp.asarray(M), of.batch_for_epoch(TASK, 0, 0), SPEC, "sum_dt")
        return np.asarray(of.rule_exact_step(jnp.asarray(M), S, 2e-2, rule_b, scales))[iu]

    h = 1e-6
    fd = np.stack([(F(state[iu] + h * e) - F(state[iu] - h * e)) / (2 * h)
                   for e in np.eye(iu[0].size)], axis=1)
    np.testing.assert_allclose(lin.jacobian, fd, rtol=0, atol=1e-7)


CONFIG = """
[network]
N = 16
rank = 1
dt = 0.1
[init]
seed = 0
[task]
kind = "impulse_exp"
t_max = 2.0
decay = 0.3
[loss]
kind = "sum_dt"
[train]
eta = 2e-2
epochs = 40
"""


def test_sweep_over_weight_decays_is_one_program(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    kw = dict(seeds=range(3), modes=("exact",), progress=False)
    first = run_sweep(path, tmp_path / "a", grid=["train.weight_decay=0,1e-3,1e-1"], **kw)
    assert first.complete and len(first.ran) == 3
    cache = learn_batched.batched_chunk._cache_size()
    with compilations() as n:
        second = run_sweep(path, tmp_path / "b", grid=["train.weight_decay=2e-3,5e-2,0.3"],
                           **kw)
    assert second.complete and n[0] == 0, f"{n[0]} traces/compilations for new decays"
    assert learn_batched.batched_chunk._cache_size() == cache
    with np.load(tmp_path / "b" / "runs.npz") as f:
        loss, keys, seeds = f["loss_exact"], f["grid_values"][:, 0], f["seed"]
    cfg = of.load_config(path)
    for row, (lam, seed) in enumerate(zip(keys, seeds)):
        X = of.random_vectors(cfg.network, seed=int(seed))
        ref = learn_overlaps(X.T @ X / cfg.network.N, cfg.task, cfg.network, eta=2e-2,
                             epochs=40, rule=LearningRule(weight_decay=float(lam)))
        np.testing.assert_allclose(loss[row], ref.loss, rtol=1e-12, atol=0)
    finals = {k: loss[keys == k, -1] for k in set(keys)}
    assert len({round(float(v[0]), 12) for v in finals.values()}) == 3  # decay matters


RULE_LANES = [
    [LearningRule(optimizer="momentum", momentum=m, weight_decay=w) for m, w in
     ((0.5, 0.0), (0.8, 0.2), (0.3, 0.05))],
    [LearningRule(optimizer="nesterov", momentum=m, clip_norm=c) for m, c in
     ((0.5, 0.3), (0.7, 5.0), (0.2, 1.0))],
    [LearningRule(optimizer="colnorm", lr_scale={"u": s, "v": 0.0}, weight_decay=w) for s, w in
     ((0.5, 0.1), (2.0, 0.0), (1.0, 0.3))],
    [LearningRule(noise_temperature=t, clip_norm=c, lr_scale={"m": s}) for t, c, s in
     ((1e-3, 0.5, 1.0), (4e-3, 2.0, 0.5), (2e-3, 1.0, 3.0))],
]


@pytest.mark.parametrize("k", range(len(RULE_LANES)))
def test_batched_engine_runs_a_rule_per_lane_like_single_runs(k):
    rules = RULE_LANES[k]
    etas = np.array([2e-2, 3e-2, 1e-2])
    sig0 = np.stack([SIGMA0, SIGMA0 + 0.1 * np.eye(SPEC.P), 0.8 * SIGMA0])
    modes = ("exact",) if rules[0].optimizer in ("momentum", "nesterov") else ("exact", "euler")
    for mode in modes:
        kw = dict(spec=SPEC, task=TASK, loss_kind="sum_dt", mode=mode, epochs=30, threads=1)
        lanes = jax.tree_util.tree_map(lambda *xs: np.asarray(xs), *rules)  # leaves (3,)
        loss, sigma, bad = learn_batched.batched_overlap_runs(sig0, etas, 0, rule=lanes, **kw)
        assert not bad.any()
        for i, rule in enumerate(rules):
            ref = learn_overlaps(sig0[i], TASK, SPEC, rule=rule, eta=etas[i], epochs=30,
                                 mode=mode)
            np.testing.assert_allclose(loss[:, i], ref.loss, rtol=1e-11, atol=0)
            np.testing.assert_allclose(sigma[..., i], ref.sigma, rtol=0, atol=1e-11)
        assert np.ptp(loss[-1]) > 1e-6  # the lanes' numbers differ and were used
