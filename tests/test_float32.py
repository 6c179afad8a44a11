"""The float32 tier: the advertised float32 paths run with JAX's 64-bit mode off.

The suite's conftest turns the 64-bit mode on in this process, so one subprocess (mode off, as
after a plain `import overlapflow`) runs every float32 path and every float64-only path and
prints JSON; the float64 references are computed here. Float32 results must be float32 and
agree with float64 to FLOAT32_RTOL of the reference's scale: float32 rounding over these 60
epochs leaves at most 2e-6 (measured, every path), the tolerance a factor 10 above it, while
the modes differ from one another by 1e-2 and more (euler against exact: 9e-3).
"""

import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of

FLOAT32_RTOL = 2e-5
EPOCHS = 60
ETA = 0.02
MODES = ("exact", "euler", "direct", "flow")

SCRIPT = r"""
import json
import jax, jax.numpy as jnp, numpy as np
import overlapflow as of
from overlapflow.internal import fisher_information

assert not jax.config.jax_enable_x64, "the 64-bit mode is on"
spec = of.NetworkSpec(N=30, rank=1, dt=0.05)
task = of.make_task("impulse_exp", dt=0.05, t_max=2.0, n_in=1, n_out=1, decay=0.3)
X0 = np.random.default_rng(0).standard_normal((spec.N, spec.P))
sigma0 = X0.T @ X0 / spec.N
f32 = jnp.float32
out = {"runs": {}, "errors": {}}

def keep(name, run):
    out["runs"][name] = {
        "dtypes": [str(run.loss.dtype), str(run.sigma.dtype)]
                  + sorted({str(a.dtype) for a in jax.tree_util.tree_leaves(run.state)
                            if jnp.issubdtype(a.dtype, jnp.floating)}),
        "loss": run.loss.tolist(), "sigma": run.sigma.tolist(),
        "diverged_at": run.diverged_at, "solver_failed_at": run.solver_failed_at}

for mode in %(modes)r:
    keep(mode, of.learn_overlaps(sigma0, task, spec, mode=mode, eta=%(eta)r, epochs=%(epochs)d,
                                 dtype=f32))
keep("theta", of.train_theta(X0, task, spec, eta=%(eta)r, epochs=%(epochs)d, dtype=f32))
keep("limit", of.learn_limit(sigma0, task, spec, eta=%(eta)r, epochs=%(epochs)d, nodes=3,
                             check=False, dtype=f32))

def error(name, call):
    try:
        call()
    except of.ConfigError as exc:
        out["errors"][name] = str(exc)
    else:
        out["errors"][name] = None

error("learn_overlaps", lambda: of.learn_overlaps(sigma0, task, spec, eta=0.01, epochs=2))
error("train_theta", lambda: of.train_theta(X0, task, spec, eta=0.01, epochs=2))
error("random_vectors", lambda: of.random_vectors(spec, seed=0))
error("realise_vectors", lambda: of.realise_vectors(sigma0, spec.N, seed=0))
error("visible_mask", lambda: of.visible_mask(spec))
error("sample_nodes", lambda: of.sample_nodes(sigma0, spec, 8, seed=0))
error("fisher_information", lambda: fisher_information(
    lambda s, n: s[None, :1, 0], sigma0, np.ones((1, 1))))
print("JSON" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def float32_run():
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env.setdefault("JAX_PLATFORMS", "cpu")
    code = SCRIPT % {"modes": MODES, "eta": ETA, "epochs": EPOCHS}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")][-1]
    return json.loads(line[4:])


def _setup():
    spec = of.NetworkSpec(N=30, rank=1, dt=0.05)
    task = of.make_task("impulse_exp", dt=0.05, t_max=2.0, n_in=1, n_out=1, decay=0.3)
    X0 = np.random.default_rng(0).standard_normal((spec.N, spec.P))
    return spec, task, X0, X0.T @ X0 / spec.N


def _close(got, ref, what):
    got, ref = np.asarray(got, float), np.asarray(ref, float)
    assert got.shape == ref.shape and np.all(np.isfinite(got)), what
    err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
    assert err <= FLOAT32_RTOL, (what, err)
    return err


def test_float32_paths_give_float32_close_to_float64(float32_run):
    spec, task, X0, sigma0 = _setup()
    refs = {m: of.learn_overlaps(sigma0, task, spec, mode=m, eta=ETA, epochs=EPOCHS)
            for m in MODES}
    refs["theta"] = of.train_theta(X0, task, spec, eta=ETA, epochs=EPOCHS)
    refs["limit"] = of.learn_limit(sigma0, task, spec, eta=ETA, epochs=EPOCHS, nodes=3,
                                   check=False)
    errs = []
    for name, ref in refs.items():
        got = float32_run["runs"][name]
        assert set(got["dtypes"]) == {"float32"}, (name, got["dtypes"])
        assert got["diverged_at"] is None and got["solver_failed_at"] is None, name
        assert ref.loss[-1] < 0.9 * ref.loss[0], name  # learning happened
        errs.append(_close(got["loss"], ref.loss, f"{name} loss"))
        errs.append(_close(got["sigma"], ref.sigma, f"{name} sigma"))
    # float32 rounding is visible: the comparison is not float64 against itself
    assert max(errs) > 1e-8


def test_float64_only_paths_raise_one_line_naming_enable_float64(float32_run):
    errors = float32_run["errors"]
    for where, message in errors.items():
        assert message is not None, f"{where} computed with the 64-bit mode off"
        assert "\n" not in message
        assert message.startswith(f"{where}: float64 needs JAX's 64-bit mode, which is off")
        assert "of.enable_float64()" in message
    # where a dtype argument exists, the message offers float32
    assert errors["learn_overlaps"].endswith("or pass dtype=jnp.float32")
    assert not errors["visible_mask"].endswith("dtype=jnp.float32")


def test_compare_with_dtype_float32_as_the_command_line_runs_it():
    # The command line turns the 64-bit mode on and computes in the config's dtype.
    tables = {
        "network": {"N": 30, "rank": 1, "dt": 0.05},
        "init": {"seed": 2},
        "task": {"kind": "impulse_exp", "t_max": 2.0, "decay": 0.3},
        "train": {"eta": ETA, "epochs": 40, "modes": ["theta", "exact"]},
    }
    runs = {}
    for dtype in ("float32", "float64"):
        tables["train"]["dtype"] = dtype
        runs[dtype] = of.run_comparison(of.config_from_dict(tables), progress=False).runs
    for mode in ("theta", "exact"):
        r32, r64 = runs["float32"][mode], runs["float64"][mode]
        assert r32.loss.dtype == np.float32 and r32.sigma.dtype == np.float32
        assert r64.loss.dtype == np.float64
        _close(r32.loss, r64.loss, f"{mode} loss")
        _close(r32.sigma, r64.sigma, f"{mode} sigma")
    assert jnp.asarray(runs["float32"]["exact"].state).dtype == jnp.float32
