"""Tests of the tasks (`make_task`, `batch_for_epoch`): exact targets, task statistics, keys/epochs, and errors."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from overlapflow import (  # noqa: E402
    TASK_KINDS,
    ConfigError,
    TaskBatch,
    batch_for_epoch,
    make_task,
    task_parameters,
)
from overlapflow.internal import Task  # noqa: E402

DT = 0.05


def _small(kind):
    """A small valid task of each kind (T <= 80 steps)."""
    if kind == "impulse_exp":
        return make_task(kind, dt=DT, t_max=2.0, n_in=2, n_out=3, decay=0.3, amplitude=1.5)
    if kind == "impulse_damped_cos":
        return make_task(kind, dt=DT, t_max=2.0, n_in=1, n_out=2)
    if kind == "noise_filter":
        return make_task(kind, dt=DT, t_max=3.0, n_in=2, n_out=3, batch_size=4)
    if kind == "flip_flop":
        return make_task(
            kind, dt=DT, t_max=4.0, n_in=1, n_out=1, wait_min=1.0, wait_max=2.0, batch_size=3
        )
    if kind == "decision_making":
        return make_task(
            kind, dt=0.1, n_in=1, n_out=1, fixation=0.5, stimulus=2.0, delay=0.5, response=1.0
        )
    if kind == "arrays":
        rng = np.random.default_rng(0)
        return make_task(
            kind, dt=DT, n_in=2, n_out=1, x=rng.normal(size=(3, 7, 2)), y=rng.normal(size=(3, 7, 1))
        )
    if kind == "teacher":
        return make_task(
            kind, dt=DT, t_max=3.0, n_in=2, n_out=1, phi="erf",
            sigma=np.eye(5) + 0.1, source={"kind": "noise_filter", "batch_size": 3},
            noise_sd=0.5, input_scale=2.0,
        )
    raise AssertionError(kind)


# --------------------------------------------------------------------------- generic


# neurogym batches need the optional neurogym package: tests/test_neurogym_task.py.
@pytest.mark.parametrize("kind", [k for k in TASK_KINDS if k != "neurogym"])
def test_shapes_dtype_jit_vmap(kind):
    task = _small(kind)
    assert isinstance(task, Task)
    assert task == _small(kind) and hash(task) == hash(_small(kind))
    key = jax.random.PRNGKey(3)
    batch = task.sample(key)
    assert isinstance(batch, TaskBatch)
    b, t = task.batch_size, task.n_steps
    assert batch.x.shape == (b, t, task.n_in)
    assert batch.y.shape == batch.mask.shape == (b, t, task.n_out)
    assert batch.x.dtype == batch.y.dtype == batch.mask.dtype == jnp.float64
    # the task is a valid static argument of jit; jit reproduces eager sampling (up to
    # last-bit differences of fused transcendental functions)
    jitted = jax.jit(lambda tk, k: tk.sample(k), static_argnums=0)(task, key)
    for a, c in zip(batch, jitted):
        np.testing.assert_allclose(a, c, rtol=1e-14, atol=1e-14)
    # vmap over keys
    keys = jax.random.split(key, 2)
    stacked = jax.vmap(task.sample)(keys)
    assert stacked.x.shape == (2, b, t, task.n_in)
    np.testing.assert_allclose(stacked.y[0], task.sample(keys[0]).y, rtol=1e-14, atol=1e-14)
    # deterministic tasks ignore the key
    other = task.sample(jax.random.PRNGKey(4))
    same = all(np.array_equal(a, c) for a, c in zip(batch, other))
    assert same == task.deterministic


def test_task_kinds_and_parameters():
    assert TASK_KINDS == (
        "impulse_exp",
        "impulse_damped_cos",
        "noise_filter",
        "flip_flop",
        "decision_making",
        "teacher",
        "arrays",
        "neurogym",
    )
    # every kind also takes target_noise, listed after its own parameters
    assert task_parameters("impulse_exp") == {"decay": 0.2, "amplitude": 1.0, "target_noise": 0.0}
    assert task_parameters("flip_flop")["wait_max"] == 10.0
    assert task_parameters("decision_making")["coherences"] == (-16, -8, -4, -2, 2, 4, 8, 16)


# --------------------------------------------------------------------------- impulses


def test_impulse_exp_exact():
    c, amp = 0.3, 1.5
    task = make_task("impulse_exp", dt=DT, t_max=2.0, n_in=2, n_out=3, decay=c, amplitude=amp)
    assert task.deterministic and task.batch_size == 2 and task.n_steps == 40
    batch = task.sample(None)
    x = np.asarray(batch.x)
    expected_x = np.zeros((2, 40, 2))
    expected_x[0, 0, 0] = expected_x[1, 0, 1] = 1 / DT
    np.testing.assert_array_equal(x, expected_x)
    assert x[0, 0, 0] == 20.0
    t = np.arange(40)
    kernel = amp * np.exp(-c * (t + 1) * DT)
    np.testing.assert_allclose(
        batch.y, np.broadcast_to(kernel[None, :, None], (2, 40, 3)), rtol=0, atol=1e-15
    )
    np.testing.assert_array_equal(batch.mask, np.ones((2, 40, 3)))


def test_impulse_exp_paper_defaults():
    # Fig. 1: dt = 0.05, T = 20 (400 steps), target exp(-0.2 t) read after each update
    task = make_task("impulse_exp", dt=0.05, t_max=20.0, n_in=1, n_out=1)
    y = np.asarray(task.sample(None).y[0, :, 0])
    assert y.shape == (400,)
    assert abs(y[0] - np.exp(-0.2 * 0.05)) < 1e-15
    assert abs(y[-1] - np.exp(-0.2 * 20.0)) < 1e-15


def test_impulse_damped_cos_exact():
    task = make_task("impulse_damped_cos", dt=DT, t_max=3.0, n_in=1, n_out=2, decay=0.3, omega=2.0)
    batch = task.sample(None)
    assert batch.x[0, 0, 0] == 1 / DT and np.count_nonzero(batch.x) == 1
    s = (np.arange(60) + 1) * DT
    kernel = np.exp(-0.3 * s) * np.cos(2.0 * s)
    np.testing.assert_allclose(batch.y[0, :, 0], kernel, rtol=0, atol=1e-15)
    np.testing.assert_allclose(batch.y[0, :, 1], kernel, rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- noise filter


def test_noise_filter_matches_numpy_convolution():
    decay, sd = 0.7, 1.3
    task = make_task(
        "noise_filter", dt=DT, t_max=3.0, n_in=2, n_out=3, decay=decay, noise_sd=sd, batch_size=4
    )
    batch = task.sample(jax.random.PRNGKey(0))
    x, y = np.asarray(batch.x), np.asarray(batch.y)
    kernel = DT * np.exp(-decay * np.arange(60) * DT)
    for b in range(4):
        for j in range(3):
            expected = np.convolve(x[b, :, j % 2], kernel)[:60]
            np.testing.assert_allclose(y[b, :, j], expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(batch.mask, np.ones_like(y))
    # white noise of intensity sd^2: per-step variance sd^2/dt (480 samples: 20% tolerance)
    assert abs(x.var() / (sd**2 / DT) - 1) < 0.2
    assert not np.array_equal(x, task.sample(jax.random.PRNGKey(1)).x)


# --------------------------------------------------------------------------- flip-flop


def _onsets_from_input(x_row):
    nz = x_row != 0
    return [t for t in range(len(x_row)) if nz[t] and (t == 0 or not nz[t - 1])]


@pytest.fixture(scope="module")
def flip_flop_case():
    task = make_task("flip_flop", dt=DT, t_max=20.0, n_in=1, n_out=1, wait_min=1.0, wait_max=2.0)
    key = jax.random.PRNGKey(11)
    return task, key, task.sample(key)


def test_flip_flop_structure(flip_flop_case):
    task, key, batch = flip_flop_case
    x, y, mask = (np.asarray(a[..., 0]) for a in batch)
    n_steps, pulse, after = 400, 10, 50  # 20 s, 0.5 s pulses, mask to 2 s after the pulse
    drawn_onsets, drawn_signs = (np.asarray(a) for a in task.onsets_and_signs(key))
    assert drawn_onsets.max(axis=1).min() >= n_steps  # enough pulses drawn to cover T
    all_waits = []
    for b in range(task.batch_size):
        onsets = _onsets_from_input(x[b])
        assert onsets[0] == 10  # first pulse at 0.5 s
        assert onsets == [o for o in drawn_onsets[b] if o < n_steps]
        signs = np.sign(x[b, onsets])
        np.testing.assert_array_equal(signs, drawn_signs[b, : len(onsets)])
        # pulses: ±amplitude for exactly `pulse` steps (the last may be cut by T)
        for o, s in zip(onsets, signs):
            seg = x[b, o : o + pulse]
            np.testing.assert_array_equal(seg, np.full(len(seg), s))
            assert o + pulse >= n_steps or x[b, o + pulse] == 0
        # waits measured from the end of the 2-s window after a pulse to the next onset:
        # 1-2 s = 20-40 steps
        waits = np.diff(onsets) - after
        all_waits.extend(waits)
        # target: 0.5 * sign of the last pulse begun, 0 before the first
        expected_y = np.zeros(n_steps)
        for o, s in zip(onsets, signs):
            expected_y[o:] = 0.5 * s
        np.testing.assert_array_equal(y[b], expected_y)
        # mask: 0 before the first pulse and on [onset-1, onset+after) around each onset
        expected_mask = np.ones(n_steps)
        expected_mask[: onsets[0]] = 0
        for o in onsets:
            expected_mask[o - 1 : o + after] = 0
        np.testing.assert_array_equal(mask[b], expected_mask)
    all_waits = np.array(all_waits)
    assert all_waits.min() >= 20 and all_waits.max() <= 40
    assert len(all_waits) > 30 and all_waits.min() <= 22 and all_waits.max() >= 38
    assert np.all(np.abs(y[mask == 1]) == 0.5)


def test_flip_flop_mask_window_lengths_paper_defaults():
    task = make_task("flip_flop", dt=DT, t_max=20.0, n_in=1, n_out=1, batch_size=4)
    batch = task.sample(jax.random.PRNGKey(5))
    x, mask = np.asarray(batch.x[..., 0]), np.asarray(batch.mask[..., 0])
    for b in range(4):
        onsets = _onsets_from_input(x[b])
        assert onsets[0] == 10
        # waits of 4-10 s (80-200 steps) leave the windows separate: measure each zero run
        zero = mask[b] == 0
        starts = [t for t in range(400) if zero[t] and (t == 0 or not zero[t - 1])]
        ends = [t for t in range(400) if zero[t] and (t == 399 or not zero[t + 1])]
        # before the first pulse, the pulse and the 2-s window after it
        assert starts[0] == 0 and ends[0] == 10 + 50 - 1
        for o, s, e in zip(onsets[1:], starts[1:], ends[1:]):
            assert s == o - 1
            assert e - s + 1 == min(51, 400 - s)
        waits = np.diff(onsets) - 50  # counted from the end of the window
        assert np.all((waits >= 80) & (waits <= 200))


def test_flip_flop_keys_and_epochs(flip_flop_case):
    task, key, batch = flip_flop_case
    again = task.sample(key)
    for a, c in zip(batch, again):
        np.testing.assert_array_equal(a, c)
    e0, e1 = batch_for_epoch(task, 0, 0), batch_for_epoch(task, 0, 1)
    assert not np.array_equal(e0.x, e1.x)
    assert not np.array_equal(batch_for_epoch(task, 1, 0).x, e0.x)
    # jit with a traced epoch (and the task static)
    jitted = jax.jit(batch_for_epoch, static_argnums=(0, 1))
    np.testing.assert_array_equal(jitted(task, 0, jnp.asarray(1)).x, e1.x)
    # vmap over epochs
    many = jax.vmap(lambda e: batch_for_epoch(task, 0, e))(jnp.arange(3))
    np.testing.assert_array_equal(many.mask[1], e1.mask)

    # inside lax.scan over epochs
    def body(carry, epoch):
        return carry + batch_for_epoch(task, 0, epoch).y.sum(), None

    total, _ = jax.lax.scan(body, 0.0, jnp.arange(2))
    np.testing.assert_allclose(total, e0.y.sum() + e1.y.sum(), rtol=1e-14)


# --------------------------------------------------------------------------- decision making


def test_decision_making_statistics_and_targets():
    task = make_task("decision_making", dt=DT, n_in=1, n_out=1, batch_size=64)
    assert task.t_max == 20.0 and task.n_steps == 400
    assert task.period_bounds == (0, 20, 200, 220, 400)
    batch = task.sample(jax.random.PRNGKey(2))
    x, y, mask = (np.asarray(a[..., 0]) for a in batch)
    t = np.arange(400)
    stim, resp = (t >= 20) & (t < 200), t >= 220
    np.testing.assert_array_equal(mask, np.broadcast_to(resp.astype(float), (64, 400)))
    coh = 16 * y[:, 220]
    assert set(np.round(coh, 12)) <= {-16, -8, -4, -2, 2, 4, 8, 16}
    assert len(set(coh)) >= 6  # 64 uniform draws from 8 values
    np.testing.assert_array_equal(y[:, ~resp], 0)
    np.testing.assert_allclose(
        y[:, resp], np.broadcast_to((coh / 16)[:, None], (64, 180)), atol=1e-15
    )
    # stimulus mean coh*3.2/100 from 180 steps of sd 0.04 noise: sd of the mean 0.003,
    # tolerance 0.015 (5 sd); zero mean elsewhere
    np.testing.assert_allclose(x[:, stim].mean(axis=1), coh * 0.032, atol=0.015)
    np.testing.assert_allclose(x[:, ~stim].mean(axis=1), 0, atol=0.015)
    residual = x - (coh * 0.032)[:, None] * stim
    assert abs(residual.std() / 0.04 - 1) < 0.03  # 25600 samples


def test_decision_making_sign_target():
    task = make_task("decision_making", dt=0.1, n_in=1, n_out=1, target="sign", batch_size=16)
    batch = task.sample(jax.random.PRNGKey(0))
    r = np.asarray(batch.y[:, 110:, 0])
    assert set(np.unique(r)) <= {-1.0, 1.0}
    assert np.all(r == r[:, :1])


# --------------------------------------------------------------------------- arrays


def test_arrays_promotion_and_defaults():
    x = np.arange(10.0).reshape(5, 2)
    y = np.linspace(0, 1, 5)[:, None]
    task = make_task("arrays", dt=0.1, n_in=2, n_out=1, x=x, y=y)
    batch = task.sample(None)
    assert task.batch_size == 1 and task.n_steps == 5 and task.t_max == pytest.approx(0.5)
    np.testing.assert_array_equal(batch.x, x[None])
    np.testing.assert_array_equal(batch.y, y[None])
    np.testing.assert_array_equal(batch.mask, np.ones((1, 5, 1)))
    # (T, n_out) mask shared across a (B, T, n) batch; t_max may be given if it matches
    mask = np.array([[0.0], [1.0], [1.0], [0.5], [1.0]])
    task3 = make_task(
        "arrays",
        dt=0.1,
        t_max=0.5,
        n_in=2,
        n_out=1,
        x=np.stack([x, -x]),
        y=np.stack([y, y]),
        mask=mask,
    )
    b3 = task3.sample(None)
    assert b3.x.shape == (2, 5, 2)
    np.testing.assert_array_equal(b3.mask, np.stack([mask, mask]))
    # hashing by content: equal data are equal tasks, different data are not
    same = make_task("arrays", dt=0.1, n_in=2, n_out=1, x=x.copy(), y=y.copy())
    assert same == task and hash(same) == hash(task)
    assert make_task("arrays", dt=0.1, n_in=2, n_out=1, x=x + 1, y=y) != task
    # stored data are an immutable copy
    x[0, 0] = 99.0
    assert task.sample(None).x[0, 0, 0] == 0.0


_X = np.zeros((6, 2))
_Y = np.zeros((6, 1))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"x": np.full((6, 2), np.nan), "y": _Y}, "x contains NaN or inf"),
        ({"x": _X, "y": np.full((6, 1), np.inf)}, "y contains NaN or inf"),
        ({"x": np.zeros((6, 3)), "y": _Y}, "n_in=2"),
        ({"x": _X, "y": np.zeros((6, 2))}, "n_out=1"),
        ({"x": _X, "y": np.zeros((5, 1))}, "x and y must share"),
        ({"x": np.zeros((2, 6, 2)), "y": np.zeros((3, 6, 1))}, "x and y must share"),
        ({"x": np.zeros(6), "y": _Y}, r"x must have shape \(T, n\)"),
        ({"x": np.zeros((1, 1, 6, 2)), "y": _Y}, "x must have shape"),
        ({"x": [["a", "b"]] * 6, "y": _Y}, "x must be a numeric array"),
        ({"x": _X + 0j, "y": _Y}, "x must be real"),
        ({"x": _X, "y": _Y, "mask": np.full((6, 1), 2.0)}, r"mask values must lie in \[0, 1\]"),
        ({"x": _X, "y": _Y, "mask": np.full((6, 1), -0.1)}, r"mask values must lie in \[0, 1\]"),
        ({"x": _X, "y": _Y, "mask": np.zeros((6, 1))}, "mask is zero everywhere"),
        ({"x": _X, "y": _Y, "mask": np.ones((5, 1))}, "mask shape"),
        ({"x": _X, "y": _Y, "mask": np.full((6, 1), np.nan)}, "mask contains NaN"),
        ({"x": _X, "y": _Y, "t_max": 1.0}, "t_max=1.0 gives 10 steps but the arrays have T=6"),
        ({"x": _X}, "both x and y arrays are required"),
        ({"x": np.zeros((0, 2)), "y": np.zeros((0, 1))}, "no time steps"),
    ],
)
def test_arrays_invalid(params, match):
    with pytest.raises(ConfigError, match=match):
        make_task("arrays", dt=0.1, n_in=2, n_out=1, **params)


# --------------------------------------------------------------------------- errors


def test_unknown_kind_lists_kinds():
    with pytest.raises(
        ConfigError, match="unknown task kind 'nope'; valid kinds: impulse_exp, .*arrays"
    ):
        make_task("nope", dt=DT, t_max=1.0, n_in=1, n_out=1)
    with pytest.raises(ConfigError, match="valid kinds"):
        task_parameters("nope")


def test_unknown_parameter_lists_valid_names():
    with pytest.raises(ConfigError, match="unknown parameter.*omega.*valid: decay, amplitude"):
        make_task("impulse_exp", dt=DT, t_max=1.0, n_in=1, n_out=1, omega=0.2)
    with pytest.raises(ConfigError, match="batch_size.*valid: decay, omega, amplitude"):
        make_task("impulse_damped_cos", dt=DT, t_max=1.0, n_in=1, n_out=1, batch_size=3)
    with pytest.raises(ConfigError, match="valid: amplitude, target_scale, pulse_duration"):
        make_task("flip_flop", dt=DT, t_max=20.0, n_in=1, n_out=1, wait=2.0)


_FF = {"kind": "flip_flop", "dt": DT, "t_max": 20.0, "n_in": 1, "n_out": 1}
_DM = {"kind": "decision_making", "dt": DT, "n_in": 1, "n_out": 1}
_IE = {"kind": "impulse_exp", "dt": DT, "t_max": 2.0, "n_in": 1, "n_out": 1}
_NF = {"kind": "noise_filter", "dt": DT, "t_max": 2.0, "n_in": 1, "n_out": 1}


@pytest.mark.parametrize(
    ("base", "changes", "match"),
    [
        (_IE, {"dt": 0.0}, "dt must be > 0"),
        (_IE, {"dt": -0.1}, "dt must be > 0"),
        (_IE, {"dt": float("nan")}, "dt must be finite"),
        (_IE, {"t_max": 0.0}, "t_max must be > 0"),
        (_IE, {"t_max": 0.01}, "shorter than one step"),
        (_IE, {"t_max": None}, "t_max is required"),
        (_IE, {"n_in": 0}, "n_in must be >= 1"),
        (_IE, {"n_out": 1.5}, "n_out must be an integer"),
        (_IE, {"n_in": True}, "n_in must be an integer"),
        (_IE, {"decay": float("inf")}, "decay must be finite"),
        (_IE, {"amplitude": "1"}, "amplitude must be a real number"),
        (_NF, {"batch_size": 0}, "batch_size must be >= 1"),
        (_NF, {"noise_sd": -1.0}, "noise_sd must be >= 0"),
        (_FF, {"n_in": 2}, "needs n_in = n_out = 1"),
        (_FF, {"pulse_duration": 0.0}, "pulse_duration must be > 0"),
        (_FF, {"pulse_duration": 0.01}, "pulse_duration=0.01 is 0 steps"),
        (_FF, {"wait_min": -1.0}, "wait_min must be > 0"),
        (_FF, {"wait_min": 3.0, "wait_max": 2.0}, "wait_max=2.0 must be >= wait_min=3.0"),
        (_FF, {"mask_after": -1.0}, "mask_after must be >= 0"),
        (_FF, {"first_pulse": 25.0}, "first_pulse=25.0 must come before t_max"),
        (_FF, {"t_max": 2.0}, "mask is zero everywhere"),
        (_FF, {"batch_size": -2}, "batch_size must be >= 1"),
        (
            _DM,
            {"t_max": 19.0},
            "t_max=19.0 is shorter than fixation\\+stimulus\\+delay\\+response=20.0",
        ),
        (_DM, {"n_out": 2}, "needs n_in = n_out = 1"),
        (_DM, {"stimulus": 0.0}, "stimulus must be > 0"),
        (_DM, {"response": -1.0}, "response must be > 0"),
        (_DM, {"fixation": -1.0}, "fixation must be >= 0"),
        (_DM, {"coherences": ()}, "coherences must not be empty"),
        (_DM, {"coherences": (1.0, float("nan"))}, "coherences entry must be finite"),
        (_DM, {"coherences": 3.0}, "coherences must be a sequence"),
        (_DM, {"target": "binary"}, "target must be 'continuous' or 'sign'"),
    ],
)
def test_invalid_parameters(base, changes, match):
    params = {**base, **changes}
    kind = params.pop("kind")
    with pytest.raises(ConfigError, match=match) as info:
        make_task(kind, **params)
    assert "\n" not in str(info.value)


def test_random_task_needs_key_and_batch_for_epoch_checks():
    task = _small("noise_filter")
    with pytest.raises(ConfigError, match="needs a PRNG key"):
        task.sample(None)
    with pytest.raises(ConfigError, match="expected a Task"):
        batch_for_epoch("flip_flop", 0, 0)
    with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
        batch_for_epoch(task, -1, 0)
