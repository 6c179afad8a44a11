"""_plots: see docs/architecture.md."""
