"""Running a sweep: the plan, the folder lock, resuming, local or Dask scheduling.

Longer than 400 lines on purpose: planning, the folder lock, resuming and the two schedulers
share one state machine over the output folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._support import interrupt as _interrupt
from ..._support.errors import ConfigError, OverlapflowError
from ..._support.io import write_json_atomic, write_npz_atomic
from ..._support.precision import float64_enabled
from ..._support.progress import progress_bar
from ..config import apply_settings
from .assembly import _assemble
from .chunks import _announce_theta_cost, batch_key, run_sweep_chunk, run_sweep_chunks
from .grid import (
    CONNECT_TIMEOUT_S,
    DEFAULT_THRESHOLDS,
    MAX_SEEDS,
    SCHEDULERS,
    SWEEP_MODES,
    _check_grid_keys,
    _check_ignored,
    _point_config,
    grid_points,
    load_sweep_config,
    parse_grid,
)

# -- the sweep -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    grid_index: int
    point: dict = field(hash=False)
    seeds: tuple[int, ...] = ()

    @property
    def id(self) -> str:
        return f"g{self.grid_index:04d}_s{self.seeds[0]:07d}-{self.seeds[-1]:07d}"

    def describe(self) -> str:
        where = ", ".join(f"{k}={v!r}" for k, v in self.point.items()) or "base config"
        return f"chunk {self.id} (grid point {where}; seeds {self.seeds[0]}…{self.seeds[-1]})"


@dataclass
class SweepResult:
    """What `run_sweep` did.

    Attributes:
        out: the output folder.
        n_chunks / n_runs: sizes of the whole sweep.
        ran: ids of chunks computed in this call (the others existed already).
        failed: [(description with grid point and seeds, error message)] of chunks that raised.
        complete: True when every chunk exists and sweep.csv / runs.npz were written.
        interrupted: True after Ctrl-C (finished chunks are kept).
        wall_s: seconds spent in this call.
    """

    out: Path
    n_chunks: int
    n_runs: int
    ran: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    complete: bool = False
    interrupted: bool = False
    wall_s: float = 0.0


def _fingerprint(raw, grid, seeds, modes, chunk_size) -> dict:
    plan = {"config": raw, "grid": [[k, list(v)] for k, v in grid], "seeds": list(seeds),
            "modes": list(modes), "chunk_size": chunk_size}
    text = json.dumps(plan, sort_keys=True, default=str)
    return {"plan": json.loads(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}


def _client_for(scheduler: str):
    """(client, cluster) for a Dask scheduler name; (None, None) for "local"."""
    if scheduler == "local":
        return None, None
    if scheduler != "dask-local" and not scheduler.startswith("tcp://"):
        raise ConfigError(f"unknown scheduler {scheduler!r}; valid: {', '.join(SCHEDULERS)}")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(f"scheduler {scheduler!r} needs Dask: pip install 'overlapflow[dask]'")
    if scheduler == "dask-local":
        cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S), None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot reach Dask scheduler {scheduler!r} within "
                          f"{CONNECT_TIMEOUT_S} s ({type(exc).__name__}: {exc}); nothing was "
                          "written") from None


def _chunk_on_worker(float64: bool, *args, **kwargs):
    """`run_sweep_chunks` in a Dask worker process, with the caller's JAX 64-bit mode (a worker
    is a fresh process: the mode is a process setting, not part of the arguments)."""
    import jax

    jax.config.update("jax_enable_x64", float64)
    return run_sweep_chunks(*args, **kwargs)


#: Most runs of one group of chunks run together (`run_sweep_chunks`): chunks that differ only
#: in η and the learning rule's numbers share the lanes of one program up to this many runs.
GROUP_RUNS = 1024


def _chunk_groups(todo, raw, base_dir, modes, chunk_size: int) -> list[list[_Chunk]]:
    """The chunks in groups: the same seeds at grid points of one `batch_key` (the lanes of a
    chunk hold its seeds already; a group adds grid points), at most max(GROUP_RUNS,
    chunk_size) runs each, in the order of `todo`."""
    limit = max(GROUP_RUNS, chunk_size)
    groups: dict = {}
    for chunk in todo:
        key = (batch_key(_point_config(raw, Path(base_dir), chunk.point, modes)), chunk.seeds)
        found = groups.setdefault(key, [[]])
        if sum(len(c.seeds) for c in found[-1]) + len(chunk.seeds) > limit:
            found.append([])
        found[-1].append(chunk)
    return [group for found in groups.values() for group in found]


def run_sweep(
    config_path,
    out_dir,
    *,
    grid: Sequence[str] | list[tuple[str, tuple]] = (),
    settings: Mapping[str, Any] | None = None,
    seeds: Sequence[int] = (0,),
    modes: Sequence[str] = ("exact",),
    scheduler: str = "local",
    client=None,
    chunk_size: int = 256,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    progress: bool = True,
    on_chunk: Callable[[str, int, int], None] | None = None,
    overwrite: bool = False,
) -> SweepResult:
    """Run (or resume) the sweep grid × seeds × modes of a TOML config into `out_dir`.

    Everything is checked before anything is written: the arguments, every grid point, the
    output folder (writable; empty, or holding this same sweep to resume, unless `overwrite`),
    the chunk files already there, and the Dask scheduler. The folder is locked
    (DIR/.lock, holding the pid) while the sweep runs: a second sweep into it is refused.

    Args:
        config_path: TOML comparison config (its [train].modes is replaced by `modes`).
        grid: "table.key=v1,v2" strings or parsed [(key, values)].
        settings: {"table.key": value} set in the config before the grid (`--set`).
        seeds: initial-condition seeds.
        scheduler: "local", "dask-local" or "tcp://HOST:PORT"; or pass a Dask `client`.
        chunk_size: runs per chunk (cut into lane groups for the overlap modes).
        on_chunk: called as on_chunk(chunk_id, done, total) after each chunk is written.
        overwrite: start afresh: remove what DIR holds (a sweep's plan and chunks, other files).

    Returns:
        `SweepResult`. Files: DIR/chunks/*.npz, DIR/plan.json, and when complete DIR/sweep.csv,
        DIR/runs.npz and DIR/sweep.png (with matplotlib).
    """
    t_start = time.perf_counter()
    raw, base_dir = load_sweep_config(config_path)
    if settings:
        raw = apply_settings(raw, settings)
    grid = parse_grid(grid) if grid and isinstance(next(iter(grid)), str) else list(grid)
    modes = tuple(modes)
    for mode in modes:
        if mode not in SWEEP_MODES:
            hint = " (limit runs in compare and scaling, not in sweeps)" if mode == "limit" else ""
            raise ConfigError(f"unknown mode {mode!r} in modes; valid: "
                              f"{', '.join(SWEEP_MODES)}{hint}")
    if not modes or len(set(modes)) != len(modes):
        raise ConfigError(f"modes must list distinct modes from {', '.join(SWEEP_MODES)}")
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(f"{len(seeds)} seeds; at most {MAX_SEEDS} per sweep")
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ConfigError("a sweep needs at least one seed")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk size must be an integer ≥ 1, got {chunk_size!r}")
    if client is None and scheduler != "local" and scheduler != "dask-local" \
            and not scheduler.startswith("tcp://"):
        raise ConfigError(f"unknown scheduler {scheduler!r}; valid: {', '.join(SCHEDULERS)}")
    _check_grid_keys(raw, grid)
    points = grid_points(grid)
    _check_ignored(raw, points, modes)
    resolved = []
    for point in points:  # every grid point must validate before anything runs
        resolved.append({"point": point,
                         "config": _point_config(raw, base_dir, point, modes).resolved})

    from ..._support.io import prepare_out, provenance

    existed = Path(out_dir).is_dir()
    out = prepare_out(out_dir, check_empty=False)
    fp = _fingerprint(raw, grid, seeds, modes, chunk_size)
    try:
        with _FolderLock(out):
            return _run_locked(out, fp, raw, base_dir, grid, points, seeds, modes, chunk_size,
                               scheduler, client, thresholds, progress, on_chunk, overwrite,
                               t_start, resolved, provenance)
    except OverlapflowError:
        if not existed:  # refused before writing anything: leave no empty folder behind
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    except KeyboardInterrupt:  # before the first chunk started (checks, plan, cluster)
        n_chunks = len(points) * math.ceil(len(seeds) / chunk_size)
        return SweepResult(out=out, n_chunks=n_chunks, n_runs=len(points) * len(seeds),
                           interrupted=True, wall_s=time.perf_counter() - t_start)


#: What a sweep writes into its folder (removed by --overwrite before a different sweep).
SWEEP_FILES = ("plan.json", "chunks", "sweep.csv", "runs.npz", "sweep.png")
_LOCK = ".lock"


class _FolderLock:
    """DIR/.lock created with O_EXCL, holding the pid; a lock whose pid is gone is taken over."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / _LOCK
        self.held = False

    def __enter__(self):
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = self._owner()
                if pid is not None and _alive(pid):
                    raise ConfigError(
                        f"{str(self.path.parent)!r} is in use by another sweep (pid {pid}, "
                        f"lock {self.path}); wait for it to finish, use another --out, or "
                        f"delete {self.path} if no sweep is running"
                    ) from None
                with contextlib.suppress(FileNotFoundError):  # stale: its process is gone
                    os.unlink(self.path)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{os.getpid()}\n")
            self.held = True
            return self
        raise ConfigError(f"cannot lock {str(self.path.parent)!r} (another sweep keeps "
                          f"taking {self.path}); use another --out")

    def _owner(self) -> int | None:
        """The pid in the lock; -1 if it has no pid yet (created this instant: a live owner);
        None if it is gone or unreadable for more than 10 s (stale)."""
        try:
            return int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            try:
                return -1 if time.time() - self.path.stat().st_mtime < 10 else None
            except OSError:
                return None

    def __exit__(self, *exc):
        if self.held:
            with contextlib.suppress(OSError):
                if self._owner() == os.getpid():
                    os.unlink(self.path)
        return False


def _alive(pid: int) -> bool:
    if pid == -1:  # a lock file being written this instant
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _read_plan(plan_path: Path) -> dict:
    try:
        plan = json.loads(plan_path.read_text())
        if not isinstance(plan, dict):
            raise ValueError("not a JSON object")
        return plan
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(
            f"{plan_path} is unreadable ({type(exc).__name__}: {exc}); delete {plan_path} "
            "to resume this sweep from its chunks (only if they come from this same command), "
            "or pass --overwrite to start afresh"
        ) from None


def _check_chunk_file(path: Path) -> None:
    """ConfigError naming the file when a chunk file is not a readable .npz."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
        if bad is not None:
            raise zipfile.BadZipFile(f"bad CRC in member {bad}")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ConfigError(f"chunk file {path} is corrupt ({type(exc).__name__}: {exc}); delete "
                          "it and run the same command again to recompute it") from None


def _run_locked(out, fp, raw, base_dir, grid, points, seeds, modes, chunk_size, scheduler,
                client, thresholds, progress, on_chunk, overwrite, t_start, resolved,
                provenance) -> SweepResult:
    plan_path = out / "plan.json"
    if overwrite:  # start afresh, whatever the folder holds
        _remove_sweep_files(out)
    elif plan_path.is_file():
        old = _read_plan(plan_path)
        if old.get("sha256") != fp["sha256"]:
            raise ConfigError(f"{str(out)!r} holds a different sweep (plan.json differs); "
                              "use another --out, the same arguments to resume, or "
                              "--overwrite to replace it")
    else:
        present = sorted(p.name for p in out.iterdir() if p.name != _LOCK
                         and not (p.name == "chunks" and p.is_dir() and not any(p.iterdir())))
        if present:
            shown = ", ".join(present[:4]) + (f" and {len(present) - 4} more"
                                               if len(present) > 4 else "")
            raise ConfigError(f"out_dir {str(out)!r} already holds {shown} but no plan.json of a "
                              "sweep; pass --overwrite to replace them, or choose another --out")

    chunks = [
        _Chunk(gi, point, seeds[i : i + chunk_size])
        for gi, point in enumerate(points)
        for i in range(0, len(seeds), chunk_size)
    ]
    size = min(chunk_size, len(seeds))
    todo = []
    for c in chunks:
        path = out / "chunks" / f"{c.id}.npz"
        if path.is_file():
            _check_chunk_file(path)  # a truncated chunk: say which file, before computing
        else:
            todo.append(c)
    result = SweepResult(out=out, n_chunks=len(chunks), n_runs=len(points) * len(seeds))
    kwargs = dict(pad_to=size)
    done = len(chunks) - len(todo)
    runs_done = 0

    def store(chunk, arrays):
        nonlocal done, runs_done
        write_npz_atomic(out / "chunks" / f"{chunk.id}.npz", **arrays)
        result.ran.append(chunk.id)
        done += 1
        runs_done += len(chunk.seeds)
        bar.update(1)
        rate = runs_done / max(time.perf_counter() - t_start, 1e-9)
        bar.set_postfix_str(f"{rate:.1f} runs/s")
        if on_chunk is not None:
            on_chunk(chunk.id, done, len(chunks))

    own_client = None
    cluster = None
    if todo and client is None and scheduler != "local":
        client, cluster = _client_for(scheduler)  # before the plan: an unreachable one leaves
        own_client = client  # nothing behind
    if not plan_path.is_file():  # the plan first: an interrupt right after it leaves a
        write_json_atomic(plan_path, {**fp, "resolved_configs": resolved,  # resumable folder
                                      "provenance": provenance()})
    (out / "chunks").mkdir(exist_ok=True)
    if progress and "theta" in modes and todo:
        _announce_theta_cost(raw, base_dir, todo, modes)
    with progress_bar(total=len(chunks), desc="sweep", enabled=progress, unit="chunk") as bar:
        bar.update(done)
        try:
            groups = _chunk_groups(todo, raw, base_dir, modes, chunk_size)
            if client is None:
                for group in groups:
                    _interrupt.check()  # a swallowed Ctrl-C: stop between chunks
                    if len(group) > 1:
                        try:
                            arrays = run_sweep_chunks(raw, str(base_dir),
                                                      [c.point for c in group],
                                                      [c.seeds for c in group], modes, **kwargs)
                        except (KeyboardInterrupt, OverlapflowError):
                            raise
                        except Exception:  # noqa: BLE001 - chunk by chunk: report the one
                            pass
                        else:
                            _interrupt.check()  # Ctrl-C during the chunks: do not store them
                            for chunk, arr in zip(group, arrays):
                                store(chunk, arr)
                            continue
                    for chunk in group:
                        _interrupt.check()
                        try:
                            arrays = run_sweep_chunk(raw, str(base_dir), chunk.point,
                                                     chunk.seeds, modes, **kwargs)
                        except (KeyboardInterrupt, OverlapflowError):
                            raise
                        except Exception as exc:  # noqa: BLE001 - reported, the others go on
                            result.failed.append((chunk.describe(),
                                                  f"{type(exc).__name__}: {exc}"))
                            continue
                        _interrupt.check()  # Ctrl-C during the chunk, swallowed: do not store it
                        store(chunk, arrays)
            else:
                from dask.distributed import as_completed

                futures = {
                    client.submit(_chunk_on_worker, float64_enabled(), raw, str(base_dir),
                                  [c.point for c in g], [c.seeds for c in g], modes, pure=False,
                                  threads=1, **kwargs): g
                    for g in groups
                }
                try:
                    for fut in as_completed(list(futures)):
                        group = futures[fut]
                        try:
                            arrays = fut.result()
                        except Exception as exc:  # noqa: BLE001 - a killed worker, a bad chunk
                            result.failed.extend((c.describe(), f"{type(exc).__name__}: {exc}")
                                                 for c in group)
                            continue
                        for chunk, arr in zip(group, arrays):
                            store(chunk, arr)
                finally:
                    for fut in futures:
                        fut.cancel()
            _interrupt.check()
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            with _interrupt.deferred():  # closing the cluster is not cut short by Ctrl-C
                if own_client is not None:
                    own_client.close()
                if cluster is not None:
                    cluster.close()
    if result.interrupted:
        result.wall_s = time.perf_counter() - t_start
        return result
    missing = [c for c in chunks if not (out / "chunks" / f"{c.id}.npz").is_file()]
    if not missing:
        _assemble(out, chunks, grid, modes, thresholds, raw, base_dir)
        result.complete = True
    result.wall_s = time.perf_counter() - t_start
    return result


def _remove_sweep_files(out: Path) -> None:
    """--overwrite: remove what an earlier sweep (or run) left in `out` (not the lock)."""
    import shutil

    for p in out.iterdir():
        if p.name == _LOCK:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
