"""Internals that the tests, the benchmarks, the docs generator and the experiments use.

`overlapflow` (the package namespace) is the public API. This module names, in one place, the
further parts that white-box tests and the project's own tools reach: building blocks of the
exact map and the limit engine, the closed forms' modules (whose tolerances tests change),
the sweep scheduler, atomic writing, Ctrl-C handling, progress bars, figure style. Like
`equinox.internal`, it carries no stability promise: names here may change between releases.
Code outside the package (tests, benchmarks, the docs generator) imports only `overlapflow`,
`overlapflow.cli`, `overlapflow.experiments` and this module, and the experiments import only
`overlapflow` and this module (tests/test_docs.py checks both): the private modules behind
them can be reorganised without touching a test or an experiment.

Modules re-exported as modules (`closed_form_newton`, `sweep_scheduling`, ...) are the same
module objects, so `monkeypatch.setattr(internal.sweep_scheduling, ...)` changes the code that
runs.

Layout and layers: docs/architecture.md.
"""

from ._analysis import gaussianity as gaussianity
from ._closed_form import impulse as closed_form_impulse
from ._closed_form import newton as closed_form_newton
from ._closed_form import rank1 as closed_form_rank1
from ._inference.fisher import describe_direction as describe_direction
from ._inference.fisher import fisher_information as fisher_information
from ._inference.fisher import identifiability as identifiability
from ._inference.fit import random_start as random_start
from ._inference.model import coords_from_sym as coords_from_sym
from ._inference.model import sym_from_coords as sym_from_coords
from ._inference.symmetry import align as align
from ._inference.symmetry import candidate_symmetries as candidate_symmetries
from ._inference.symmetry import confirmed_symmetries as confirmed_symmetries
from ._interop.network_file import overlap_labels as overlap_labels
from ._interop.network_file import relabel_report as relabel_report
from ._interop.network_file import vector_labels as vector_labels
from ._interop.sources import MAP_KEYS as MAP_KEYS
from ._interop.sources import map_key_table as map_key_table
from ._learn import batched as learn_batched
from ._learn import loop as learn_loop
from ._learn.batched import batched_chunk as batched_chunk
from ._learn.batched import lane_state as lane_state
from ._learn.loop import drive_chunks as drive_chunks
from ._learn.rules import COLNORM_EPS as COLNORM_EPS
from ._learn.rules import check_rule_mode as check_rule_mode
from ._learn.rules import rule_euler_step as rule_euler_step
from ._learn.rules import rule_flow_velocity as rule_flow_velocity
from ._learn.rules import sigma_block as sigma_block
from ._limit.adjoint import particle_loss as particle_loss
from ._limit.adjoint import particle_value_and_grad as particle_value_and_grad
from ._limit.learners import mirror_half as mirror_half
from ._limit.quadrature import QQ_SAMPLES as QQ_SAMPLES
from ._limit.quadrature import interpolate_nodes as interpolate_nodes
from ._limit.quadrature import qq_bases as qq_bases
from ._model.effective import effective_outputs_many as effective_outputs_many
from ._model.effective import overlap_value_and_grad as overlap_value_and_grad
from ._model.losses import check_loss_kind as check_loss_kind
from ._model.tasks import Task as Task
from ._model.tasks import check_task_for as check_task_for
from ._model.tasks.registry import task_class as task_class
from ._plots import compare as plots_compare
from ._plots import style as plots_style
from ._plots.analysis import plot_metric as plot_metric
from ._plots.compare import plot_comparison as plot_comparison
from ._plots.nonlinear import loadings_histograms as loadings_histograms
from ._plots.nonlinear import output_trial_panels as output_trial_panels
from ._plots.report import CAPTIONS as CAPTIONS
from ._plots.report import write_index as write_index
from ._plots.style import MODE_LABELS as MODE_LABELS
from ._plots.style import coincident_partner as coincident_partner
from ._plots.style import draw_overlaps as draw_overlaps
from ._plots.style import legend_handle as legend_handle
from ._plots.style import line_style as line_style
from ._plots.style import new_figure as new_figure
from ._plots.style import overlap_colors as overlap_colors
from ._plots.style import style as style
from ._support import interrupt as interrupt
from ._support import progress as progress
from ._support.differences import curve_diff as curve_diff
from ._support.differences import exact_rel_diff as exact_rel_diff
from ._support.differences import max_rel_diff as max_rel_diff
from ._support.differences import rel_max_diff as rel_max_diff
from ._support.differences import rel_rms as rel_rms
from ._support.extras import has_module as has_module
from ._support.extras import require_module as require_module
from ._support.interrupt import interruption_text as interruption_text
from ._support.io import atomic_group as atomic_group
from ._support.io import figure_banner as figure_banner
from ._support.io import load_array as load_array
from ._support.io import load_npz as load_npz
from ._support.io import provenance as provenance
from ._support.io import save_figure_atomic as save_figure_atomic
from ._support.io import write_json_atomic as write_json_atomic
from ._support.io import write_npz_atomic as write_npz_atomic
from ._support.parallel import available_cores as available_cores
from ._support.parallel import map_threaded as map_threaded
from ._support.precision import check_float64 as check_float64
from ._support.precision import require_float64 as require_float64
from ._support.progress import LineBar as LineBar
from ._support.progress import progress_bar as progress_bar
from ._support.validate import count as count
from ._support.validate import integer as integer
from ._support.validate import nonnegative as nonnegative
from ._support.validate import positive as positive
from ._support.validate import real as real
from ._workflows import config as config_schema
from ._workflows.config import ALL_MODES as ALL_MODES
from ._workflows.hooks import closure_warning as closure_warning
from ._workflows.scaling import fit_slope as fit_slope
from ._workflows.sweep import batched_overlap_runs as batched_overlap_runs
from ._workflows.sweep import lanes_per_group as lanes_per_group
from ._workflows.sweep import parse_grid as parse_grid
from ._workflows.sweep import parse_seeds as parse_seeds
from ._workflows.sweep import scheduling as sweep_scheduling

__all__ = [
    "count", "integer", "nonnegative", "positive", "real",
    "align", "ALL_MODES", "atomic_group", "available_cores", "batched_chunk",
    "batched_overlap_runs", "candidate_symmetries", "CAPTIONS", "check_float64", "check_loss_kind", "require_float64",
    "check_rule_mode", "check_task_for", "closed_form_impulse", "closed_form_newton",
    "closed_form_rank1", "closure_warning", "coincident_partner", "COLNORM_EPS", "config_schema",
    "confirmed_symmetries", "coords_from_sym", "curve_diff", "describe_direction",
    "draw_overlaps", "exact_rel_diff", "figure_banner", "fisher_information", "fit_slope",
    "gaussianity", "has_module", "identifiability", "interpolate_nodes", "interrupt",
    "interruption_text", "drive_chunks", "lane_state", "lanes_per_group", "learn_batched", "learn_loop",
    "legend_handle", "line_style", "LineBar", "load_array", "load_npz", "map_key_table", "MAP_KEYS", "loadings_histograms", "map_threaded",
    "max_rel_diff", "mirror_half", "MODE_LABELS", "new_figure", "output_trial_panels",
    "overlap_colors", "overlap_labels", "overlap_value_and_grad", "effective_outputs_many", "parse_grid", "parse_seeds", "particle_loss",
    "particle_value_and_grad", "plot_comparison", "plot_metric", "plots_compare", "plots_style",
    "progress", "progress_bar", "provenance", "qq_bases", "QQ_SAMPLES", "random_start",
    "rel_max_diff", "rel_rms", "relabel_report", "require_module", "rule_euler_step", "rule_flow_velocity",
    "save_figure_atomic", "sigma_block", "style", "sweep_scheduling", "sym_from_coords", "Task",
    "task_class", "vector_labels", "write_index", "write_json_atomic", "write_npz_atomic",
]
