"""Home Assistant MQTT discovery against a real broker: the configs, their templates, their removal.

Home Assistant itself cannot run here; the checks encode its documented discovery schema
(https://www.home-assistant.io/integrations/mqtt/ "MQTT Discovery", and the sensor.mqtt,
binary_sensor.mqtt and event.mqtt pages): topic shape, required keys, the keys each platform
accepts, unique ids, one device, the availability topic. Every value template is rendered
with Jinja2 (Home Assistant's template engine) against the payloads the daemon really
published, so an entity whose template does not fit the public topics fails here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jinja2
from daemon_helpers import Broker, read_jsonl, spawn, wait_until, write_config

PREFIX = "edge-detsam2"
TOPIC = re.compile(r"^homeassistant/(sensor|binary_sensor|event)/[a-zA-Z0-9_-]+/[a-zA-Z0-9_-]+/config$")
COMMON = {
    "availability", "availability_mode", "availability_template", "availability_topic", "device", "default_entity_id",
    "enabled_by_default", "encoding", "entity_category", "entity_picture", "icon", "json_attributes_template",
    "json_attributes_topic", "name", "object_id", "origin", "payload_available", "payload_not_available", "platform",
    "qos", "state_topic", "unique_id", "value_template",
}  # fmt: skip
ACCEPTED = {
    "sensor": COMMON | {"device_class", "expire_after", "force_update", "last_reset_value_template", "options",
                        "state_class", "suggested_display_precision", "unit_of_measurement"},
    "binary_sensor": COMMON | {"device_class", "expire_after", "force_update", "off_delay", "payload_off",
                               "payload_on"},
    "event": COMMON | {"device_class", "event_types"},
}  # fmt: skip
REQUIRED = {"sensor": {"state_topic"}, "binary_sensor": {"state_topic"}, "event": {"state_topic", "event_types"}}
DEVICE_KEYS = {
    "configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id", "name",
    "serial_number", "suggested_area", "sw_version", "via_device",
}  # fmt: skip


class Retained:
    """The last message of every topic under ``homeassistant/#`` and the prefix (retained ones at once)."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.latest: dict[str, str] = {}  # topic -> last payload (retained or live)
        self.lock = threading.Lock()
        done = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.on_connect = lambda cl, *a: (cl.subscribe([("homeassistant/#", 1), (f"{PREFIX}/#", 1)]), done.set())

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            with self.lock:
                self.latest[msg.topic] = msg.payload.decode()

        c.on_message = on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        assert done.wait(10)
        time.sleep(0.5)  # the broker sends retained messages right after SUBACK
        self.client = c

    def discovery(self) -> dict[str, str]:
        with self.lock:
            return {t: p for t, p in self.latest.items() if t.startswith("homeassistant/") and p}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def render(template: str, payload: str) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)  # a missing field fails, as HA logs it
    try:
        value_json = json.loads(payload)
    except ValueError:
        value_json = None
    return env.from_string(template).render(value=payload, value_json=value_json)


def check_schema(configs: dict[str, dict[str, Any]], table: str) -> None:
    unique_ids = [c["unique_id"] for c in configs.values()]
    assert len(set(unique_ids)) == len(unique_ids), "unique_id must be unique"
    devices = {json.dumps(c["device"], sort_keys=True) for c in configs.values()}
    assert len(devices) == 1, "one device per table"
    public = {f"{PREFIX}/{table}/{s}" for s in ("available", "events", "state", "status/camera", "stats")}
    for topic, cfg in configs.items():
        m = TOPIC.match(topic)
        assert m, topic
        component = m.group(1)
        assert REQUIRED[component] <= set(cfg), (topic, REQUIRED[component] - set(cfg))
        assert set(cfg) <= ACCEPTED[component], (topic, set(cfg) - ACCEPTED[component])
        node, object_id = topic.split("/")[2:4]
        assert cfg["unique_id"] == f"{node}_{object_id}"  # stable across restarts and tables
        assert cfg["device"]["identifiers"] and set(cfg["device"]) <= DEVICE_KEYS and cfg["device"]["name"]
        assert cfg["availability_topic"] == f"{PREFIX}/{table}/available"
        assert (cfg["payload_available"], cfg["payload_not_available"]) == ("online", "offline")
        assert cfg["state_topic"] in public and cfg.get("json_attributes_topic", cfg["state_topic"]) in public
        assert cfg["qos"] in (0, 1, 2) and cfg["name"]
        if component == "event":
            assert isinstance(cfg["event_types"], list) and all(isinstance(t, str) for t in cfg["event_types"])


def test_discovery_configs_follow_the_schema_fit_the_topics_and_are_removed(
    tmp_path: Path, sim_dir: Path, broker: Broker
) -> None:
    mqtt = {"enabled": True, "host": "127.0.0.1", "port": broker.port, "stats_interval_s": 0.3}
    on = write_config(tmp_path / "on.yaml", sim_dir, mqtt={**mqtt, "homeassistant": {"discovery": True}})
    watcher = Retained(broker.port)
    proc = spawn(on, "--events-out", str(tmp_path / "events.jsonl"))
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, log
    watcher.close()
    events = read_jsonl(tmp_path / "events.jsonl")

    seen = Retained(broker.port)  # what Home Assistant finds when it starts after the daemon
    configs = {t: json.loads(p) for t, p in seen.discovery().items()}
    seen.close()
    check_schema(configs, "t1")
    by_key = {t.split("/")[-2]: c for t, c in configs.items()}
    assert set(by_key) >= {"last_event", "shots", "balls_on_table", "balls_potted_this_shot", "fps", "outbox_backlog"}
    assert {"shot", "pot", "scratch"} <= set(by_key["table_event"]["event_types"])

    # every template renders against what the daemon really published, to the right values
    state = json.loads(watcher.latest[f"{PREFIX}/t1/state"])
    stats = json.loads(watcher.latest[f"{PREFIX}/t1/stats"])
    assert render(by_key["shots"]["value_template"], json.dumps(state)) == str(state["shots"])
    assert state["shots"] == sum(e["type"] == "shot" for e in events) >= 1
    assert render(by_key["balls_on_table"]["value_template"], json.dumps(state)) == str(len(state["balls"]))
    attrs = json.loads(render(by_key["balls_on_table"]["json_attributes_template"], json.dumps(state)))
    assert attrs["balls"] == [b["label"] for b in state["balls"]]
    last_shot = max(i for i, e in enumerate(events) if e["type"] == "shot")
    potted = [b for e in events[last_shot:] if e["type"] == "pot" for b in e["balls"]]
    assert state["potted_this_shot"] == potted
    assert render(by_key["balls_potted_this_shot"]["value_template"], json.dumps(state)) == str(len(potted))
    assert render(by_key["fps"]["value_template"], json.dumps(stats)) == str(stats["fps"])
    assert render(by_key["outbox_backlog"]["value_template"], json.dumps(stats)) == "0"
    for ev in events:
        payload = json.dumps(ev)
        assert render(by_key["last_event"]["value_template"], payload) == ev["type"]
        fired = json.loads(render(by_key["table_event"]["value_template"], payload))
        assert fired["event_type"] in by_key["table_event"]["event_types"] and fired["balls"] == ev["balls"]
        want = "scratch" if ev["type"] == "shot_end" and ev["summary"]["scratch"] else ev["type"]
        assert fired["event_type"] == want
    scratch = {**events[-1], "type": "shot_end", "summary": {**(events[-1].get("summary") or {}), "scratch": True}}
    assert json.loads(render(by_key["table_event"]["value_template"], json.dumps(scratch)))["event_type"] == "scratch"
    avail = by_key["shots"]["availability_template"]
    assert [render(avail, p) for p in ("online", "offline", "stopped")] == ["online", "offline", "offline"]
    camera = by_key["camera"]
    assert camera["state_topic"] == f"{PREFIX}/t1/status/camera" and camera["payload_on"] == "online"
    assert watcher.latest[camera["state_topic"]] == camera["payload_on"]

    # the command removes them at once (a table taken out of service)
    cmd = [sys.executable, "-m", "edge_detsam2", "discovery", "--config", str(on)]
    done = subprocess.run([*cmd, "--clear"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"removed {len(configs)}" in done.stdout
    assert wait_until(lambda: not _retained_discovery(broker.port), 10)

    # published by the command; a daemon started with discovery off clears them
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and len(_retained_discovery(broker.port)) == len(configs), done.stderr
    off = write_config(tmp_path / "off.yaml", sim_dir, mqtt=mqtt)
    proc = spawn(off)
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, log
    assert f"removed {len(configs)} discovery configs" in log, log
    assert not _retained_discovery(broker.port)
    assert not (tmp_path / "state" / "t1.ha-discovery.json").exists()


def _retained_discovery(port: int) -> dict[str, str]:
    r = Retained(port)
    out = r.discovery()
    r.close()
    return out
