"""_learn: see docs/architecture.md."""
