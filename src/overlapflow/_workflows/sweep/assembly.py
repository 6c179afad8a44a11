"""Assembling a finished sweep: sweep.csv (one row per run), runs.npz and sweep.png."""

from __future__ import annotations

import csv
import io
import math
import zipfile
from pathlib import Path

import numpy as np

from ..._support.errors import ConfigError
from ..._support.io import atomic_group, write_atomic, write_npz_atomic
from .grid import _point_config


def _fmt_thr(thr: float) -> str:
    return f"{thr:.0e}"


def _assemble(out: Path, chunks, grid, modes, thresholds, raw, base_dir) -> None:
    """Write sweep.csv (one row per run) and runs.npz from every chunk file, atomically; then
    sweep.png (`_draw`)."""
    keys = [k for k, _ in grid]
    data = []
    for c in chunks:
        path = out / "chunks" / f"{c.id}.npz"
        try:
            with np.load(path, allow_pickle=False) as f:
                data.append((c, {k: np.asarray(f[k]) for k in f.files}))
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"chunk file {path} is corrupt ({type(exc).__name__}: {exc}); "
                              "delete it and run the same command again to recompute it") from None
    E1 = max(d[f"loss_{m}"].shape[1] for _, d in data for m in modes)
    P = max(d[f"sigma_final_{m}"].shape[-1] for _, d in data for m in modes)
    config = _point_config(raw, base_dir, data[0][0].point, modes)
    names = config.network.vector_names
    header = list(keys) + ["seed"]
    for m in modes:
        header += [f"final_loss_{m}", f"diverged_{m}"]
        header += [f"epochs_to_{_fmt_thr(t)}_{m}" for t in thresholds]
        header += [f"invariant_drift_{m}", f"wall_time_s_{m}"]
        if "theta" in modes and m != "theta":
            header += [f"max_rel_loss_diff_{m}", f"max_abs_sigma_diff_{m}"]
    rows, arrays = [], {f"loss_{m}": [] for m in modes}
    arrays.update({f"sigma_final_{m}": [] for m in modes})
    grid_vals, seeds_all = [], []
    columns = {k: [] for k in keys}  # each run's grid values, as given (the figure's axes)
    final = {m: [] for m in modes}  # each run's final loss, NaN where it diverged
    for c, d in data:
        for i, seed in enumerate(d["seeds"]):
            row = [c.point[k] for k in keys] + [int(seed)]
            grid_vals.append([str(c.point[k]) for k in keys])
            for k in keys:
                columns[k].append(c.point[k])
            seeds_all.append(int(seed))
            for m in modes:
                loss = d[f"loss_{m}"][i]
                finite = loss[np.isfinite(loss)]
                row += [_num(finite[-1] if finite.size else np.nan),
                        "" if d[f"diverged_{m}"][i] < 0 else int(d[f"diverged_{m}"][i])]
                final[m].append(finite[-1] if finite.size and d[f"diverged_{m}"][i] < 0
                                else np.nan)
                for t in thresholds:
                    hit = np.nonzero(loss <= t)[0]
                    row.append(int(hit[0]) if hit.size else "")
                row += [_num(d[f"drift_{m}"][i]), _num(d[f"wall_s_{m}"][i])]
                if "theta" in modes and m != "theta":
                    row += [_num(d[f"max_rel_loss_diff_{m}"][i]), _num(d[f"max_abs_sigma_diff_{m}"][i])]
                curve = np.full(E1, np.nan)
                curve[: loss.shape[0]] = loss
                arrays[f"loss_{m}"].append(curve)
                sig = np.full((P, P), np.nan)
                s = d[f"sigma_final_{m}"][i]
                sig[: s.shape[0], : s.shape[1]] = s
                arrays[f"sigma_final_{m}"].append(sig)
            rows.append(row)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue().encode()
    npz = {k: np.stack(v) for k, v in arrays.items()}
    with atomic_group():  # sweep.csv and runs.npz together, or neither
        write_atomic(out / "sweep.csv", ".csv", lambda fh: fh.write(text))
        write_npz_atomic(
            out / "runs.npz",
            grid_keys=np.array(keys, dtype=str),
            grid_values=np.array(grid_vals, dtype=str).reshape(len(seeds_all), len(keys)),
            seed=np.array(seeds_all, dtype=np.int64),
            epochs=np.arange(E1),
            names=np.array(names, dtype=str),
            **npz,
        )
    _draw(out / "sweep.png", columns, {m: np.array(v, dtype=float) for m, v in final.items()},
          config=config, modes=modes, epochs=E1 - 1, n_seeds=len(set(seeds_all)))


def _draw(path: Path, columns: dict, final: dict, *, config, modes, epochs, n_seeds) -> None:
    """sweep.png (`_plots.sweep`); without matplotlib, or if drawing fails, a note on stderr:
    the numbers are written already."""
    import sys

    from ..._support.errors import OverlapflowError
    from ..._support.extras import has_module

    path.unlink(missing_ok=True)  # never leave the figure of an earlier sweep
    if not has_module("matplotlib"):
        print("overlapflow: note: sweep.png not drawn: matplotlib is not installed "
              "(pip install \"overlapflow[plots]\")", file=sys.stderr)
        return
    from ..._plots.style import mode_label
    from ..._plots.sweep import plot_sweep

    diverged = {m: int(np.sum(np.isnan(v))) for m, v in final.items()}
    try:
        plot_sweep(path, columns, final, labels={m: mode_label(m, linear=config.network.is_linear)
                                                 for m in modes},
                   epochs=epochs, loss_kind=config.loss, n_seeds=n_seeds, diverged=diverged)
    except (KeyboardInterrupt, OverlapflowError):
        raise
    except Exception as exc:  # noqa: BLE001 - the numbers matter more than the picture
        print(f"overlapflow: note: sweep.png not drawn ({type(exc).__name__}: {exc})",
              file=sys.stderr)


def _num(x) -> str:
    x = float(x)
    return repr(x) if math.isfinite(x) else ""
