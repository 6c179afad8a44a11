"""Hostile inputs through the command line, in this process: every case ends in exit 2 and one
line on stderr, "overlapflow: error: ...", that names the real problem; no traceback; nothing
written (no output file, no empty folder).

Files are small and generated in tmp_path: a 0-byte .npz or .npy, a truncated .npz, random
bytes under an array's name, a folder where a file is expected, arrays of 1e300; config keys
that the chosen options ignore; neurogym's durations; refused `run --set` values. Every case
fails while its input is checked, before anything is computed.

The library's learners check their arguments the same way (`_support.validate`): a bad
`epochs`, `eta` or `seed` is a one-line `ConfigError` naming it, before anything is computed.
"""

import re

import jax.numpy as jnp
import numpy as np
import pytest

import overlapflow as of
from overlapflow.cli import main
from overlapflow.internal import learn_batched

SMALL = """\
[network]
N = 20
rank = 1
phi = "linear"
dt = 0.1
{init}
[task]
kind = "impulse_exp"
t_max = 2.0
decay = 0.3
[train]
eta = 0.01
epochs = 5
modes = ["exact"]
{train}
"""

ARRAYS = """\
[network]
N = 20
rank = 1
phi = "linear"
dt = 0.1
[task]
kind = "arrays"
file = "{file}"
[train]
eta = 0.01
epochs = 5
modes = ["exact"]
"""

NEUROGYM = """\
[network]
N = 20
rank = 1
n_in = 3
n_out = 3
phi = "linear"
dt = 0.2
[task]
kind = "neurogym"
env = "PerceptualDecisionMaking-v0"
env_kwargs = {env_kwargs}
pool_size = 8
batch_size = 4
[train]
eta = 0.01
epochs = 5
modes = ["exact"]
"""

#: What the message must say about each kind of bad file (a regular expression).
BAD_FILES = {
    "empty": "empty",
    "truncated": "truncated|not a valid",
    "random": r"not a valid|not an (\.npz/\.npy )?array file",
    "folder": "is a folder",
}


def _npz_bytes(tmp_path) -> bytes:
    path = tmp_path / "good.npz"
    np.savez(path, a=np.arange(1000.0), b=np.ones((30, 30)))
    data = path.read_bytes()
    path.unlink()
    return data


def bad_file(tmp_path, kind: str, suffix: str):
    """A bad file (or folder) called bad<suffix> in tmp_path."""
    path = tmp_path / f"bad{suffix}"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = _npz_bytes(tmp_path)
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "folder":
        path.mkdir()
        (path / "inside.txt").write_text("a folder, not a file")
    else:
        raise ValueError(kind)
    return path


def _tree(folder) -> set:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def refused(capsys, tmp_path, argv, pattern: str, *, absent: str | None = None) -> str:
    """Run `argv`; assert exit 2, one line 'overlapflow: error: ...' matching `pattern`, no
    traceback, and no file or folder added under tmp_path. Returns the line."""
    capsys.readouterr()
    before = _tree(tmp_path)
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("overlapflow: error: "), line
    assert re.search(pattern, line), (pattern, line)
    if absent is not None:
        assert absent not in line, line
    assert _tree(tmp_path) == before, sorted(_tree(tmp_path) - before)
    return line


def small_config(tmp_path, init: str = "", train: str = "", name: str = "cfg.toml"):
    path = tmp_path / name
    path.write_text(SMALL.format(init=init, train=train))
    return path


def observations(tmp_path, epochs=(0, 1, 2), loss=(1.0, 0.9, 0.8), name="obs.npz"):
    path = tmp_path / name
    np.savez(path, epochs=np.asarray(epochs), loss=np.asarray(loss, float))
    return path


# -- bad files in every slot that reads an array file ----------------------------------------

#: slot → (suffix of its file, argv builder (tmp_path, bad path) → argv)
SLOTS = {
    "import": (".npz", lambda t, bad: ["import", bad, "--phi", "linear", "--dt", "0.1", "--out",
                                       t / "net.npz"]),
    "reveal --observed": (".npz", lambda t, bad: [
        "reveal", small_config(t), "--observed", bad, "--out", t / "revealed"]),
    "reveal --truth": (".npy", lambda t, bad: [
        "reveal", small_config(t), "--observed", observations(t), "--truth", bad,
        "--out", t / "revealed"]),
    "[init] vectors": (".npz", lambda t, bad: [
        "compare", small_config(t, init=f'[init]\nvectors = "{bad.name}"'), "--out",
        t / "out"]),
    "[init] sigma": (".npy", lambda t, bad: [
        "compare", small_config(t, init=f'[init]\nsigma = "{bad.name}"'), "--out", t / "out"]),
    "inspect --vectors": (".npz", lambda t, bad: ["inspect", small_config(t), "--vectors", bad]),
    "arrays task": (".npz", lambda t, bad: [
        "compare", _write(t / "cfg.toml", ARRAYS.format(file=bad.name)), "--out", t / "out"]),
}


def _write(path, text):
    path.write_text(text)
    return path


def _file_cases():
    for slot, (suffix, _) in SLOTS.items():
        kinds = ("empty", "truncated", "random", "folder") if suffix == ".npz" else (
            "empty", "random", "folder")
        for kind in kinds:
            yield pytest.param(slot, kind, id=f"{slot}-{kind}{suffix}")


@pytest.mark.parametrize("slot, kind", list(_file_cases()))
def test_bad_array_file_is_one_line(tmp_path, capsys, slot, kind):
    suffix, argv = SLOTS[slot]
    bad = bad_file(tmp_path, kind, suffix)
    args = argv(tmp_path, bad)
    line = refused(capsys, tmp_path, args, BAD_FILES[kind])
    assert "pickle" not in line  # random bytes are not "pickled data"
    if kind == "folder":
        assert "does not exist" not in line


# -- values ----------------------------------------------------------------------------------


def test_import_of_huge_vectors_is_refused(tmp_path, capsys):
    # u, v of 1e300: their overlaps overflow to inf; the import check must not print nan and
    # exit 0.
    rng = np.random.default_rng(0)
    src = tmp_path / "huge.npz"
    np.savez(src, m=rng.standard_normal((20, 1)), u=1e300 * rng.standard_normal((20, 1)),
             v=1e300 * rng.standard_normal((20, 1)), z=rng.standard_normal((20, 1)))
    refused(capsys, tmp_path, ["import", src, "--phi", "linear", "--dt", "0.1", "--out",
                               tmp_path / "net.npz"],
            "finite|overflow|too large", absent="nan")


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_momentum_under_an_optimizer_without_momentum(tmp_path, capsys, optimizer):
    cfg = small_config(tmp_path, train=f'optimizer = "{optimizer}"\nmomentum = 0.5')
    refused(capsys, tmp_path, ["compare", cfg, "--out", tmp_path / "out"], "momentum")


def test_init_seed_beside_vectors(tmp_path, capsys):
    rng = np.random.default_rng(1)
    src = tmp_path / "src.npz"
    np.savez(src, **{k: rng.standard_normal((20, 1)) for k in "muvz"})
    assert main(["import", str(src), "--phi", "linear", "--dt", "0.1", "--out",
                 str(tmp_path / "net.npz")]) == 0
    cfg = small_config(tmp_path, init='[init]\nvectors = "net.npz"\nseed = 3')
    refused(capsys, tmp_path, ["compare", cfg, "--out", tmp_path / "out"], "init.seed")


@pytest.mark.parametrize("what, epochs, loss, pattern", [
    pytest.param("beyond", (0, 10, 100), (1.0, 0.9, 0.8), "epoch", id="epochs-beyond-config"),
    pytest.param("negative", (0, 1, 2), (1.0, -0.5, 0.8), "negative|≥ 0|>= 0", id="negative-loss"),
])
def test_reveal_observations_out_of_range(tmp_path, capsys, what, epochs, loss, pattern):
    obs = observations(tmp_path, epochs, loss)
    refused(capsys, tmp_path, ["reveal", small_config(tmp_path), "--observed", obs, "--out",
                               tmp_path / "revealed"], pattern)


# -- neurogym --------------------------------------------------------------------------------


@pytest.mark.parametrize("env_kwargs, pattern", [
    pytest.param("{dt = 20, timing = {fixation = -100}}", r"timing\.fixation .*-100",
                 id="negative-duration"),
    pytest.param('{dt = 20, timing = {fixation = "long"}}', r"timing\.fixation", id="text-duration"),
    pytest.param("{dt = 0}", r"env_kwargs\.dt .*> 0", id="dt-zero"),
])
def test_neurogym_durations(tmp_path, capsys, env_kwargs, pattern):
    pytest.importorskip("neurogym")
    cfg = _write(tmp_path / "cfg.toml", NEUROGYM.format(env_kwargs=env_kwargs))
    refused(capsys, tmp_path, ["compare", cfg, "--out", tmp_path / "out"], pattern,
            absent="tau_ms")


# -- run --set -------------------------------------------------------------------------------


@pytest.mark.parametrize("name, sets, pattern", [
    pytest.param("forgetting", ["momenta=0.5"], "momenta .*momentum", id="forgetting-momenta"),
    pytest.param("forgetting", ["rules=momentum", "momenta=1.5"], r"momenta must be in \(0, 1\)",
                 id="forgetting-momentum-range"),
    pytest.param("forgetting", ["rules=gd,gd"], "'gd' twice", id="forgetting-rule-twice"),
    pytest.param("fig1", ["modes=bogus"], "'bogus' is not one of", id="fig1-mode"),
    pytest.param("memory", ["variants=bogus"], "'bogus' is not one of", id="memory-variant"),
    pytest.param("memory", ["eta_factors=1"], "one length", id="memory-lengths"),
    pytest.param("adam", ["phase_epochs=1,2"], "one length", id="adam-lengths"),
    pytest.param("twins", ["starts=1"], "starts must be ≥ 2", id="twins-starts"),
    pytest.param("twins", ["dm_times=1,2"], "4 entries", id="twins-dm-times"),
    pytest.param("twins", ["ff_wait=3,1"], "wait_max", id="twins-waits"),
    pytest.param("twins", ["invisible_stage=start"], "invisible_stage must be one of after_ab, "
                 "after_c", id="twins-invisible-stage"),
    pytest.param("degeneracy", ["twin_uu=0.001"], "infeasible", id="degeneracy-infeasible-twin"),
    pytest.param("fig1", ["epochs=many"], "must be like its default", id="fig1-type"),
])
def test_refused_run_set_leaves_no_folder(tmp_path, capsys, name, sets, pattern):
    argv = ["run", name, "--quick", "--no-progress", "--out", tmp_path / "runs"]
    for s in sets:
        argv += ["--set", s]
    refused(capsys, tmp_path, argv, pattern)
    assert not (tmp_path / "runs").exists()


# -- the library's learners ------------------------------------------------------------------


def _learner_calls():
    """(name, call(**overrides)) of each learner on a tiny valid problem (eta=0.01, epochs=2)."""
    spec = of.NetworkSpec(N=10, rank=1, dt=0.1)
    task = of.make_task("impulse_exp", dt=0.1, t_max=1.0, decay=0.3, n_in=1, n_out=1)
    X0 = of.random_vectors(spec, seed=0)
    sigma0 = of.overlaps(X0)
    nodes = of.limit_nodes(sigma0, spec, nodes=3)
    return {
        "train_theta": lambda **kw: of.train_theta(X0, task, spec, **kw),
        "learn_overlaps": lambda **kw: of.learn_overlaps(sigma0, task, spec, **kw),
        "learn_particles": lambda **kw: of.learn_particles(nodes, task, spec, **kw),
        "learn_limit": lambda **kw: of.learn_limit(sigma0, task, spec, nodes=3, **kw),
    }


BAD_LEARNER_ARGS = [
    pytest.param(dict(epochs=-3), r"epochs must be >= [01] \(got -3\)", id="epochs-negative"),
    pytest.param(dict(epochs=2.5), r"epochs must be an integer \(got 2.5\)", id="epochs-float"),
    pytest.param(dict(epochs=True), r"epochs must be an integer \(got True\)", id="epochs-bool"),
    pytest.param(dict(eta=float("nan")), r"eta must be finite \(got nan\)", id="eta-nan"),
    pytest.param(dict(eta=-1), r"eta must be >= 0 \(got -1\)", id="eta-negative"),
    pytest.param(dict(eta="x"), r"eta must be a real number \(got 'x'\)", id="eta-string"),
    pytest.param(dict(seed=-1), r"seed must be >= 0 \(got -1\)", id="seed-negative"),
]


@pytest.mark.parametrize("learner", ["train_theta", "learn_overlaps", "learn_particles",
                                     "learn_limit"])
@pytest.mark.parametrize("bad, pattern", BAD_LEARNER_ARGS)
def test_learner_arguments_are_one_line_config_errors(learner, bad, pattern):
    kwargs = {**dict(eta=0.01, epochs=2, seed=0), **bad}
    with pytest.raises(of.ConfigError, match=pattern) as err:
        _learner_calls()[learner](**kwargs)
    assert "\n" not in str(err.value)


def test_learners_take_numpy_and_jax_scalars():
    for name, call in _learner_calls().items():
        a = call(eta=np.float32(0.01), epochs=np.int64(2), seed=np.int64(1))
        b = call(eta=jnp.asarray(0.01), epochs=2, seed=1)
        assert a.loss.shape == b.loss.shape == (3,), name


@pytest.mark.parametrize("eta, epochs, task_seed, pattern", [
    (np.array([0.01, np.nan]), 2, 0, r"eta must be finite \(got nan at index 1\)"),
    (np.inf, 2, 0, r"eta must be finite \(got inf\)"),
    (0.01, -1, 0, r"epochs must be >= 0 \(got -1\)"),
    (0.01, 2, -1, r"task_seed must be >= 0 \(got -1\)"),
])
def test_batched_runs_check_their_arguments(eta, epochs, task_seed, pattern):
    spec = of.NetworkSpec(N=10, rank=1, dt=0.1)
    task = of.make_task("impulse_exp", dt=0.1, t_max=1.0, decay=0.3, n_in=1, n_out=1)
    sigma0 = np.stack([np.eye(spec.P)] * 2)
    with pytest.raises(of.ConfigError, match=pattern):
        learn_batched.batched_overlap_runs(sigma0, eta, task_seed, spec=spec, task=task,
                                           loss_kind="sum_dt", mode="exact", epochs=epochs)
