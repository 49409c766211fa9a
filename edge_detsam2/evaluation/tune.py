"""Grid search of event thresholds over simulated clips, with heatmaps.

The counterpart of Det-SAM2's ``eval_det-sam2.py`` + ``result_visualize.py``, for the
event engine: every combination of the grid is scored (time-aware matching), results go
to a JSON list, and for each pair of swept parameters a heatmap of F1 per event type
(mean over the other parameters) is drawn.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edge_detsam2.errors import ConfigError
from edge_detsam2.evaluation.perturb import Perturbation
from edge_detsam2.events.params import EventParams
from edge_detsam2.progress import Progress

COLUMNS = ("macro", "shot", "collision", "rebound", "pot", "shot_end")


def load_grid(path: Path, base: EventParams) -> dict[str, list[Any]]:
    try:
        grid = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--grid {path}: cannot read ({exc})") from None
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f"--grid {path}: must map event parameter names to lists of values")
    for key, values in grid.items():
        if key not in EventParams.model_fields:
            raise ConfigError(f"--grid {path}: unknown parameter {key!r}; use keys of the events: config section")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"--grid {path}: {key} must be a non-empty list")
        for v in values:
            try:
                EventParams.model_validate({**base.model_dump(), key: v})
            except ValidationError as exc:
                msg = exc.errors()[0]["msg"]
                raise ConfigError(f"--grid {path}: {key}={v!r} is invalid ({msg})") from None
    return grid


def _score_one(job: tuple[Path, dict[str, Any], dict[str, Any], Perturbation]) -> dict[str, Any]:
    from edge_detsam2.evaluation.runner import evaluate, find_clips

    clips_dir, base, combo, pert = job
    params = EventParams.model_validate({**base, **combo})
    ev = evaluate(find_clips(clips_dir), params, pert)
    d = ev.total.to_dict()
    return {"params": combo, "macro_f1": d["macro_f1"], "mean_abs_dt_s": d["mean_abs_dt_s"], "types": d["types"]}


def grid_search(
    clips_dir: Path, base: EventParams, grid: dict[str, list[Any]], pert: Perturbation, workers: int
) -> list[dict[str, Any]]:
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    jobs = [(clips_dir, base.model_dump(), c, pert) for c in combos]
    results: list[dict[str, Any]] = []
    with Progress(len(jobs), "tune") as progress:
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for res in pool.map(_score_one, jobs):
                    results.append(res)
                    progress.update()
        else:
            for job in jobs:
                results.append(_score_one(job))
                progress.update()
    return results


def _value(res: dict[str, Any], column: str) -> float:
    return float(res["macro_f1"] if column == "macro" else res["types"][column]["f1"])


def plot_heatmaps(results: Sequence[dict[str, Any]], grid: dict[str, list[Any]], out_dir: Path) -> list[Path]:
    """One PNG per pair of swept parameters: F1 per event type, mean over the other parameters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    swept = [k for k, v in grid.items() if len(v) > 1]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for a, b in itertools.combinations(swept, 2):
        fig, axes = plt.subplots(1, len(COLUMNS), figsize=(3.2 * len(COLUMNS), 3.2), constrained_layout=True)
        for ax, col in zip(axes, COLUMNS, strict=True):
            mat = np.zeros((len(grid[a]), len(grid[b])))
            for i, va in enumerate(grid[a]):
                for j, vb in enumerate(grid[b]):
                    vals = [_value(r, col) for r in results if r["params"][a] == va and r["params"][b] == vb]
                    mat[i, j] = float(np.mean(vals))
            ax.imshow(mat, cmap="YlGnBu", vmin=0.0, vmax=1.0, origin="lower")
            for i in range(mat.shape[0]):
                for j in range(mat.shape[1]):
                    colour = "white" if mat[i, j] > 0.6 else "black"  # readable on dark and light cells
                    ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=8, color=colour)
            ax.set_xticks(range(len(grid[b])), [str(v) for v in grid[b]], fontsize=7)
            ax.set_yticks(range(len(grid[a])), [str(v) for v in grid[a]], fontsize=7)
            ax.set_xlabel(b, fontsize=8)
            ax.set_ylabel(a, fontsize=8)
            ax.set_title(f"F1 {col}", fontsize=9)
        path = out_dir / f"f1_heatmap_{a}__{b}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
