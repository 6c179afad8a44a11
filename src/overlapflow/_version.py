"""The package version, in a module of its own so that any layer can name it without importing
the package root (`overlapflow.__version__` re-exports it)."""

__version__ = "0.1.0"
