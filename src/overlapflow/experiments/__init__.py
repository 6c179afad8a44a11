"""The paper's experiments, one module each, runnable as `overlapflow run NAME` (docs/theory.md §5–§7).

Each module registers an `Experiment` (parameters, a pure computation returning an `Outcome`
with arrays and checks, a draw-only figure function). Use `run_experiment(name, out_dir)`.
"""

from . import (  # noqa: F401  (importing registers the experiments)
    adam,
    degeneracy,
    fig1,
    forgetting,
    memory,
    metric,
    nonlinear,
    optimizers,
    rank2,
    reveal,
    twins,
)
from ._common import (
    REGISTRY,
    Check,
    Experiment,
    Outcome,
    get_experiment,
    impulse_task,
    redraw_experiment,
    resolve_params,
    run_experiment,
)

# The order of `run all` and of the report: the paper's order.
EXPERIMENT_NAMES: tuple[str, ...] = ("fig1", "rank2", "degeneracy", "memory", "adam", "nonlinear",
                                     "optimizers", "twins", "metric", "forgetting",
                                     "reveal")
assert set(EXPERIMENT_NAMES) == set(REGISTRY)

__all__ = ["EXPERIMENT_NAMES", "Check", "Experiment", "Outcome", "get_experiment",
           "impulse_task", "redraw_experiment", "resolve_params", "run_experiment"]
