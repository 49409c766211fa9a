"""``edge-detsam2 check-config --config FILE``: validate and print the resolved config."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from edge_detsam2.config import load_config
from edge_detsam2.geometry.calibration import load_calibration


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("check-config", help="validate a config file and print it resolved")
    p.add_argument("--config", type=Path, required=True, help="YAML config file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if cfg.table.calibration is not None:
        load_calibration(cfg.table.calibration)
    resolved = cfg.model_dump(mode="json")
    if resolved["source"].get("uri"):  # camera credentials are masked like the MQTT password
        from edge_detsam2.sources import redact

        resolved["source"]["uri"] = redact(resolved["source"]["uri"])
    print(yaml.safe_dump(resolved, sort_keys=False), end="")
    print(f"# {args.config}: OK")
    return 0
