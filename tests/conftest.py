"""Shared test set-up: float64 everywhere in this process, and the two test tiers.

JAX's 64-bit mode is turned on here, for every test; the float32 tier (tests/test_float32.py)
runs the float32 paths, and the float64-only ones that must then refuse, in a subprocess with
the mode off.

`make test` runs every test (CI) on both cores (pytest-xdist); the set-up below keeps the
tests that share a module fixture on one worker, gives each worker one compute thread, and
shares one JAX compilation cache per run between the workers and the CLI subprocesses.
`make test-fast` (`pytest -m "not slow"`) is the edit-loop
tier, ≤ 2 minutes with two workers: it leaves out the modules below, whose tests run whole
experiments, subprocesses, Dask clusters or long compilations (each measured at several
seconds or more), and single tests marked `@pytest.mark.slow` where they sit.
"""

import os

# Under pytest-xdist each worker (and each subprocess it starts) computes on one thread: the
# workers already fill the cores, and XLA's own thread pool in each of them only competes.
if os.environ.get("PYTEST_XDIST_WORKER") and "intra_op_parallelism" not in os.environ.get(
        "XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                               "false intra_op_parallelism_threads=1").strip()

import shutil  # noqa: E402
import tempfile  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)

#: Test modules that belong to the slow tier as a whole.
SLOW_MODULES = frozenset({
    "test_experiments.py",  # `run all --quick` and paper-experiment oracles
    "test_closed_form_newton.py",  # T-free forms at long T, fall-back paths
    "test_closed_form_rank1.py",
    "test_closed_form.py",
    "test_faults.py",  # signals to real subprocesses, sweeps interrupted and resumed
    "test_sweep.py",  # Dask local cluster, batched lanes
    "test_cli_compare.py",
    "test_scaling.py",
    "test_limit.py",
    "test_paper_nonlinear.py",
    "test_gaussianity.py",
    "test_float32.py",  # one subprocess with float64 off running every float32 path
    "test_recompilation.py",  # compiles every learner twice over to count compilations
    "test_export.py",  # torch round trips
})


#: Single tests of the slow tier, each ≥ 3 s: by name (all its parameters) or by
#: name with parameters (that case only).
SLOW_TESTS = frozenset({
    # whole learners or compare runs of several seconds each (measured with
    # `pytest -m "not slow" --durations`): the fast tier keeps their cheaper siblings
    "test_learners_take_numpy_and_jax_scalars",
    "test_summary_names_the_method_of_every_mode",
    "test_compare_prints_what_stopped_the_flow_solver",
    "test_compare_says_when_its_records_are_thinned",
    "test_noisy_forward_pass_matches_a_numpy_loop",
    "test_ctrl_c_propagates_from_run_comparison_in_library_use",
    "test_fisher_jacobian_equals_finite_differences",
    # network import (compare from an imported file; the CLI with inspect) and the neurogym
    # task (θ-space and overlap runs on its batches)
    "test_init_vectors_start_theta_from_the_file_and_overlap_modes_from_its_sigma",
    "test_cli_import_then_inspect_and_bad_input_writes_nothing",
    "test_theta_and_overlap_runs_see_the_same_batches",
    "test_euler_and_flow_agree_to_first_order_and_direct_differs",
    "test_flow_discrepancy_to_gd_shrinks_linearly_with_eta",
    "test_overlap_gradient_is_theta_gradient_in_overlap_form",
    "test_exact_map_equals_theta_space_gd",
    "test_divergence_stops_and_reports_epoch",
    "test_latent_adjoint_gradient_equals_autodiff",
    "test_many_networks_in_the_lanes_equal_autodiff_per_network",
    "test_erf_mean_field_improves_with_n",
    "test_twins_phase_losses_match_a_direct_computation",
    "test_adam_breaks_invariants_and_theta_gd_matches_exact",
    "test_exact_map_drift_per_epoch_scales_as_eta_squared",
    "test_importing_and_drawing_keeps_the_users_backend",
    "test_importing_and_drawing_never_imports_pyplot_without_a_backend_set",
    # learning rules (tests/test_learning_rules.py): θ-space runs per rule, the noise slope
    # over three N, the limit and node engines under a rule, flow / euler under a rule
    "test_exact_rule_map_equals_theta_space_training_more_cases",
    "test_weight_noise_theta_approaches_the_overlap_mean_like_inverse_sqrt_n",
    "test_linearisation_jacobian_matches_finite_differences",
    "test_flow_and_euler_modes_of_a_rule_are_first_order_in_eta",
    "test_limit_mode_runs_exact_class_rules_exactly_on_a_linear_network",
    "test_theta_on_nodes_runs_the_rule_like_train_theta",
    "test_rule_forms_of_rank2_networks_are_conserved_by_the_flow",
    "test_linearisation_at_a_zero_loss_point_keeps_or_decays_the_invisible_overlaps",
    # forgetting experiment (tests/test_forgetting.py): its --quick run, the protocol loop
    # against θ-space training, plain GD against the memory experiment
    "test_quick_checks_pass_and_weight_decay_rate_matches_the_linearisation",
    "test_summary_is_plain_json",
    "test_protocol_loop_equals_theta_space_training_under_decay_and_momentum",
    "test_plain_gd_retained_is_memory_small_step_gd",
    # reveal (tests/test_reveal.py): whole fits, the coverage study's Jacobians, θ-space runs
    "test_cli_reveals_figure1_network_from_noise_free_outputs",
    "test_loss_curve_and_outputs_reveal_different_overlaps",
    "test_95_percent_intervals_cover_the_truth",
    "test_reveal_erf_network_through_the_closure",
    "test_model_equals_theta_space_gd",
    "test_exact_symmetries_against_theta_space",
    # ≥ 3.5 s each (the fast tier keeps the other cases of each test)
    "test_flip_flop_keys_and_epochs",
    "test_exact_rule_map_equals_theta_space_training[combination]",
    "test_noisy_forward_pass_matches_a_numpy_loop[linear]",
    "test_flow_conserves_invariants_over_2000_epochs",
    "test_shapes_dtype_jit_vmap[decision_making]",
    "test_shapes_dtype_jit_vmap[teacher]",
    "test_shapes_dtype_jit_vmap[noise_filter]",
    "test_compare_writes_invariant_drift",
    "test_erf_phi_and_slope_match_scipy_to_float64",
    "test_linear_networks_have_one_form_plus_minus_identity[3-1-2]",
    "test_untrained_outputs_fix_only_zm_vu_and_the_product_zu_vm",
    "test_network_matches_dense_recursion[3-2-3-25-erf-2]",
    "test_theta_optimizer_is_the_rule_on_a_synthetic_gradient",
    # library manners: flow solves stopped at several max_steps (one compilation each)
    "test_a_failed_flow_solve_is_reported_as_the_solver_stopping_not_divergence",
})


def _shares_a_fixture(item) -> bool:
    """True when the test uses a module- or session-scoped fixture of this project (computed
    once per worker); pytest's own (`tmp_path_factory` behind every `tmp_path`) do not count."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(defs and defs[-1].scope in ("module", "session")
               and not getattr(defs[-1].func, "__module__", "").startswith("_pytest")
               for defs in info.name2fixturedefs.values())


# tryfirst: pytest-xdist reads the xdist_group markers in its own hook of the same name,
# which must run after these markers are added.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        name = getattr(item, "originalname", item.name)
        if item.path.name in SLOW_MODULES or name in SLOW_TESTS or item.name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
        # `make test` spreads single tests over both cores (pytest-xdist, --dist loadgroup);
        # the tests of a module that share an expensive fixture stay on one worker, so the
        # fixture runs once.
        if _shares_a_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.path.stem))


def pytest_collection_finish(session):
    """Under `--dist loadgroup`, a grouped test whose node id lacks its `@group` suffix means
    pytest-xdist could not group it, and the expensive module fixtures would run once per
    worker: stop with the reason instead of running the suite twice as slowly."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    lost = [item.nodeid for item in session.items
            if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError(
            f"pytest-xdist did not group {len(lost)} tests (e.g. {lost[0]}); this pytest and "
            "pytest-xdist do not work together for --dist loadgroup (pyproject.toml pins "
            "pytest < 9 for this reason)")


# One compilation cache for the whole run, shared by both workers and every subprocess a test
# starts (a fresh folder per run, removed at the end): a program that another worker or the
# CLI in a subprocess already compiled (the Figure-1 modes, the quick experiments) is loaded
# instead of compiled again. The controller makes the folder before the workers start.
_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get(_CACHE_ENV):
        return
    config._overlapflow_cache = tempfile.mkdtemp(prefix="overlapflow-test-jit-")
    os.environ[_CACHE_ENV] = config._overlapflow_cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    jax.config.update("jax_compilation_cache_dir", config._overlapflow_cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def pytest_unconfigure(config):
    folder = getattr(config, "_overlapflow_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
