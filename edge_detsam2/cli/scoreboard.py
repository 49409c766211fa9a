"""``edge-detsam2 scoreboard [--config FILE] [--bind HOST:PORT] [--broker HOST:PORT]``: the web scoreboard."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from edge_detsam2.errors import UsageError

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "scoreboard",
        help="live web scoreboard of every table on the broker (a client of the public MQTT topics)",
        description="Serve a live page (table diagram, events, shots, stats) for the tables under the "
        "config's MQTT prefix. Binds to 127.0.0.1:8080 unless --bind or scoreboard.bind says otherwise.",
    )
    p.add_argument("--config", type=Path, default=None, help="YAML config: mqtt.* and scoreboard.* (default: built-in)")
    p.add_argument("--bind", default=None, help="host:port to serve on (default: scoreboard.bind, 127.0.0.1:8080)")
    p.add_argument("--broker", default=None, help="host:port of the MQTT broker (overrides mqtt.host/mqtt.port)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_detsam2.config import AppConfig, load_config
    from edge_detsam2.daemon.broker import host_port

    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise UsageError("the scoreboard needs aiohttp: pip install 'edge-detsam2[scoreboard]'") from None
    from edge_detsam2.scoreboard.server import ScoreboardServer

    cfg = load_config(args.config) if args.config else AppConfig()
    if args.broker is not None:
        host, port = host_port(args.broker, "--broker", "127.0.0.1:1883")
        cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"host": host, "port": port})})
    server = ScoreboardServer(cfg, bind=args.bind)
    print(f"scoreboard: {server.url} (broker {cfg.mqtt.host}:{cfg.mqtt.port}, prefix {cfg.mqtt.prefix}); Ctrl-C stops")
    server.serve_forever()
    return 0
