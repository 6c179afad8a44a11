"""`overlapflow reveal`: read a config and observations, estimate Σ₀, write reveal.json/.png.

docs/theory.md §10. Everything a user gives is checked before anything is written: the config
(a normal compare config; its [init] is not used, Σ₀ being the unknown, and [train] must be
plain gradient descent in float64), the observations file (its epochs within the config's
[train] epochs), and the optional true Σ₀. Ctrl-C keeps the best fit so far: reveal.json
marked `"interrupted": true`; when nothing was fitted yet, nothing is written and a folder
this run created is removed again.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

from .._inference.fit import RevealSettings
from .._inference.observations import check_observations
from .._inference.reveal import RevealInterrupted, interrupted_summary, reveal, reveal_summary
from .._model.overlaps import check_sigma
from .._support.errors import ConfigError
from .._support.extras import has_module
from .._support.io import (
    atomic_group,
    load_array,
    load_npz,
    prepare_out,
    provenance,
    write_json_atomic,
)
from .config import load_config

__all__ = ["REVEAL_FILES", "load_reveal_inputs", "run_reveal"]

REVEAL_FILES = ("reveal.json", "reveal.png")


def _load_truth(truth_path, spec):
    """The true Σ₀ of --truth (.npy, through the shared loader), checked (ConfigError)."""
    arr = load_array(truth_path, what="--truth file")
    if arr.dtype.kind not in "fiu":
        raise ConfigError(f"--truth {str(truth_path)!r} must hold a numeric (P, P) array, got "
                          f"dtype {arr.dtype}")
    return check_sigma(arr, spec, what="--truth")


def _load_inputs(config_path, observed_path, truth_path=None):
    """(config, observations, truth or None, whether the file gave probe_x)."""
    config = load_config(config_path)
    rule = config.train.rule
    if not (rule.is_plain and rule.optimizer == "gd"):
        raise ConfigError("reveal models plain gradient descent (the exact overlap map); "
                          "[train] must have optimizer = \"gd\" and no weight_decay, lr_scale, "
                          "clip_norm or noise_temperature")
    if config.train.dtype != "float64":
        raise ConfigError("reveal computes in float64: set [train] dtype = \"float64\"")
    data = load_npz(observed_path, what="--observed file")
    obs = check_observations(data, config.network, config.task, config.task_seed,
                             max_epoch=config.train.epochs)
    truth = None if truth_path is None else _load_truth(truth_path, config.network)
    return config, obs, truth, "probe_x" in data


def load_reveal_inputs(config_path, observed_path, truth_path=None):
    """(config, observations, truth or None), each checked (ConfigError, one line)."""
    return _load_inputs(config_path, observed_path, truth_path)[:3]


def _missing_folders(out) -> list[Path]:
    """The folders of `out` (itself first, then its parents) that do not exist yet."""
    missing, path = [], Path(out)
    while not path.exists() and path.parent != path:
        missing.append(path)
        path = path.parent
    return missing


def _progress(settings: RevealSettings):
    """A callback printing one line on stderr per finished restart."""
    start = time.perf_counter()

    def report(run) -> None:
        print(f"reveal: restart {run.restart + 1} of at most {settings.restarts} finished: "
              f"objective {run.fit_loss:.3g}, {run.iterations} iterations "
              f"({time.perf_counter() - start:.0f} s elapsed)", file=sys.stderr, flush=True)

    return report


def run_reveal(config_path, observed_path, out, *, truth_path=None, overwrite: bool = False,
               settings: RevealSettings = RevealSettings(), figure: bool = True,
               progress: bool = False) -> dict:
    """Estimate Σ₀ from observed learning and write DIR/reveal.json and DIR/reveal.png.

    progress: one line on stderr per finished restart.

    Returns:
        the summary written to reveal.json. After Ctrl-C with a fit so far, the record of
        `interrupted_summary` (`"interrupted": true`, reveal.json only).

    Raises:
        RevealInterrupted: Ctrl-C before anything was fitted (nothing written; the folders
            this call created are removed).
    """
    config, obs, truth, given_probe = _load_inputs(config_path, observed_path, truth_path)
    created = _missing_folders(out)
    out = prepare_out(out, overwrite=overwrite)  # after the inputs, before computing
    stale = [out / name for name in REVEAL_FILES] if overwrite else []
    record = {"config": str(config_path), "observed_file": str(observed_path)}
    try:
        result = reveal(config.network, config.task, obs, loss_kind=config.loss,
                        eta=config.train.eta, seed=config.task_seed, settings=settings,
                        on_restart=_progress(settings) if progress else None)
    except RevealInterrupted as exc:
        partial = interrupted_summary(config.network, exc, obs)
        if partial is None:
            for path in created:  # deepest first; only folders left empty
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise
        partial.update(record, resolved_config=config.resolved, provenance=provenance())
        with atomic_group(remove=stale):
            write_json_atomic(out / "reveal.json", partial)
        return partial
    summary = reveal_summary(result, truth=truth)
    summary.update(record)
    summary["probe"] = ("probe_x of the observations file" if obs.kind == "outputs"
                        and given_probe
                        else f"batch_for_epoch(task, seed={config.task_seed}, epoch=0).x"
                        if obs.kind == "outputs" else None)
    summary["resolved_config"] = config.resolved
    summary["provenance"] = provenance()
    with atomic_group(remove=stale):
        write_json_atomic(out / "reveal.json", summary)
        if figure and has_module("matplotlib"):
            from .._plots.reveal import plot_reveal

            plot_reveal(summary, obs.values, result.fitted.reshape(obs.values.shape),
                        out / "reveal.png")
        elif figure:
            print("overlapflow: note: reveal.png not drawn: matplotlib is not installed "
                  "(pip install \"overlapflow[plots]\")", file=sys.stderr)
    return summary
