"""`overlapflow reveal`: read a config and observations, estimate Σ₀, write reveal.json/.png.

docs/theory.md §10. Everything a user gives is checked before anything is written: the config
(a normal compare config; its [init] is not used, Σ₀ being the unknown, and [train] must be
plain gradient descent in float64), the observations file, and the optional true Σ₀.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._inference.fit import RevealSettings
from .._inference.observations import check_observations
from .._inference.reveal import reveal, reveal_summary
from .._model.overlaps import check_sigma
from .._support.errors import ConfigError
from .._support.extras import has_module
from .._support.io import (
    atomic_group,
    load_npz,
    prepare_out,
    provenance,
    write_json_atomic,
)
from .config import load_config

__all__ = ["REVEAL_FILES", "load_reveal_inputs", "run_reveal"]

REVEAL_FILES = ("reveal.json", "reveal.png")


def load_reveal_inputs(config_path, observed_path, truth_path=None):
    """(config, observations, truth or None), each checked (ConfigError, one line)."""
    config = load_config(config_path)
    rule = config.train.rule
    if not (rule.is_plain and rule.optimizer == "gd"):
        raise ConfigError("reveal models plain gradient descent (the exact overlap map); "
                          "[train] must have optimizer = \"gd\" and no weight_decay, lr_scale, "
                          "clip_norm or noise_temperature")
    if config.train.dtype != "float64":
        raise ConfigError("reveal computes in float64: set [train] dtype = \"float64\"")
    data = load_npz(observed_path, what="--observed file")
    obs = check_observations(data, config.network, config.task, config.task_seed)
    truth = None
    if truth_path is not None:
        path = Path(truth_path)
        if not path.is_file():
            raise ConfigError(f"--truth file {str(path)!r} does not exist")
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"--truth {str(path)!r} is not a readable .npy array ({exc})") \
                from None
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
            raise ConfigError(f"--truth {str(path)!r} must hold a numeric (P, P) array")
        truth = check_sigma(arr, config.network, what="--truth")
    return config, obs, truth


def run_reveal(config_path, observed_path, out, *, truth_path=None, overwrite: bool = False,
               settings: RevealSettings = RevealSettings(), figure: bool = True) -> dict:
    """Estimate Σ₀ from observed learning and write DIR/reveal.json and DIR/reveal.png.

    Returns:
        the summary written to reveal.json.
    """
    config, obs, truth = load_reveal_inputs(config_path, observed_path, truth_path)
    out = prepare_out(out, overwrite=overwrite)  # after the inputs, before computing
    result = reveal(config.network, config.task, obs, loss_kind=config.loss,
                    eta=config.train.eta, seed=config.task_seed, settings=settings)
    summary = reveal_summary(result, truth=truth)
    summary["config"] = str(config_path)
    summary["observed_file"] = str(observed_path)
    summary["probe"] = ("probe_x of the observations file" if obs.kind == "outputs"
                        and "probe_x" in load_npz(observed_path, what="--observed file")
                        else f"batch_for_epoch(task, seed={config.task_seed}, epoch=0).x"
                        if obs.kind == "outputs" else None)
    summary["resolved_config"] = config.resolved
    summary["provenance"] = provenance()
    stale = [out / name for name in REVEAL_FILES] if overwrite else []
    with atomic_group(remove=stale):
        write_json_atomic(out / "reveal.json", summary)
        if figure and has_module("matplotlib"):
            from .._plots.reveal import plot_reveal

            plot_reveal(summary, obs.values, result.fitted.reshape(obs.values.shape),
                        out / "reveal.png")
        elif figure:
            import sys

            print("overlapflow: note: reveal.png not drawn: matplotlib is not installed "
                  "(pip install \"overlapflow[plots]\")", file=sys.stderr)
    return summary
