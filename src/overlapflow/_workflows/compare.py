"""θ-space training and overlap-space learning of one configuration, side by side."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._analysis.invariants import conserved_forms
from .._analysis.visibility import visible_mask
from .._learn import loop as _loop
from .._learn.loop import LoopResult
from .._learn.overlap import FlowTolerances, learn_overlaps
from .._learn.theta import train_theta
from .._model.network import random_vectors
from .._model.overlaps import overlaps, realise_vectors
from .._support.differences import max_abs_diff, max_rel_diff
from .._support.errors import OverlapflowError
from .._support.extras import has_module
from .._support.io import write_json_atomic, write_npz_atomic
from .._support.precision import as_dtype, float64_enabled
from .config import CompareConfig

__all__ = ["Comparison", "initial_vectors", "run_comparison", "comparison_summary", "write_comparison",
           "record_note", "solver_failure_text"]


@dataclass
class Comparison:
    """Results of `run_comparison`.

    Attributes:
        config: the `CompareConfig` that was run.
        epochs: (E + 1,) epoch indices; entry e is the state before update e. When the records
            of E + 1 epochs would exceed `RECORD_BYTES` per mode, the epochs recorded instead
            (every k-th, and E: `LoopResult.recorded_epochs`). After Ctrl-C, only the entries
            up to the last one any mode computed (the interrupted mode NaN after its own last).
        names: (P,) vector names in the order of Σ.
        runs: {mode: LoopResult} for every mode that ran (in config order).
        wall_time_s: {mode: seconds of the first run, compile included}.
        compiled_time_s: {mode: seconds of a second, compiled run, or None}.
        interrupted: True when Ctrl-C stopped the comparison (files hold what was computed).
        interrupted_at: {mode, epoch, epochs} where Ctrl-C stopped it (epoch 0 and no run of
            that mode: before its first block of epochs was computed), or None.
    """

    config: CompareConfig
    epochs: np.ndarray
    names: tuple[str, ...]
    runs: dict[str, LoopResult] = field(default_factory=dict)
    wall_time_s: dict[str, float] = field(default_factory=dict)
    compiled_time_s: dict[str, float | None] = field(default_factory=dict)
    interrupted: bool = False
    interrupted_at: dict | None = None


def initial_vectors(config: CompareConfig):
    """Initial vectors X₀ (N, P): random unit-norm Gaussian, realising `init_sigma` exactly, or
    the imported vectors of `[init] vectors` themselves (docs/theory.md §11)."""
    spec = config.network
    if config.init_vectors is not None:
        return np.array(config.init_vectors)
    if config.init_sigma is not None:
        return realise_vectors(config.init_sigma, spec.N, seed=config.init_seed)
    return random_vectors(spec, seed=config.init_seed)


def _run_mode(config: CompareConfig, mode: str, X0, sigma0, *, progress: bool) -> LoopResult:
    tr = config.train
    dtype = as_dtype(tr.dtype, "train.dtype")
    common = dict(loss=config.loss, eta=tr.eta, epochs=tr.epochs, seed=config.task_seed,
                  progress=progress, dtype=dtype)
    if mode == "limit":  # docs/theory.md §8: N → ∞ learning on quadrature nodes over X(0) ~ N(0, Σ₀)
        from .._limit import learn_limit

        return learn_limit(sigma0, config.task, config.network, rule=tr.rule,
                           nodes=tr.limit_nodes, check=tr.limit_check,
                           track_every=tr.track_every or None, **common)
    if mode == "theta" and tr.track_every:
        # The same optimizer on N nodes of weight 1/N (GD: step N·η; Adam: ε scaled by N so
        # that it is θ-space Adam exactly), recording Gaussianity statistics.
        from .._limit import train_theta_adjoint

        return train_theta_adjoint(X0, config.task, config.network, rule=tr.rule,
                                   track_every=tr.track_every, **common)
    if mode == "theta":
        return train_theta(X0, config.task, config.network, rule=tr.rule, **common)
    tol = FlowTolerances(rtol=tr.flow_rtol, atol=tr.flow_atol)
    return learn_overlaps(sigma0, config.task, config.network, mode=mode, tol=tol, rule=tr.rule,
                          **common)


def run_comparison(
    config: CompareConfig, *, progress: bool = True, time_compiled: bool = False
) -> Comparison:
    """Run every mode of `config.train.modes` from the same start and the same batches.

    θ-space starts from X₀ (`initial_vectors`); overlap modes start from Σ₀ = X₀ᵀX₀/N, so the
    comparison has no initial-condition mismatch. Every mode runs the configured learning rule
    (`TrainConfig.rule`, docs/theory.md §9): the overlap modes its exact map or first-order
    form (the config refuses modes without one, e.g. Adam in overlap space).

    Args:
        time_compiled: also time a second, already-compiled run of each mode.

    Raises:
        KeyboardInterrupt: Ctrl-C from Python. Under the command line (`overlapflow compare`)
            the comparison is returned instead with what was computed, `interrupted` set.
    """
    from .._support import interrupt as _interrupt

    comp = Comparison(
        config=config,
        epochs=np.arange(config.train.epochs + 1),
        names=config.network.vector_names,
    )
    E = config.train.epochs
    mode = config.train.modes[0]
    try:
        X0 = initial_vectors(config)
        sigma0 = overlaps(X0)
        # What writing the results needs of the architecture alone (cached): computed before
        # the runs, so that writing after Ctrl-C does not compile it.
        if float64_enabled():
            conserved_forms(config.network)
        for mode in config.train.modes:
            _interrupt.check()
            start = time.perf_counter()
            result = _run_mode(config, mode, X0, sigma0, progress=progress)
            comp.wall_time_s[mode] = time.perf_counter() - start
            comp.runs[mode] = result
            comp.compiled_time_s[mode] = None
            if result.recorded_epochs is not None:  # records thinned to fit their budget
                comp.epochs = result.recorded_epochs
            if result.interrupted_at is not None:
                comp.interrupted = True
                comp.interrupted_at = {"mode": mode, "epoch": result.interrupted_at, "epochs": E}
                break
            _interrupt.check()  # e.g. during the coarser-rule check of mode limit
            if time_compiled:
                start = time.perf_counter()
                again = _run_mode(config, mode, X0, sigma0, progress=False)
                comp.compiled_time_s[mode] = time.perf_counter() - start
                _interrupt.check()
                if again.interrupted_at is not None:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:  # outside an epoch loop: setup, or after a mode's last block
        if not _interrupt.active():  # library use: Ctrl-C stops the caller
            raise
        _interrupt.note(mode, 0, E)
        comp.interrupted = True
        if comp.interrupted_at is None:
            at = {"mode": mode, "epoch": 0, "epochs": E}
            done = comp.runs.get(mode)
            if done is not None and done.interrupted_at is None:  # that mode is complete
                later = list(config.train.modes)
                later = later[later.index(mode) + 1:]
                at = ({"mode": later[0], "epoch": 0, "epochs": E} if later
                      else {"mode": None, "epoch": E + 1, "epochs": E})
            comp.interrupted_at = at
    if comp.interrupted:
        _trim_to_computed(comp)
    return comp


def _trim_to_computed(comp: Comparison) -> None:
    """Cut the records of an interrupted comparison after the last entry any mode computed.

    A complete mode keeps every entry; the interrupted mode holds NaN after its last computed
    epoch, and writing and drawing (E + 1) NaN entries would make Ctrl-C of a long run take
    as long as the records are large.
    """
    keep = 0
    for run in comp.runs.values():
        stop = run.interrupted_at
        keep = max(keep, len(comp.epochs) if stop is None
                   else int(np.searchsorted(comp.epochs, stop)))
    keep = max(keep, 1)  # epoch 0 stays, so the files keep their shapes' meaning
    comp.epochs = comp.epochs[:keep]
    for mode, run in comp.runs.items():  # the interrupted run's records already end early
        loss, sigma = run.loss[:keep], run.sigma[:keep]
        short = keep - len(loss)
        if short > 0:
            loss = np.concatenate([loss, np.full(short, np.nan, loss.dtype)])
            sigma = np.concatenate([sigma, np.full((short,) + sigma.shape[1:], np.nan,
                                                   sigma.dtype)])
        comp.runs[mode] = run._replace(loss=loss, sigma=sigma)


def solver_failure_text(mode: str, epoch: int) -> str:
    """'the flow solver stopped: …' for a run whose `solver_failed_at` is `epoch`: diffrax's
    adaptive solve (Tsit5, PID step control, no minimum step) fails only when it reaches
    max_steps, the dynamics being too stiff or too fast for the tolerances."""
    return (f"mode {mode}: the flow solver stopped: max_steps reached at epoch {epoch}, later "
            "epochs are NaN; use mode exact, or raise FlowTolerances(max_steps=…) from Python")


def _record_every(comp: Comparison) -> int:
    return 1 if len(comp.epochs) < 2 or comp.epochs[1] == 1 else int(comp.epochs[1])


def record_note(summary: dict) -> str | None:
    """'records: one epoch in k …' when the records were thinned to fit their budget."""
    k = summary["record_every"]
    if k == 1:
        return None
    return (f"records: one epoch in {k} and the last (the records of every epoch would take "
            f"more than {_loop.RECORD_BYTES / 2**20:g} MiB per mode)")


def _last_finite(x: np.ndarray) -> float | None:
    finite = x[np.isfinite(x)]
    return float(finite[-1]) if finite.size else None


def comparison_summary(comp: Comparison, *, drift: dict | None = None) -> dict:
    """The summary.json content: config echo, seeds, what each mode computed (`methods`:
    "closure: exact map" for a nonlinear network, `mode_label`), timings, final losses,
    discrepancies. `drift`: `hooks.comparison_invariant_drift(comp)` if already computed."""
    from .._analysis.visibility import invisible_overlaps, visible_overlaps
    from .._plots.style import mode_label
    from .._support.io import provenance
    from .hooks import max_invariant_drift

    cfg = comp.config
    summary = {
        "config": cfg.echo,
        "resolved_config": cfg.resolved,  # every table with the defaults applied
        "provenance": provenance(),
        "seeds": {"init": cfg.init_seed, "task": cfg.task_seed},
        "modes": list(comp.runs),
        # what each mode computed: for nonlinear φ the Σ-space modes learn the closure (§3.2)
        "methods": {m: mode_label(m, linear=cfg.network.is_linear) for m in comp.runs},
        "wall_time_s": dict(comp.wall_time_s),
        "compiled_time_s": dict(comp.compiled_time_s),
        "final_loss": {m: _last_finite(r.loss) for m, r in comp.runs.items()},
        "max_rel_loss_diff": {},
        "max_abs_sigma_diff": {},
        "diverged": {m: r.diverged_at for m, r in comp.runs.items()},
        # epoch whose update the flow solver could not compute (not a divergence), or None
        "solver_failed": {m: r.solver_failed_at for m, r in comp.runs.items()},
        # 1: every epoch recorded; k: every k-th (and the last), to bound the records' memory
        "record_every": _record_every(comp),
        "interrupted": {m: r.interrupted_at for m, r in comp.runs.items()},
        "interrupted_at": comp.interrupted_at,  # {mode, epoch, epochs} or None: complete
        "visible": list(visible_overlaps(cfg.network)),
        "invisible": list(invisible_overlaps(cfg.network)),
        "names": list(comp.names),
        "max_invariant_drift": max_invariant_drift(comp, drift),  # docs/theory.md §6; None: no conserved form
    }
    from .hooks import limit_summary

    summary.update(limit_summary(comp))  # closure_error, quadrature_error, gaussianity (§8)
    if "theta" in comp.runs:
        ref = comp.runs["theta"]
        for mode, run in comp.runs.items():
            if mode == "theta":
                continue
            summary["max_rel_loss_diff"][mode] = max_rel_diff(run.loss, ref.loss, missing=None)
            summary["max_abs_sigma_diff"][mode] = max_abs_diff(run.sigma, ref.sigma, missing=None)
    return summary


#: Files `write_comparison` may write (removed when an overwritten earlier run left them).
COMPARE_FILES = ("results.npz", "summary.json", "compare.png", "gaussianity.png")


def write_comparison(comp: Comparison, out_dir, *, figure: bool = True,
                     replace: bool = False) -> dict:
    """Write results.npz, summary.json and compare.png into `out_dir`, all or none.

    The files are committed together (`atomic_group`): a full disk or Ctrl-C while writing
    leaves the earlier files as they were. With `replace`, files of an earlier comparison that
    this one does not write (gaussianity.png, or a figure that could not be drawn) are removed.

    Returns:
        The summary dict that was written.
    """
    from .._support.io import atomic_group

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stale = [out / name for name in COMPARE_FILES] if replace else []
    with atomic_group(remove=stale):
        return _write_comparison(comp, out, figure=figure)


def _write_comparison(comp: Comparison, out: Path, *, figure: bool) -> dict:
    arrays = {"epochs": comp.epochs, "names": np.array(comp.names, dtype=str)}
    for mode, run in comp.runs.items():
        arrays[f"loss_{mode}"] = run.loss
        arrays[f"sigma_{mode}"] = run.sigma
    from .hooks import comparison_invariant_drift, invariant_drift_arrays

    drift = comparison_invariant_drift(comp)  # once, for the arrays and the summary
    arrays.update(invariant_drift_arrays(comp, drift))  # relative drift of tr(ΣJ), spec(ΣJ); NaN: no J
    from .hooks import gaussianity_arrays

    arrays.update(gaussianity_arrays(comp))  # gauss_<stat>_<mode>, when tracked (§8)
    write_npz_atomic(out / "results.npz", **arrays)
    summary = comparison_summary(comp, drift=drift)
    write_json_atomic(out / "summary.json", summary)
    if figure and not has_module("matplotlib"):
        import sys

        print("overlapflow: note: compare.png not drawn: matplotlib is not installed "
              "(pip install \"overlapflow[plots]\")", file=sys.stderr)
    elif figure:
        from .._plots.compare import plot_comparison
        from .._plots.nonlinear import plot_gaussianity

        try:
            plot_comparison(comp, out / "compare.png", visible=visible_mask(comp.config.network))
            plot_gaussianity(comp, out / "gaussianity.png")  # only when a run tracked it (§8)
        except (KeyboardInterrupt, OverlapflowError):
            raise
        except Exception as exc:  # noqa: BLE001 - the numbers matter more than the picture
            import sys

            print(f"overlapflow: warning: figure not drawn ({type(exc).__name__}: {exc})",
                  file=sys.stderr)
    return summary
