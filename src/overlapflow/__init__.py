"""overlapflow: learning dynamics of low-rank RNNs in θ-space and in the space of overlaps.

Importing overlapflow turns on JAX float64 (`jax_enable_x64`): exactness claims are float64
claims. Runs can still be done in float32 (`dtype=jnp.float32`, or `dtype = "float32"`).
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

__version__ = "0.1.0"

from ._closed_form import impulse_closed_form_loss as impulse_closed_form_loss  # noqa: E402
from ._compare import Comparison as Comparison  # noqa: E402
from ._compare import comparison_summary as comparison_summary  # noqa: E402
from ._compare import initial_vectors as initial_vectors  # noqa: E402
from ._compare import run_comparison as run_comparison  # noqa: E402
from ._compare import write_comparison as write_comparison  # noqa: E402
from ._config import CompareConfig as CompareConfig  # noqa: E402
from ._config import TrainConfig as TrainConfig  # noqa: E402
from ._config import config_from_dict as config_from_dict  # noqa: E402
from ._config import load_config as load_config  # noqa: E402
from ._effective import effective_latents as effective_latents  # noqa: E402
from ._effective import effective_outputs as effective_outputs  # noqa: E402
from ._effective import overlap_loss as overlap_loss  # noqa: E402
from ._effective import overlap_values_and_grads as overlap_values_and_grads  # noqa: E402
from ._errors import ConfigError as ConfigError  # noqa: E402
from ._errors import InfeasibleError as InfeasibleError  # noqa: E402
from ._errors import OverlapflowError as OverlapflowError  # noqa: E402
from ._errors import SigmaError as SigmaError  # noqa: E402
from ._gaussianity import GaussianityStats as GaussianityStats  # noqa: E402
from ._gaussianity import gaussianity_stats as gaussianity_stats  # noqa: E402
from ._gaussianity import out_of_span_fraction as out_of_span_fraction  # noqa: E402
from ._gaussianity import qq_correlation as qq_correlation  # noqa: E402
from ._gaussianity import vector_moments as vector_moments  # noqa: E402
from ._invariants import Invariants as Invariants  # noqa: E402
from ._invariants import conserved_forms as conserved_forms  # noqa: E402
from ._invariants import independent_invariant_count as independent_invariant_count  # noqa: E402
from ._invariants import inspect_overlaps as inspect_overlaps  # noqa: E402
from ._invariants import invariant_drift as invariant_drift  # noqa: E402
from ._invariants import invariants as invariants  # noqa: E402
from ._invariants import reachable_dimension as reachable_dimension  # noqa: E402
from ._limit import LimitState as LimitState  # noqa: E402
from ._limit import QuadratureNodes as QuadratureNodes  # noqa: E402
from ._limit import learn_limit as learn_limit  # noqa: E402
from ._limit import learn_particles as learn_particles  # noqa: E402
from ._limit import limit_nodes as limit_nodes  # noqa: E402
from ._limit import particle_outputs as particle_outputs  # noqa: E402
from ._limit import sample_nodes as sample_nodes  # noqa: E402
from ._limit import theta_nodes as theta_nodes  # noqa: E402
from ._limit import train_theta_adjoint as train_theta_adjoint  # noqa: E402
from ._loop import LoopResult as LoopResult  # noqa: E402
from ._losses import LOSS_KINDS as LOSS_KINDS  # noqa: E402
from ._losses import loss_from_outputs as loss_from_outputs  # noqa: E402
from ._metric import metric as metric  # noqa: E402
from ._metric import metric_structural_zeros as metric_structural_zeros  # noqa: E402
from ._metric import sigma_gradient as sigma_gradient  # noqa: E402
from ._network import NetworkSpec as NetworkSpec  # noqa: E402
from ._network import balanced_vectors as balanced_vectors  # noqa: E402
from ._network import network_outputs as network_outputs  # noqa: E402
from ._network import network_outputs_noisy as network_outputs_noisy  # noqa: E402
from ._network import random_vectors as random_vectors  # noqa: E402
from ._network import split_vectors as split_vectors  # noqa: E402
from ._network import stack_vectors as stack_vectors  # noqa: E402
from ._nonlinearity import NONLINEARITIES as NONLINEARITIES  # noqa: E402
from ._nonlinearity import GaussianRule as GaussianRule  # noqa: E402
from ._nonlinearity import Nonlinearity as Nonlinearity  # noqa: E402
from ._nonlinearity import gaussian_mean as gaussian_mean  # noqa: E402
from ._nonlinearity import get_nonlinearity as get_nonlinearity  # noqa: E402
from ._overlap_learning import OVERLAP_MODES as OVERLAP_MODES  # noqa: E402
from ._overlap_learning import FlowTolerances as FlowTolerances  # noqa: E402
from ._overlap_learning import direct_overlap_step as direct_overlap_step  # noqa: E402
from ._overlap_learning import euler_overlap_step as euler_overlap_step  # noqa: E402
from ._overlap_learning import exact_overlap_step as exact_overlap_step  # noqa: E402
from ._overlap_learning import flow_velocity as flow_velocity  # noqa: E402
from ._overlap_learning import learn_overlaps as learn_overlaps  # noqa: E402
from ._overlap_learning import overlap_gradient as overlap_gradient  # noqa: E402
from ._overlaps import check_sigma as check_sigma  # noqa: E402
from ._overlaps import get_overlap as get_overlap  # noqa: E402
from ._overlaps import overlap_index as overlap_index  # noqa: E402
from ._overlaps import overlap_names as overlap_names  # noqa: E402
from ._overlaps import overlap_pairs as overlap_pairs  # noqa: E402
from ._overlaps import overlaps as overlaps  # noqa: E402
from ._overlaps import realise_vectors as realise_vectors  # noqa: E402
from ._scaling import run_scaling as run_scaling  # noqa: E402
from ._scaling import scaling_summary as scaling_summary  # noqa: E402
from ._sweep import SweepResult as SweepResult  # noqa: E402
from ._sweep import run_sweep as run_sweep  # noqa: E402
from ._tasks import TASK_KINDS as TASK_KINDS  # noqa: E402
from ._tasks import TaskBatch as TaskBatch  # noqa: E402
from ._tasks import batch_for_epoch as batch_for_epoch  # noqa: E402
from ._tasks import make_task as make_task  # noqa: E402
from ._theta import theta_loss as theta_loss  # noqa: E402
from ._theta import train_theta as train_theta  # noqa: E402
from ._twins import TwinWarning as TwinWarning  # noqa: E402
from ._twins import equivalent_twin as equivalent_twin  # noqa: E402
from ._twins import twin_output_difference as twin_output_difference  # noqa: E402
from ._visibility import invisible_overlaps as invisible_overlaps  # noqa: E402
from ._visibility import visible_mask as visible_mask  # noqa: E402
from ._visibility import visible_overlaps as visible_overlaps  # noqa: E402
