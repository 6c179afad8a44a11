"""_support: see docs/architecture.md."""
