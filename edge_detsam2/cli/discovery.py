"""``edge-detsam2 discovery --config FILE [--clear]``: Home Assistant discovery configs, now."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "discovery",
        help="publish (or --clear) the table's Home Assistant MQTT discovery configs",
        description="The daemon publishes the configs itself when mqtt.homeassistant.discovery is on. This "
        "command publishes them once without the daemon, or removes them (--clear), e.g. for a table taken "
        "out of service.",
    )
    p.add_argument("--config", type=Path, required=True, help="YAML config: table.id, mqtt.*")
    p.add_argument("--clear", action="store_true", help="remove the table's discovery configs from the broker")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_detsam2.config import load_config
    from edge_detsam2.daemon import discovery
    from edge_detsam2.daemon.daemon import state_dir

    cfg = load_config(args.config)
    configs = discovery.discovery_configs(cfg.mqtt, cfg.table.id)
    where = f"{cfg.mqtt.host}:{cfg.mqtt.port}"
    if args.clear:
        topics = sorted({*configs, *discovery.recorded_topics(state_dir(cfg), cfg.table.id)})
        discovery.publish_once(cfg.mqtt, cfg.table.id, dict.fromkeys(topics, ""))
        discovery.marker_path(state_dir(cfg), cfg.table.id).unlink(missing_ok=True)
        print(f"removed {len(topics)} Home Assistant discovery configs of table {cfg.table.id} at {where}")
        return 0
    discovery.publish_once(cfg.mqtt, cfg.table.id, {t: json.dumps(c) for t, c in configs.items()})
    discovery.record_topics(state_dir(cfg), cfg.table.id, sorted(configs))
    print(f"published {len(configs)} Home Assistant discovery configs of table {cfg.table.id} at {where}:")
    for topic in configs:
        print(f"  {topic}")
    return 0
