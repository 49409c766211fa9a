"""Home Assistant MQTT discovery: one device per table, entities that read the public topics.

Home Assistant's documented discovery scheme (https://www.home-assistant.io/integrations/mqtt/,
"MQTT Discovery"): a retained JSON config per entity on
``<discovery prefix>/<component>/<node id>/<object id>/config``; node and object ids use only
``[a-zA-Z0-9_-]``; an empty retained payload on the same topic removes the entity. Every
entity here has a ``unique_id``, the same ``device`` block (so Home Assistant groups them as
one device per table) and ``<prefix>/<table>/available`` as its availability topic. The
daemon publishes ``online``, ``offline`` (last will) and ``stopped`` there; the availability
template maps everything but ``online`` to ``offline``.

No entity needs a topic of its own: values come from ``state`` (retained), ``stats``
(retained) and ``events`` through value templates, so Home Assistant is one more client of
INTERFACES.md, like the scoreboard.

The daemon publishes the configs on every connect when ``mqtt.homeassistant.discovery`` is
on and records their topics in ``<state dir>/<table>.ha-discovery.json``; a later start with
discovery off clears the recorded topics, and ``edge-detsam2 discovery --clear`` clears them
at once.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path
from typing import Any

from edge_detsam2 import __version__
from edge_detsam2.config import MqttSection
from edge_detsam2.errors import EdgeDetSam2Error

logger = logging.getLogger(__name__)

#: What the event entity reports: the event types of INTERFACES.md, plus ``scratch`` for a
#: ``shot_end`` whose summary says the cue ball was potted.
EVENT_TYPES = ("shot", "collision", "rebound", "pot", "shot_end", "scratch")

_EVENT_TEMPLATE = (
    "{% set t = 'scratch' if value_json.type == 'shot_end' and value_json.summary.scratch else value_json.type %}"
    '{{ {"event_type": t, "balls": value_json.balls, "seq": value_json.seq, "t": value_json.t} | tojson }}'
)


def node_id(table_id: str) -> str:
    """The discovery node id of a table: ``edge_detsam2_<table>`` in ``[a-zA-Z0-9_-]``."""
    return "edge_detsam2_" + re.sub(r"[^a-zA-Z0-9_-]", "_", table_id)


def discovery_configs(mqtt: MqttSection, table_id: str) -> dict[str, dict[str, Any]]:
    """Discovery topic -> config payload for every entity of the table's device."""
    ha = mqtt.homeassistant
    node = node_id(table_id)
    base = f"{mqtt.prefix}/{table_id}"
    device = {
        "identifiers": [node],
        "name": ha.device_name or f"Pool table {table_id}",
        "manufacturer": "edge-detsam2",
        "model": "edge-detsam2 table camera",
        "sw_version": __version__,
    }
    common: dict[str, Any] = {
        "availability_topic": f"{base}/available",
        "availability_template": "{{ 'online' if value == 'online' else 'offline' }}",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
        "origin": {"name": "edge-detsam2", "sw_version": __version__},
        "qos": 1,
    }
    entities: list[tuple[str, str, dict[str, Any]]] = [
        (
            "sensor",
            "last_event",
            {
                "name": "Last event",
                "state_topic": f"{base}/events",
                "value_template": "{{ value_json.type }}",
                "json_attributes_topic": f"{base}/events",
                "json_attributes_template": '{{ {"balls": value_json.balls, "seq": value_json.seq} | tojson }}',
                "icon": "mdi:billiards",
            },
        ),
        (
            "sensor",
            "shots",
            {
                "name": "Shots",
                "state_topic": f"{base}/state",
                "value_template": "{{ value_json.shots }}",
                "state_class": "total_increasing",
                "icon": "mdi:billiards",
            },
        ),
        (
            "sensor",
            "balls_on_table",
            {
                "name": "Balls on table",
                "state_topic": f"{base}/state",
                "value_template": "{{ value_json.balls | length }}",
                "json_attributes_topic": f"{base}/state",
                "json_attributes_template": (
                    "{{ {\"balls\": value_json.balls | map(attribute='label') | list} | tojson }}"
                ),
                "state_class": "measurement",
                "icon": "mdi:billiards-rack",
            },
        ),
        (
            "sensor",
            "balls_potted_this_shot",
            {
                "name": "Balls potted this shot",
                "state_topic": f"{base}/state",
                "value_template": "{{ value_json.potted_this_shot | length }}",
                "json_attributes_topic": f"{base}/state",
                "json_attributes_template": '{{ {"balls": value_json.potted_this_shot} | tojson }}',
                "state_class": "measurement",
                "icon": "mdi:billiards",
            },
        ),
        (
            "sensor",
            "fps",
            {
                "name": "Frames per second",
                "state_topic": f"{base}/stats",
                "value_template": "{{ value_json.fps }}",
                "unit_of_measurement": "fps",
                "state_class": "measurement",
                "entity_category": "diagnostic",
                "icon": "mdi:speedometer",
            },
        ),
        (
            "sensor",
            "outbox_backlog",
            {
                "name": "Outbox backlog",
                "state_topic": f"{base}/stats",
                "value_template": "{{ value_json.outbox_pending }}",
                "unit_of_measurement": "events",
                "state_class": "measurement",
                "entity_category": "diagnostic",
                "icon": "mdi:tray-full",
            },
        ),
        (
            "binary_sensor",
            "camera",
            {
                "name": "Camera",
                "state_topic": f"{base}/status/camera",
                "payload_on": "online",
                "payload_off": "offline",
                "device_class": "connectivity",
                "entity_category": "diagnostic",
            },
        ),
        (
            "event",
            "table_event",
            {
                "name": "Table event",
                "state_topic": f"{base}/events",
                "event_types": list(EVENT_TYPES),
                "value_template": _EVENT_TEMPLATE,
                "icon": "mdi:billiards",
            },
        ),
    ]
    out: dict[str, dict[str, Any]] = {}
    for component, key, config in entities:
        unique_id = f"{node}_{key}"
        out[f"{ha.prefix}/{component}/{node}/{key}/config"] = {**config, "unique_id": unique_id, **common}
    return out


def marker_path(state_dir: Path, table_id: str) -> Path:
    """Where the daemon records the discovery topics it published (so they can be cleared)."""
    return state_dir / f"{table_id}.ha-discovery.json"


def record_topics(state_dir: Path, table_id: str, topics: list[str]) -> None:
    path = marker_path(state_dir, table_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"topics": topics}) + "\n")
    tmp.replace(path)


def recorded_topics(state_dir: Path, table_id: str) -> list[str]:
    path = marker_path(state_dir, table_id)
    try:
        data = json.loads(path.read_text())
        return [str(t) for t in data["topics"]]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("%s: unreadable (%s); ignoring it", path, exc)
        return []


def publish_once(mqtt: MqttSection, table_id: str, payloads: dict[str, str], timeout_s: float = 10.0) -> None:
    """Publish retained ``payloads`` (topic -> text; ``""`` removes) with QoS 1 and wait for every PUBACK."""
    import paho.mqtt.client as paho

    from edge_detsam2.daemon.mqtt import configure_client

    where = f"{mqtt.host}:{mqtt.port}"
    connected = threading.Event()
    refused: list[str] = []
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]
        client_id=f"{mqtt.client_id or 'edge-detsam2-' + table_id}-discovery",
        protocol=paho.MQTTv311,
    )
    configure_client(client, mqtt)

    def on_connect(cl: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(mqtt.host, mqtt.port, keepalive=mqtt.keepalive_s)
    except (OSError, ValueError) as exc:
        raise EdgeDetSam2Error(f"MQTT broker {where}: {exc}") from None
    client.loop_start()
    try:
        if not connected.wait(timeout_s):
            raise EdgeDetSam2Error(f"MQTT broker {where} did not answer within {timeout_s:.0f} s")
        if refused:
            raise EdgeDetSam2Error(f"MQTT broker {where} refused the connection ({refused[0]}); check mqtt.*")
        infos = [client.publish(topic, payload, qos=1, retain=True) for topic, payload in payloads.items()]
        for info in infos:
            info.wait_for_publish(timeout=timeout_s)
            if not info.is_published():
                raise EdgeDetSam2Error(f"MQTT broker {where} did not acknowledge the discovery messages")
    finally:
        client.disconnect()
        client.loop_stop()


def clear_recorded(mqtt: MqttSection, table_id: str, state_dir: Path) -> int:
    """Remove the discovery configs a run with discovery on published; the number cleared.

    The record is deleted only after the broker acknowledged every removal; a broker that
    cannot be reached is logged and tried again at the next start.
    """
    topics = recorded_topics(state_dir, table_id)
    if not topics:
        return 0
    try:
        publish_once(mqtt, table_id, dict.fromkeys(topics, ""))
    except EdgeDetSam2Error as exc:
        logger.warning("Home Assistant discovery is off but %d configs could not be removed yet: %s", len(topics), exc)
        return 0
    marker_path(state_dir, table_id).unlink(missing_ok=True)
    logger.info("Home Assistant discovery is off: removed %d discovery configs of table %s", len(topics), table_id)
    return len(topics)


__all__ = [
    "EVENT_TYPES",
    "clear_recorded",
    "discovery_configs",
    "marker_path",
    "node_id",
    "publish_once",
    "record_topics",
    "recorded_topics",
]
