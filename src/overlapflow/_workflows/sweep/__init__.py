"""Sweeps: the product of a parameter grid and seeds, batched, chunked, resumable, distributable.

A sweep takes a comparison config (TOML, see `_workflows.config`), a grid of overrides (`train.eta`,
`task.decay`, `network.N`, …) and a range of seeds. Seed s is the initial-condition seed
(`init.seed`): run (g, s) starts from `random_vectors(spec_g, seed=s)` (or the realisation of
`init.sigma` with seed s). Per grid point the seeds are cut into chunks of `chunk_size` runs:

- overlap-space modes exact / euler / direct run the seeds of a chunk in cache-sized lane
  groups (`lanes_per_group`), each one jitted `lax.scan` over epochs (float64) with the runs in
  the SIMD lanes, the groups on one thread per core; impulse tasks on linear networks use the
  T-independent closed form (`_closed_form.impulse`), falling back to stepping for a whole group in
  an epoch where any member's closed form is flagged (a `lax.cond` on the group, so a group
  never pays for both branches). Grid points that differ only in η and the learning rule's
  numbers (weight decay, momentum, clip, temperature, lr_scale) run together, one value per
  lane, in one compiled program (`run_sweep_chunks`), under any rule that has an exact map
  (or an Euler step, for mode euler);
- θ-space runs are `vmap`ped in sub-batches sized to `theta_memory_bytes`;
- `flow` runs one seed at a time (adaptive steps differ per run).

Each finished chunk is written atomically to `DIR/chunks/<id>.npz`; a sweep started again with
the same arguments runs only the missing chunks (resume after Ctrl-C or a killed worker). A
chunk that raises is reported with its grid point and seeds and does not stop the others.
When every chunk exists, `DIR/sweep.csv` (one row per run) and `DIR/runs.npz` (loss curves and
final Σ per run) are written, atomically, then `DIR/sweep.png` (final loss against each grid
key and its histogram; `_plots.sweep`, when matplotlib is installed).

Schedulers: "local" (in-process), "dask-local" (a Dask LocalCluster, one single-threaded worker
process per core), or "tcp://HOST:PORT" (an existing Dask scheduler). Dask is optional
(`pip install overlapflow[dask]`). Results do not depend on the scheduler.
"""

from ..._learn.batched import batched_overlap_runs, lanes_per_group
from .chunks import run_sweep_chunk, run_sweep_chunks
from .grid import SCHEDULERS, grid_points, load_sweep_config, parse_grid, parse_seeds
from .scheduling import SweepResult, run_sweep

__all__ = [
    "SweepResult",
    "parse_grid",
    "parse_seeds",
    "grid_points",
    "run_sweep_chunk",
    "run_sweep_chunks",
    "run_sweep",
    "load_sweep_config",
    "batched_overlap_runs",
    "lanes_per_group",
    "SCHEDULERS",
]
