"""Shared test set-up: float64 everywhere, and the two test tiers.

`make test` runs every test (CI). `make test-fast` (`pytest -m "not slow"`) is the edit-loop
tier, ≤ 2 minutes on 2 cores: it leaves out the modules below, whose tests run whole
experiments, subprocesses, Dask clusters or long compilations (each measured at several
seconds or more on 2 cores), and single tests marked `@pytest.mark.slow` where they sit.
"""

import jax
import pytest

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
})


#: Single tests (all their parameters) of the slow tier, each ≥ 3 s on 2 cores.
SLOW_TESTS = frozenset({
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
})


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = getattr(item, "originalname", item.name)
        if item.path.name in SLOW_MODULES or name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
