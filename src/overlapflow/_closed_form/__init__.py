"""_closed_form: see docs/architecture.md."""
