"""``edge-detsam2 tune``: grid search of event thresholds over simulated clips, with heatmaps."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge_detsam2.cli.eval import add_perturb_args, perturbation_from
from edge_detsam2.errors import UsageError
from edge_detsam2.evaluation.tune import grid_search, load_grid, plot_heatmaps


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("tune", help="grid-search event thresholds on simulated clips; JSON + heatmaps")
    p.add_argument("--clips", type=Path, required=True, help="directory of simulated clips")
    p.add_argument("--grid", type=Path, required=True, help="YAML mapping of events: keys to lists of values")
    p.add_argument("--config", type=Path, default=None, help="base config (values not in the grid)")
    p.add_argument(
        "--out", type=Path, default=Path("tune_results.json"), help="results JSON (default tune_results.json)"
    )
    p.add_argument("--plots", type=Path, default=None, help="directory for heatmap PNGs (one per parameter pair)")
    p.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    add_perturb_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_detsam2.config import AppConfig, load_config

    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    base = (load_config(args.config) if args.config else AppConfig()).events
    grid = load_grid(args.grid, base)
    pert = perturbation_from(args)
    results = grid_search(args.clips, base, grid, pert, args.workers)
    results.sort(key=lambda r: -r["macro_f1"])
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    best = results[0]
    print(f"{len(results)} combinations scored; results in {args.out}")
    print(f"best macro-F1 {best['macro_f1']:.4f} with {best['params']}")
    if args.plots is not None:
        for path in plot_heatmaps(results, grid, args.plots):
            print(f"heatmap: {path}")
    return 0
