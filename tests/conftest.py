"""Shared test set-up: float64 everywhere (importing overlapflow turns it on; be explicit)."""

import jax

jax.config.update("jax_enable_x64", True)
