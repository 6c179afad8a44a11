"""Project exceptions: every problem a user can cause is one of these, with a one-line message."""


class OverlapflowError(Exception):
    """Base class of every error overlapflow raises on purpose."""


class ConfigError(OverlapflowError, ValueError):
    """A configuration value, shape or name is invalid (raised before anything is traced)."""


class SigmaError(ConfigError):
    """An overlap matrix Σ is not a valid (symmetric, PSD, finite, right-sized) Gram matrix."""


class InfeasibleError(OverlapflowError, ValueError):
    """A requested construction (for example a twin network) cannot be realised."""
