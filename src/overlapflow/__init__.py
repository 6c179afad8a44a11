"""overlapflow: learning dynamics of low-rank RNNs in θ-space and in the space of overlaps.

Importing overlapflow changes no global setting. Exactness claims are float64 claims, and
float64 in JAX needs its 64-bit mode: turn it on once, before computing, with
`jax.config.update("jax_enable_x64", True)` (or `overlapflow.enable_float64()`); the command
line does this itself. Functions asked for float64 while the mode is off raise a `ConfigError`
saying so. Runs can also be done in float32 (`dtype=jnp.float32`, or `dtype = "float32"`).

The layout of the package and what each part may import: docs/architecture.md.
"""

import importlib
from typing import TYPE_CHECKING

from ._version import __version__ as __version__

# The public names, imported when first used (`import overlapflow` stays cheap: the command
# line builds its parser without JAX). This block is their one list: `__getattr__` reads it.
if TYPE_CHECKING:
    from ._analysis.gaussianity import GaussianityStats as GaussianityStats
    from ._analysis.gaussianity import gaussianity_stats as gaussianity_stats
    from ._analysis.gaussianity import out_of_span_fraction as out_of_span_fraction
    from ._analysis.gaussianity import qq_correlation as qq_correlation
    from ._analysis.gaussianity import vector_moments as vector_moments
    from ._analysis.invariants import Invariants as Invariants
    from ._analysis.invariants import conserved_forms as conserved_forms
    from ._analysis.invariants import independent_invariant_count as independent_invariant_count
    from ._analysis.invariants import invariant_drift as invariant_drift
    from ._analysis.invariants import invariants as invariants
    from ._analysis.invariants import reachable_dimension as reachable_dimension
    from ._analysis.metric import metric as metric
    from ._analysis.metric import metric_structural_zeros as metric_structural_zeros
    from ._analysis.metric import sigma_gradient as sigma_gradient
    from ._analysis.report import inspect_overlaps as inspect_overlaps
    from ._analysis.rules import Linearisation as Linearisation
    from ._analysis.rules import RuleForms as RuleForms
    from ._analysis.rules import linearise_exact_map as linearise_exact_map
    from ._analysis.rules import rule_conserved_forms as rule_conserved_forms
    from ._analysis.twins import TwinWarning as TwinWarning
    from ._analysis.twins import equivalent_twin as equivalent_twin
    from ._analysis.twins import twin_output_difference as twin_output_difference
    from ._analysis.visibility import invisible_overlaps as invisible_overlaps
    from ._analysis.visibility import visible_mask as visible_mask
    from ._analysis.visibility import visible_overlaps as visible_overlaps
    from ._closed_form.impulse import impulse_closed_form_loss as impulse_closed_form_loss
    from ._inference.fit import RevealSettings as RevealSettings
    from ._inference.model import observation_model as observation_model
    from ._inference.observations import Observations as Observations
    from ._inference.observations import check_observations as check_observations
    from ._inference.reveal import RevealInterrupted as RevealInterrupted
    from ._inference.reveal import RevealResult as RevealResult
    from ._inference.reveal import reveal as reveal
    from ._inference.reveal import reveal_summary as reveal_summary
    from ._interop.export import export_network as export_network
    from ._interop.networks import ImportedNetwork as ImportedNetwork
    from ._interop.networks import SourceChannelsTask as SourceChannelsTask
    from ._interop.networks import import_network as import_network
    from ._interop.networks import load_network as load_network
    from ._interop.networks import network_inputs as network_inputs
    from ._interop.networks import write_network as write_network
    from ._learn.loop import LoopResult as LoopResult
    from ._learn.overlap import OVERLAP_MODES as OVERLAP_MODES
    from ._learn.overlap import FlowTolerances as FlowTolerances
    from ._learn.overlap import direct_overlap_step as direct_overlap_step
    from ._learn.overlap import euler_overlap_step as euler_overlap_step
    from ._learn.overlap import exact_overlap_step as exact_overlap_step
    from ._learn.overlap import flow_velocity as flow_velocity
    from ._learn.overlap import learn_overlaps as learn_overlaps
    from ._learn.overlap import overlap_gradient as overlap_gradient
    from ._learn.rules import OPTIMIZERS as OPTIMIZERS
    from ._learn.rules import RULE_CLASSES as RULE_CLASSES
    from ._learn.rules import LearningRule as LearningRule
    from ._learn.rules import column_scales as column_scales
    from ._learn.rules import initial_rule_state as initial_rule_state
    from ._learn.rules import rule_class as rule_class
    from ._learn.rules import rule_exact_step as rule_exact_step
    from ._learn.rules import state_size as state_size
    from ._learn.rules import theta_optimizer as theta_optimizer
    from ._learn.rules import weight_noise as weight_noise
    from ._learn.theta import theta_loss as theta_loss
    from ._learn.theta import train_theta as train_theta
    from ._limit import LimitState as LimitState
    from ._limit import QuadratureNodes as QuadratureNodes
    from ._limit import learn_limit as learn_limit
    from ._limit import learn_particles as learn_particles
    from ._limit import limit_nodes as limit_nodes
    from ._limit import particle_outputs as particle_outputs
    from ._limit import sample_nodes as sample_nodes
    from ._limit import theta_nodes as theta_nodes
    from ._limit import train_theta_adjoint as train_theta_adjoint
    from ._model.effective import effective_latents as effective_latents
    from ._model.effective import effective_outputs as effective_outputs
    from ._model.effective import overlap_loss as overlap_loss
    from ._model.effective import overlap_values_and_grads as overlap_values_and_grads
    from ._model.losses import LOSS_KINDS as LOSS_KINDS
    from ._model.losses import loss_from_outputs as loss_from_outputs
    from ._model.network import NetworkSpec as NetworkSpec
    from ._model.network import balanced_vectors as balanced_vectors
    from ._model.network import network_outputs as network_outputs
    from ._model.network import network_outputs_noisy as network_outputs_noisy
    from ._model.network import random_vectors as random_vectors
    from ._model.network import split_vectors as split_vectors
    from ._model.network import stack_vectors as stack_vectors
    from ._model.nonlinearity import NONLINEARITIES as NONLINEARITIES
    from ._model.nonlinearity import GaussianRule as GaussianRule
    from ._model.nonlinearity import Nonlinearity as Nonlinearity
    from ._model.nonlinearity import gaussian_mean as gaussian_mean
    from ._model.nonlinearity import get_nonlinearity as get_nonlinearity
    from ._model.overlaps import check_sigma as check_sigma
    from ._model.overlaps import get_overlap as get_overlap
    from ._model.overlaps import overlap_index as overlap_index
    from ._model.overlaps import overlap_names as overlap_names
    from ._model.overlaps import overlap_pairs as overlap_pairs
    from ._model.overlaps import overlaps as overlaps
    from ._model.overlaps import realise_vectors as realise_vectors
    from ._model.tasks import TASK_KINDS as TASK_KINDS
    from ._model.tasks import TaskBatch as TaskBatch
    from ._model.tasks import batch_for_epoch as batch_for_epoch
    from ._model.tasks import make_task as make_task
    from ._model.tasks import task_parameters as task_parameters
    from ._model.tasks.neurogym_env import NeurogymTask as NeurogymTask
    from ._support.errors import ConfigError as ConfigError
    from ._support.errors import InfeasibleError as InfeasibleError
    from ._support.errors import OverlapflowError as OverlapflowError
    from ._support.errors import SigmaError as SigmaError
    from ._support.precision import enable_float64 as enable_float64
    from ._support.precision import float64_enabled as float64_enabled
    from ._workflows.compare import Comparison as Comparison
    from ._workflows.compare import comparison_summary as comparison_summary
    from ._workflows.compare import initial_vectors as initial_vectors
    from ._workflows.compare import run_comparison as run_comparison
    from ._workflows.compare import write_comparison as write_comparison
    from ._workflows.config import CompareConfig as CompareConfig
    from ._workflows.config import TrainConfig as TrainConfig
    from ._workflows.config import config_from_dict as config_from_dict
    from ._workflows.config import load_config as load_config
    from ._workflows.reveal import run_reveal as run_reveal
    from ._workflows.scaling import run_scaling as run_scaling
    from ._workflows.scaling import scaling_summary as scaling_summary
    from ._workflows.sweep import SweepResult as SweepResult
    from ._workflows.sweep import run_sweep as run_sweep

__all__ = [
    "__version__",
    "CompareConfig",
    "Comparison",
    "ConfigError",
    "FlowTolerances",
    "GaussianRule",
    "GaussianityStats",
    "InfeasibleError",
    "Invariants",
    "LOSS_KINDS",
    "LimitState",
    "LoopResult",
    "NONLINEARITIES",
    "NetworkSpec",
    "Nonlinearity",
    "OVERLAP_MODES",
    "OverlapflowError",
    "QuadratureNodes",
    "SigmaError",
    "SweepResult",
    "TASK_KINDS",
    "TaskBatch",
    "TrainConfig",
    "TwinWarning",
    "balanced_vectors",
    "batch_for_epoch",
    "check_sigma",
    "comparison_summary",
    "config_from_dict",
    "conserved_forms",
    "direct_overlap_step",
    "effective_latents",
    "effective_outputs",
    "enable_float64",
    "equivalent_twin",
    "euler_overlap_step",
    "exact_overlap_step",
    "float64_enabled",
    "flow_velocity",
    "gaussian_mean",
    "gaussianity_stats",
    "get_nonlinearity",
    "get_overlap",
    "impulse_closed_form_loss",
    "independent_invariant_count",
    "initial_vectors",
    "inspect_overlaps",
    "invariant_drift",
    "invariants",
    "invisible_overlaps",
    "learn_limit",
    "learn_overlaps",
    "learn_particles",
    "limit_nodes",
    "load_config",
    "loss_from_outputs",
    "make_task",
    "metric",
    "metric_structural_zeros",
    "network_outputs",
    "network_outputs_noisy",
    "out_of_span_fraction",
    "overlap_gradient",
    "overlap_index",
    "overlap_loss",
    "overlap_names",
    "overlap_pairs",
    "overlap_values_and_grads",
    "overlaps",
    "particle_outputs",
    "qq_correlation",
    "random_vectors",
    "reachable_dimension",
    "realise_vectors",
    "run_comparison",
    "run_scaling",
    "run_sweep",
    "sample_nodes",
    "scaling_summary",
    "sigma_gradient",
    "split_vectors",
    "stack_vectors",
    "task_parameters",
    "theta_loss",
    "theta_nodes",
    "train_theta",
    "train_theta_adjoint",
    "twin_output_difference",
    "vector_moments",
    "visible_mask",
    "visible_overlaps",
    "write_comparison",
    # learning rules (docs/theory.md §9)
    "LearningRule",
    "Linearisation",
    "OPTIMIZERS",
    "RULE_CLASSES",
    "RuleForms",
    "column_scales",
    "initial_rule_state",
    "linearise_exact_map",
    "rule_class",
    "rule_conserved_forms",
    "rule_exact_step",
    "state_size",
    "theta_optimizer",
    "weight_noise",
    # networks from files and tasks from neurogym (docs/theory.md §11)
    "ImportedNetwork",
    "NeurogymTask",
    "SourceChannelsTask",
    "export_network",
    "import_network",
    "load_network",
    "network_inputs",
    "write_network",
    # initial overlaps revealed from observed learning (docs/theory.md §10)
    "Observations",
    "RevealInterrupted",
    "RevealResult",
    "RevealSettings",
    "check_observations",
    "observation_model",
    "reveal",
    "reveal_summary",
    "run_reveal",
]


def _exports() -> dict[str, str]:
    """{public name: module defining it}, read from the `if TYPE_CHECKING:` block above."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    return {alias.asname or alias.name: "." * node.level + node.module
            for node in block.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}


_EXPORTS: dict[str, str] | None = None


def __getattr__(name: str):
    """Import a public name on first use (PEP 562) and keep it in the package namespace."""
    global _EXPORTS
    if _EXPORTS is None:
        _EXPORTS = _exports()
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'overlapflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
