"""The teacher task: targets produced by a network given by its overlaps (docs/theory.md §7.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..._support.errors import ConfigError
from ..._support.validate import count, nonnegative, real
from .base import Task, TaskBatch, check_fields, set_field

# ---------------------------------------------------------------------------------------
# imitate a teacher network


def _read_overlaps(spec: Any) -> np.ndarray:
    """(P, P) bool: the entries of Σ the effective network reads (docs/theory.md §3, §5).

    Σ_VM, Σ_VU, Σ_ZM, Σ_ZU always, and Σ_MM, Σ_MU, Σ_UU through the gain when φ is not
    linear: exactly the loss-visible overlaps, found here from the structure of the dynamics.
    """
    read = np.zeros((spec.P, spec.P), bool)
    mu = np.r_[np.arange(spec.P)[spec.m], np.arange(spec.P)[spec.u]]
    for block in (spec.v, spec.z):
        rows = np.arange(spec.P)[block]
        read[np.ix_(rows, mu)] = read[np.ix_(mu, rows)] = True
    if not spec.is_linear:
        read[np.ix_(mu, mu)] = True
    return read


def _teacher_sigma(kind: str, value: Any, spec: Any) -> tuple[tuple[float, ...], ...]:
    """The teacher's full (P, P) Σ from a matrix or a {overlap name: value} table.

    A table must give every overlap the teacher's output depends on (`_read_overlaps`);
    the missing ones do not change its output and are completed to a positive-definite
    matrix: off-diagonal ones set to 0 and missing self-overlaps to the smallest power of
    two ≥ 1 that makes Σ positive definite.
    """
    from ..._support.errors import SigmaError
    from ..overlaps import check_sigma, overlap_index, overlap_names, overlap_pairs

    P = spec.P
    try:
        if isinstance(value, dict):
            sigma = np.full((P, P), np.nan)
            for name, entry in value.items():
                i, j = overlap_index(spec, str(name))
                sigma[i, j] = sigma[j, i] = real(f"{kind}: sigma.{name}", entry)
            read = _read_overlaps(spec)
            missing = [n for n, (i, j) in zip(overlap_names(spec), overlap_pairs(spec))
                       if read[i, j] and np.isnan(sigma[i, j])]
            if missing:
                raise ConfigError(
                    f"{kind}: sigma must give every loss-visible overlap; missing: "
                    f"{', '.join(missing)}"
                )
            free_diag = [i for i in range(P) if np.isnan(sigma[i, i])]
            sigma[np.isnan(sigma)] = 0.0
            for c in 2.0 ** np.arange(0, 41):
                sigma[free_diag, free_diag] = c
                if np.linalg.eigvalsh(sigma)[0] > 0 or not free_diag:
                    break
        else:
            sigma = np.asarray(value, dtype=np.float64)
        sigma = check_sigma(sigma, spec, what=f"{kind}: sigma")
    except SigmaError as err:
        raise ConfigError(str(err)) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{kind}: sigma must be a (P, P) matrix or a table of overlaps ({err})")
    return tuple(tuple(float(v) for v in row) for row in sigma)


@dataclass(frozen=True, kw_only=True)
class TeacherTask(Task):
    """Imitate a teacher network: targets are its outputs on noisy inputs (docs/theory.md §7, task C).

    The teacher is an effective network (docs/theory.md §3) given by its overlaps ``sigma``, its
    nonlinearity ``phi`` and the task's ``dt`` (rank ``rank``, the task's n_in and n_out).
    Inputs come from another task, the ``source`` (its targets and mask are not used):

        x = input_scale · x_source + noise_sd · ξ,    ξ_t ~ N(0, 1) i.i.d. per step,
        y = teacher outputs on x (readout after each update, docs/theory.md §1),  mask = 1.

    The paper's task C is ``source`` = the default flip-flop (waits 4–10 s, amplitude 1),
    ``input_scale`` 2, ``noise_sd`` 1.5, ``phi`` "erf", and the teacher overlaps σ_zm 0.5,
    σ_zu 2.3, σ_vm 2.0, σ_vu 1.5, σ_mu 1.6, σ_mm 1.8, σ_uu 2.2.

    Parameters:
        sigma: (P, P) overlap matrix, or a table {overlap name: value} giving at least the
            loss-visible overlaps (the rest is completed, see below). Required.
        phi: the teacher's nonlinearity name ("linear", "erf", …). Required.
        rank: the teacher's rank R ≥ 1 (P = n_in + 2R + n_out); default 1.
        source: the task supplying the inputs: a Task, or a table {kind = …, its
            parameters} (it gets this task's dt, t_max and n_in; its n_out defaults to this
            task's). Required. The batch size is the source's.
        noise_sd: sd of the white noise added to the input per step, ≥ 0; default 0.
        input_scale: factor on the source's input, finite; default 1.

    Missing invisible overlaps of a table are set to 0 (self-overlaps: the smallest power
    of two ≥ 1 that makes Σ positive definite); they do not change the teacher's output.
    """

    kind: ClassVar[str] = "teacher"
    sigma: Any = None
    phi: str | None = None
    rank: int = 1
    source: Any = None
    noise_sd: float = 0.0
    input_scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        k = self.kind
        from ..network import NetworkSpec

        if self.phi is None or not isinstance(self.phi, str):
            raise ConfigError(f"{k}: phi (the teacher's nonlinearity name, e.g. 'erf') is required")
        check_fields(self, count, "rank")
        try:
            spec = NetworkSpec(N=max(self.n_in + 2 * self.rank + self.n_out, 1), rank=self.rank,
                               n_in=self.n_in, n_out=self.n_out, phi=self.phi, dt=self.dt)
        except ConfigError as err:
            raise ConfigError(f"{k}: {err}") from None
        if self.sigma is None:
            raise ConfigError(f"{k}: sigma (the teacher's overlaps) is required")
        set_field(self, "sigma", _teacher_sigma(k, self.sigma, spec))
        check_fields(self, nonnegative, "noise_sd")
        check_fields(self, real, "input_scale")
        source = self.source  # a table {kind = …} was made a task by `make_task`
        if not isinstance(source, Task):
            raise ConfigError(f"{k}: source must be a task or a table with its kind (got {source!r})")
        if source.n_in != self.n_in or source.n_steps != self.n_steps or source.dt != self.dt:
            raise ConfigError(
                f"{k}: source must share dt, n_steps and n_in with the teacher task (got "
                f"dt={source.dt}, T={source.n_steps}, n_in={source.n_in}; want {self.dt}, "
                f"{self.n_steps}, {self.n_in})"
            )
        set_field(self, "source", source)

    @property
    def teacher_spec(self) -> Any:
        """The teacher's `NetworkSpec` (its N is nominal: the effective network has none)."""
        from ..network import NetworkSpec

        return NetworkSpec(N=max(self.n_in + 2 * self.rank + self.n_out, 1), rank=self.rank,
                           n_in=self.n_in, n_out=self.n_out, phi=self.phi, dt=self.dt)

    @property
    def batch_size(self) -> int:
        """B, the source's batch size."""
        return self.source.batch_size

    def _sample(self, key: Array) -> TaskBatch:
        """Return a random batch: x (B, T, n_in), y and mask (B, T, n_out)."""
        from ..effective import effective_outputs

        k_src, k_noise = jax.random.split(key)
        x = self.source.sample(k_src).x
        x = self.input_scale * x + self.noise_sd * jax.random.normal(k_noise, x.shape, x.dtype)
        y = effective_outputs(jnp.asarray(self.sigma, x.dtype), x, self.teacher_spec)
        return TaskBatch(x=x, y=y, mask=jnp.ones_like(y))
