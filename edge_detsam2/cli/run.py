"""``edge-detsam2 run --config FILE [--source URI] [--table FILE] [--events-out FILE]``: the daemon."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "run",
        help="the daemon: camera in, events out over MQTT",
        description="Run the appliance on one table. With a file source it exits 0 at end of file after "
        "flushing and delivering all events.",
    )
    p.add_argument("--config", type=Path, required=True, help="YAML config (configs/default.yaml documents it)")
    p.add_argument("--source", default=None, help="override source.uri: file, rtsp://..., v4l2:///dev/video0, index")
    p.add_argument("--table", type=Path, default=None, help="override table.calibration")
    p.add_argument("--events-out", type=Path, default=None, help="also write events JSONL here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_detsam2.config import load_config
    from edge_detsam2.daemon.daemon import Daemon

    cfg = load_config(args.config)
    updates: dict[str, Any] = {}
    if args.source is not None:
        updates["source"] = cfg.source.model_copy(update={"uri": args.source})
    if args.table is not None:
        updates["table"] = cfg.table.model_copy(update={"calibration": args.table.resolve()})
    if args.events_out is not None:
        updates["outputs"] = cfg.outputs.model_copy(update={"events_jsonl": args.events_out.resolve()})
    cfg = cfg.model_copy(update=updates)
    if args.log_level is None:  # an explicit --log-level wins over the config
        logging.getLogger().setLevel(cfg.logging.level)
    for name, level in cfg.logging.modules.items():
        logging.getLogger(name).setLevel(level)
    daemon = Daemon(cfg)
    daemon.install_signal_handlers()
    return daemon.run()
