"""Shared machinery of the paper's experiments (docs/theory.md §5–§7): registry, checks, result files.

An `Experiment` couples a pure computation (`compute(params, seed, progress) -> Outcome`)
with a draw-only figure function (`draw(outcome, folder) -> [file names]`). `run_experiment`
resolves parameters (paper defaults or `--quick`, plus overrides), times the computation and
writes DIR/NAME/results.npz, DIR/NAME/summary.json and the figures, atomically.

Longer than 400 lines on purpose: the experiment registry, `Outcome`/`Check`, parameter
resolution and result writing are the one contract every experiment module relies on.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from .. import (
    ConfigError,
    NetworkSpec,
    learn_overlaps,
    make_task,
    overlap_names,
    overlap_pairs,
    overlaps,
    random_vectors,
    task_parameters,
    train_theta,
    visible_mask,
)
from ..internal import (
    count,
    curve_diff,
    exact_rel_diff,
    integer,
    interruption_text,
    max_rel_diff,
    nonnegative,
    positive,
    real,
    write_json_atomic,
    write_npz_atomic,
)
from ..internal import gaussianity as _gaussianity

__all__ = [
    "Check",
    "Outcome",
    "Experiment",
    "REGISTRY",
    "register",
    "get_experiment",
    "keep",
    "check_choices",
    "check_lengths",
    "resolve_params",
    "run_experiment",
    "redraw_experiment",
    "write_outcome",
    "impulse_task",
    "pair_arrays",
    "theta_and_mode_runs",
    "theta_vs_mode_checks",
    "max_rel_diff",
    "curve_diff",
    "exact_rel_diff",
    "out_of_span_fraction",
    "moments",
    "qq_points",
]


@dataclass(frozen=True)
class Check:
    """A quantitative claim of an experiment, computed from the run's data.

    A claim must be able to fail: its threshold lies beyond what the quantity would be if the
    claimed effect were absent (`null`: chance, a shuffled control, a network that learned
    nothing) and inside the range the quantity can take at all (`bounds`). Both are recorded
    where they are known, so that a reader (and the tests) can see that the check is not true
    by construction.

    Attributes:
        name: what is claimed, e.g. "exact vs θ: max relative loss difference".
        value: the measured number.
        threshold: the bound the claim states.
        passed: whether `value` satisfies the bound.
        relation: "<" (value must be below threshold), ">" (above) or "=" (equal to it).
        null: the value without the claimed effect (chance level, a control), or None.
        bounds: (low, high) the quantity's range by construction, None for an open side (a
            signed quantity: (None, None)); None when not stated.
    """

    name: str
    value: float
    threshold: float
    passed: bool
    relation: str = "<"
    null: float | None = None
    bounds: tuple | None = None

    @staticmethod
    def _extra(null, bounds) -> dict:
        return {"null": None if null is None else float(null),
                "bounds": None if bounds is None else tuple(
                    None if b is None else float(b) for b in bounds)}

    @classmethod
    def below(cls, name: str, value, threshold: float, *, null=None, bounds=None) -> Check:
        """Claim `value < threshold` (a NaN value fails)."""
        v = float(value)
        return cls(name, v, float(threshold), bool(math.isfinite(v) and v < threshold), "<",
                   **cls._extra(null, bounds))

    @classmethod
    def above(cls, name: str, value, threshold: float, *, null=None, bounds=None) -> Check:
        """Claim `value > threshold` (a NaN value fails)."""
        v = float(value)
        return cls(name, v, float(threshold), bool(math.isfinite(v) and v > threshold), ">",
                   **cls._extra(null, bounds))

    @classmethod
    def equals(cls, name: str, value, target: float, tol: float = 0.0, *, null=None,
               bounds=None) -> Check:
        """Claim `|value − target| ≤ tol` (for counts: exact equality)."""
        v = float(value)
        return cls(name, v, float(target), bool(math.isfinite(v) and abs(v - target) <= tol),
                   "=", **cls._extra(null, bounds))

    def as_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "threshold": self.threshold,
                "passed": self.passed, "relation": self.relation, "null": self.null,
                "bounds": None if self.bounds is None else list(self.bounds)}


@dataclass
class Outcome:
    """What an experiment's computation returns (arrays for the figures, checks, extras).

    Attributes:
        arrays: name → numpy array; all go to results.npz and are all the figures read.
        checks: the experiment's claims.
        seeds: every seed used (recorded in summary.json).
        info: further JSON-able numbers for summary.json (definitions included).
    """

    arrays: dict[str, np.ndarray]
    checks: list[Check]
    seeds: dict[str, int]
    info: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    name: str = ""
    wall_time_s: float = 0.0


@dataclass(frozen=True)
class Experiment:
    """One paper experiment.

    Attributes:
        name: command name (`overlapflow run NAME`).
        title: one-line description (report headings).
        defaults: paper parameters (JSON-able values).
        quick: overrides of `defaults` for `--quick` (small sizes: a first look, and the test suite's).
        compute: `compute(params, *, seed, progress) -> Outcome`.
        draw: `draw(outcome, folder) -> list of PNG file names` (drawing only).
        validate: `validate(params, given)` raises ConfigError for parameters that are fine
            one by one but not together (lists of unequal length, unknown choices, a key the
            chosen options ignore; `given` is the set of keys the user set), before any
            folder is made or anything computed.
    """

    name: str
    title: str
    defaults: dict
    quick: dict
    compute: Callable
    draw: Callable
    validate: Callable | None = None


REGISTRY: dict[str, Experiment] = {}

#: Arrays an experiment has finished so far (`keep`); what an interrupted run saves.
_KEPT: dict[str, np.ndarray] = {}


def keep(**arrays) -> None:
    """Record finished arrays of the running experiment: if Ctrl-C stops its computation
    later, results.npz holds these (the run is marked interrupted, nothing is checked)."""
    _KEPT.update({k: np.asarray(v) for k, v in arrays.items()})


def register(experiment: Experiment) -> Experiment:
    REGISTRY[experiment.name] = experiment
    return experiment


def get_experiment(name: str) -> Experiment:
    from . import EXPERIMENT_NAMES  # noqa: F401  (imports register every experiment)

    if name not in REGISTRY:
        raise ConfigError(f"unknown experiment {name!r}; valid: {', '.join(REGISTRY)}, all")
    return REGISTRY[name]


def _coerce(key: str, default, value):
    """Convert an override to the type of its default (strings come from the CLI)."""
    if not isinstance(value, str) or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return value.lower() in ("true", "1")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, (list, tuple)):
            return [type(default[0])(v) for v in value.split(",")] if default else []
    except ValueError:
        raise ConfigError(f"parameter {key}={value!r} must be like its default {default!r}")
    return value


#: Parameters of any sign; parameters that may be 0 (noise levels, thresholds, optional
#: epochs); every other numeric parameter with a positive default must stay > 0 (counts ≥ 1).
_ANY_SIGN = frozenset({"twin_mu", "ff_target"})
_MAY_BE_ZERO_SUFFIXES = ("_sd", "_below", "_above", "_tol", "noise")
_MAY_BE_ZERO = frozenset({"perturb_epochs"})


def _may_be_zero(key: str) -> bool:
    return key in _MAY_BE_ZERO or "noise" in key or key.endswith(_MAY_BE_ZERO_SUFFIXES)


def _check_value(exp_name: str, key: str, default, value):
    """The checks a TOML value gets: its default's type, finite, positive where required."""
    where = f"{exp_name}: parameter {key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(default, int) and isinstance(value, float) and value.is_integer():
            value = int(value)  # 3.0 for a count: TOML and --set may write it so
        value = (integer if isinstance(default, int) else real)(where, value)
        if key in _ANY_SIGN or default < 0:
            return value
        if _may_be_zero(key) or default == 0:
            nonnegative(where, value)
        elif isinstance(default, int):
            count(where, value)
        else:
            positive(where, value)
        return float(value) if isinstance(default, float) else value
    if isinstance(default, str):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} must be a non-empty string like {default!r}, got {value!r}")
        if key == "loss":
            from ..internal import check_loss_kind

            try:
                check_loss_kind(value)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        return value
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"{where} must be a non-empty list like {list(default)!r}, "
                              f"got {value!r}")
        if default:
            return [_check_value(exp_name, key, default[0], v) for v in value]
        return list(value)
    return value


def resolve_params(exp: Experiment, *, quick: bool = False, overrides: dict | None = None) -> dict:
    """Paper defaults, then the `--quick` changes, then user overrides (names and values checked
    as TOML values are: the default's type, finite, positive where required)."""
    params = dict(exp.defaults)
    if quick:
        params.update(exp.quick)
    for key, value in (overrides or {}).items():
        if key not in params:
            raise ConfigError(
                f"{exp.name}: unknown parameter {key!r}; valid: {', '.join(sorted(params))}"
            )
        params[key] = _check_value(exp.name, key, params[key],
                                   _coerce(key, params[key], value))
    if exp.validate is not None:
        exp.validate(params, set(overrides or {}))
    return params


def check_choices(exp_name: str, params: dict, key: str, valid) -> None:
    """Every item of the list parameter `key` is one of `valid`, none twice."""
    items = list(params[key])
    bad = [v for v in items if v not in valid]
    if bad:
        raise ConfigError(f"{exp_name}: parameter {key}: {bad[0]!r} is not one of "
                          f"{', '.join(valid)}")
    twice = sorted({v for v in items if items.count(v) > 1})
    if twice:
        raise ConfigError(f"{exp_name}: parameter {key} lists {twice[0]!r} twice")


def check_lengths(exp_name: str, params: dict, *keys: str, length: int | None = None,
                  minimum: int = 1) -> None:
    """The list parameters `keys` have one length (`length` if given, at least `minimum`)."""
    sizes = {k: len(params[k]) for k in keys}
    n = length if length is not None else sizes[keys[0]]
    if any(v != n for v in sizes.values()) or n < minimum:
        want = (f"{length} entries" if length is not None else
                "one length" + (f" of at least {minimum}" if minimum > 1 else ""))
        have = ", ".join(f"{k} has {v}" for k, v in sizes.items())
        raise ConfigError(f"{exp_name}: parameter{'s' if len(keys) > 1 else ''} "
                          f"{', '.join(keys)} must have {want}; {have}")


def _earlier_files(folder: Path) -> list[Path]:
    """Result files of an earlier run in DIR/NAME (removed when it is overwritten)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir()
            if p.name in ("results.npz", "summary.json") or p.suffix in (".png", ".pdf", ".svg")]


def write_outcome(exp: Experiment, outcome: Outcome, out_dir, *, figures: bool = True,
                  replace: bool = False, interrupted: dict | None = None) -> dict:
    """Write DIR/NAME/{results.npz, summary.json, *.png}, all or none; return the summary dict.

    `interrupted` ({where, epoch, epochs}) marks a run stopped by Ctrl-C: its figures carry
    the interruption in red, figures that cannot be drawn from the partial data are left out,
    its checks (computed from partial data) are not reported, and an outcome without arrays
    writes only summary.json. With `replace`, files of an earlier run that this one does not
    write are removed.
    """
    from ..internal import atomic_group, figure_banner, provenance
    from ..internal import interrupt as _interrupt

    folder = Path(out_dir) / exp.name
    folder.mkdir(parents=True, exist_ok=True)
    stale = _earlier_files(folder) if replace else []
    checks = [] if interrupted else outcome.checks
    with atomic_group(remove=stale):
        if outcome.arrays:
            write_npz_atomic(folder / "results.npz", **outcome.arrays)
        names = []
        if figures and outcome.arrays:
            banner = interruption_text(interrupted).upper() + ": PARTIAL DATA" if interrupted else None
            with figure_banner(banner), warnings.catch_warnings():
                if interrupted:  # NaN of the unfinished loops: expected, not worth a warning
                    warnings.simplefilter("ignore")
                try:
                    names = list(exp.draw(outcome, folder))
                except KeyboardInterrupt:
                    raise
                except Exception:
                    if interrupted is None and not _interrupt.requested():
                        raise
                    names = []  # the partial data of an interrupted run cannot be drawn
        summary = {
            "experiment": exp.name,
            "title": exp.title,
            "params": outcome.params,
            "seeds": outcome.seeds,
            "wall_time_s": outcome.wall_time_s,
            "checks": [c.as_dict() for c in checks],
            "all_passed": interrupted is None and all(c.passed for c in checks),
            "figures": names,
            "info": outcome.info,
            "interrupted": interrupted,  # None: complete
            "provenance": provenance(),
        }
        write_json_atomic(folder / "summary.json", summary)
    return summary


def run_experiment(
    name: str,
    out_dir,
    *,
    quick: bool = False,
    seed: int = 0,
    overrides: dict | None = None,
    progress: bool = True,
    figures: bool = True,
    replace: bool = False,
) -> dict:
    """Run one experiment and write its folder; returns the summary dict (with checks).

    Under the command line, Ctrl-C stops the computation: what it produced is written (maybe
    nothing but summary.json), marked `interrupted` = {where, epoch, epochs} in the summary
    (None when complete). `replace`: remove files of an earlier run this one does not write.
    """
    from ..internal import interrupt as _interrupt
    from ..internal import require_float64

    exp = get_experiment(name)
    require_float64(f"experiment {name}")  # its checks are float64 claims (docs/theory.md §7)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an integer ≥ 0, got {seed!r}")
    params = resolve_params(exp, quick=quick, overrides=overrides)
    start = time.perf_counter()
    outcome = None
    stopped = False
    _KEPT.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            _interrupt.check()
            outcome = exp.compute(params, seed=seed, progress=progress)
        except KeyboardInterrupt:
            stopped = True
            _interrupt.note(name)
        except Exception:
            if not _interrupt.requested():
                raise
            # the computation failed on the partial data of an interrupted loop: nothing saved
    if not _interrupt.requested():  # warnings about the NaN of unfinished loops are noise
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    interrupted = None
    if stopped or _interrupt.requested():
        interrupted = _interrupt.first() or {"where": name, "epoch": None, "epochs": None}
    if outcome is None:  # interrupted: the arrays finished before it (maybe none) and its record
        outcome = Outcome(dict(_KEPT), [], {"init": seed})
    _KEPT.clear()
    outcome.wall_time_s = time.perf_counter() - start
    outcome.params = dict(params, quick=quick)
    outcome.name = name
    summary = write_outcome(exp, outcome, out_dir, figures=figures, replace=replace,
                            interrupted=interrupted)
    if stopped and not _interrupt.active():  # from Python: Ctrl-C still stops the caller
        raise KeyboardInterrupt
    return summary


def redraw_experiment(name: str, out_dir) -> dict:
    """Redraw DIR/NAME's figures from its results.npz and summary.json (no recomputation)."""
    import json

    from ..internal import load_npz

    exp = get_experiment(name)
    folder = Path(out_dir) / name
    path = folder / "summary.json"
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} does not exist: run the experiment first")
    summary = json.loads(path.read_text())
    checks = [Check(c["name"], c["value"] if c["value"] is not None else float("nan"),
                    c["threshold"], c["passed"], c["relation"], c.get("null"),
                    None if c.get("bounds") is None else tuple(c["bounds"]))
              for c in summary["checks"]]
    outcome = Outcome(load_npz(folder / "results.npz", what="results"), checks,
                      summary["seeds"], summary["info"], summary["params"], name,
                      summary["wall_time_s"])
    summary["figures"] = list(exp.draw(outcome, folder))
    write_json_atomic(path, summary)
    return summary


# ---------------------------------------------------------------------------------------
# small helpers shared by several experiments


def impulse_task(kind: str, *, dt: float, t_max: float, decay: float, **params):
    """An impulse-response task; robust to the decay parameter being called `decay` or `c`."""
    key = "decay" if "decay" in task_parameters(kind) else "c"
    return make_task(kind, dt=dt, t_max=t_max, n_in=1, n_out=1, **{key: decay}, **params)


def pair_arrays(spec: NetworkSpec):
    """(names (D,), rows (D,), cols (D,), visible (D,) bool) of the distinct overlaps."""
    pairs = overlap_pairs(spec)
    vis = visible_mask(spec)
    rows = np.array([i for i, _ in pairs])
    cols = np.array([j for _, j in pairs])
    return np.array(overlap_names(spec)), rows, cols, vis[rows, cols]


def theta_and_mode_runs(spec: NetworkSpec, task, params: dict, *, seed: int,
                        progress: bool) -> tuple[dict, dict]:
    """θ-space GD and each overlap mode of params["modes"] from one start on one task.

    The start is `random_vectors(spec, seed)` (its overlaps for the modes); every run uses the
    loss sum·dt, η = params["eta"] and params["epochs"] epochs. Returns (runs, arrays): runs
    {"theta", then each mode: its result}; arrays epochs (E+1,), names, visible, rows, cols of
    the distinct overlaps (`pair_arrays`), then loss_<run> (E+1,) and sigma_<run>
    (E+1, P, P) of every run.
    """
    X0 = random_vectors(spec, seed=seed)
    sigma0 = overlaps(X0)
    common = dict(loss="sum_dt", eta=params["eta"], epochs=int(params["epochs"]), seed=seed,
                  progress=progress)
    runs = {"theta": train_theta(X0, task, spec, **common)}
    keep(loss_theta=runs["theta"].loss, sigma_theta=runs["theta"].sigma)
    for mode in params["modes"]:
        runs[mode] = learn_overlaps(sigma0, task, spec, mode=mode, **common)
        keep(**{f"loss_{mode}": runs[mode].loss, f"sigma_{mode}": runs[mode].sigma})
    names, rows, cols, vis = pair_arrays(spec)
    arrays = {"epochs": np.arange(int(params["epochs"]) + 1), "names": names.astype(str),
              "visible": vis, "rows": rows, "cols": cols}
    for mode, run in runs.items():
        arrays[f"loss_{mode}"] = run.loss
        arrays[f"sigma_{mode}"] = run.sigma
    return runs, arrays


def theta_vs_mode_checks(runs: dict, *, sigma_tol: float | None = None) -> list[Check]:
    """The checks of `theta_and_mode_runs`' runs: the θ loss falls 1000-fold; the exact map
    follows θ (max relative loss difference < 1e-6, and max |ΔΣ| < `sigma_tol` where given);
    the gradient flow stays within 5% of the initial loss of θ."""
    th = runs["theta"]
    checks = [Check.below("loss falls: final / initial θ loss", th.loss[-1] / th.loss[0], 1e-3,
                          null=1.0, bounds=(0.0, None))]
    if "exact" in runs:
        checks.append(Check.below("exact map vs θ: max relative loss difference (loss > 1e-10·L₀)",
                                  exact_rel_diff(runs["exact"].loss, th.loss), 1e-6))
        if sigma_tol is not None:
            checks.append(Check.below(
                "exact map vs θ: max |ΔΣ| over all overlaps and epochs",
                np.nanmax(np.abs(runs["exact"].sigma - th.sigma)), sigma_tol))
    if "flow" in runs:
        checks.append(Check.below("gradient flow vs θ: max |Δloss| / initial loss",
                                  curve_diff(runs["flow"].loss, th.loss), 0.05))
    return checks


def transition_epoch(loss) -> int:
    """First epoch whose loss is below half the initial loss (len(loss) if never)."""
    below = np.flatnonzero(np.asarray(loss) < 0.5 * loss[0])
    return int(below[0]) if below.size else len(loss)


def plateau_diff(a, ref) -> float:
    """`curve_diff` over the epochs before 90% of ref's `transition_epoch` (the plateau).

    Flip-flop learning sits on a plateau and then drops sharply; across the drop the plain
    `curve_diff` of two runs measures *when* each drops (a 1% shift of a sharp drop gives a
    difference of half the initial loss), so the plateau and the drop time are checked apart.
    """
    end = max(1, int(0.9 * transition_epoch(ref)))
    return curve_diff(np.asarray(a)[:end], np.asarray(ref)[:end])


def transition_shift(a, ref) -> float:
    """|transition_epoch(a) − transition_epoch(ref)| / transition_epoch(ref)."""
    t_ref = transition_epoch(ref)
    return abs(transition_epoch(a) - t_ref) / max(t_ref, 1)


def out_of_span_fraction(X, X0) -> float:
    """‖(I − Π₀) X‖²_F / ‖X‖²_F, Π₀ the projection onto the column span of X0 (N, P).

    Zero for every update X ↦ X A (GD on linear networks, docs/theory.md §4); positive for
    entry-wise optimizers and for nonlinear networks. (`overlapflow.out_of_span_fraction`.)
    """
    X = jnp.asarray(X, dtype=jnp.float64)
    return float(_gaussianity.out_of_span_fraction(X, jnp.asarray(X0, jnp.float64))[1])


def moments(X) -> tuple[np.ndarray, np.ndarray]:
    """Skewness and excess kurtosis (each (P,)) of the columns of X (N, P) across N entries."""
    skew, kurt = _gaussianity.vector_moments(jnp.asarray(X, dtype=jnp.float64))
    return np.asarray(skew), np.asarray(kurt)


def qq_points(X) -> tuple[np.ndarray, np.ndarray]:
    """Normal Q-Q data: theoretical quantiles (N,) and sorted standardised columns (N, P)."""
    from scipy.stats import norm

    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    theo = norm.ppf((np.arange(n) + 0.5) / n)
    z = (X - X.mean(axis=0)) / X.std(axis=0)
    return theo, np.sort(z, axis=0)
