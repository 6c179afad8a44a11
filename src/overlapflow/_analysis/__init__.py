"""_analysis: see docs/architecture.md."""
