"""The scoreboard's MQTT side: what every table on the broker is doing, from the public topics only.

``ScoreboardHub`` subscribes (paho, QoS 1, persistent session) to the five topics of
INTERFACES.md for every table under the prefix (``<prefix>/+/available`` ...), keeps one
``TableView`` per table, and hands each change to its listeners as a small JSON-able dict.
Events are de-duplicated by ``id`` (QoS 1 and the daemon's outbox may deliver one twice) and
kept in ``seq`` order, the last ``history`` of them; ``shot_end`` events are kept apart so a
page opened late still lists the finished shots. A malformed payload is logged once per
topic and counted (``bad_messages``), never fatal. The broker's own state is an update too
(``{"type": "broker", "online": false}``), so the page says "broker offline" while paho
reconnects with back-off.
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_detsam2.config import MqttSection
from edge_detsam2.daemon.mqtt import configure_client, connect_in_background
from edge_detsam2.errors import ConfigError

logger = logging.getLogger(__name__)

#: Topic suffixes of INTERFACES.md and the kind of update each one is.
KINDS = {"available": "available", "events": "event", "state": "state", "status/camera": "camera", "stats": "stats"}
SHOT_HISTORY = 100

Update = dict[str, Any]


@dataclass
class TableView:
    """One table as the scoreboard knows it."""

    table: str
    history: int
    available: str | None = None
    camera: str | None = None
    state: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # sorted by seq
    shots: list[dict[str, Any]] = field(default_factory=list)  # shot_end events, sorted by seq
    _seen: set[str] = field(default_factory=set)
    _seen_order: deque[str] = field(default_factory=deque)

    def add_event(self, ev: dict[str, Any]) -> bool:
        """Insert in ``seq`` order; False for a duplicate ``id``."""
        eid = str(ev["id"])
        if eid in self._seen:
            return False
        self._seen.add(eid)
        self._seen_order.append(eid)
        if len(self._seen_order) > 10 * self.history:  # remember ids well beyond the kept events
            self._seen.discard(self._seen_order.popleft())
        _insert_by_seq(self.events, ev, self.history)
        if ev.get("type") == "shot_end":
            _insert_by_seq(self.shots, ev, SHOT_HISTORY)
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "available": self.available,
            "camera": self.camera,
            "state": self.state,
            "stats": self.stats,
            "events": list(self.events),
            "shots": list(self.shots),
        }


def _insert_by_seq(items: list[dict[str, Any]], ev: dict[str, Any], keep: int) -> None:
    keys = [int(e["seq"]) for e in items]
    items.insert(bisect.bisect_right(keys, int(ev["seq"])), ev)
    del items[: max(0, len(items) - keep)]


def parse_event(payload: bytes) -> dict[str, Any]:
    """An event of INTERFACES.md, with the fields the scoreboard relies on checked."""
    ev = json.loads(payload)
    if not isinstance(ev, dict):
        raise ValueError("not a JSON object")
    for key, kind in (("id", (str, int)), ("seq", int), ("type", str), ("t", (int, float)), ("balls", list)):
        if not isinstance(ev.get(key), kind):
            raise ValueError(f"'{key}' missing or of the wrong type")
    return ev


class ScoreboardHub:
    """paho subscriber + per-table views; thread-safe; listeners get every change."""

    def __init__(self, mqtt: MqttSection, *, history: int = 500, client_id: str | None = None) -> None:
        import paho.mqtt.client as paho

        self.cfg, self.history = mqtt, history
        self.prefix = mqtt.prefix.rstrip("/")
        self.tables: dict[str, TableView] = {}
        self.broker_online = False
        self.bad_messages = 0
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Update], None]] = []
        self._first = threading.Event()
        self._refused: str | None = None
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]
            client_id=client_id or "edge-detsam2-scoreboard",
            protocol=paho.MQTTv311,
            clean_session=False,  # the broker queues QoS 1 events while the scoreboard restarts
        )
        configure_client(client, mqtt)
        client.reconnect_delay_set(min_delay=mqtt.reconnect_min_s, max_delay=mqtt.reconnect_max_s)  # type: ignore[arg-type]
        client.suppress_exceptions = True
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, wait_s: float = 5.0) -> None:
        """Connect in the background; a broker that is down now is retried (the page says so)."""
        where = connect_in_background(self.client, self.cfg)
        self._first.wait(wait_s)
        if self._refused is not None:
            self.close()
            raise ConfigError(
                f"MQTT broker {where} refused the scoreboard ({self._refused}); check mqtt.username/password"
            )
        if not self.broker_online:
            logger.warning("MQTT broker %s not reachable yet; retrying, the page shows 'broker offline'", where)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def add_listener(self, fn: Callable[[Update], None]) -> None:
        with self._lock:
            self._listeners.append(fn)

    def snapshot(self) -> Update:
        with self._lock:
            return {
                "type": "snapshot",
                "broker_online": self.broker_online,
                "bad_messages": self.bad_messages,
                "tables": {k: v.to_dict() for k, v in sorted(self.tables.items())},
            }

    # -- paho callbacks (network thread) ---------------------------------------------------
    def _emit(self, update: Update) -> None:
        for fn in list(self._listeners):
            try:
                fn(update)
            except Exception as exc:  # a listener must not stop the network thread
                logger.error("scoreboard listener failed: %s: %s", type(exc).__name__, exc)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            if int(reason.value) in (4, 5, 134, 135):
                self._refused = str(reason)
            logger.error("MQTT broker %s:%d refused the connection: %s", self.cfg.host, self.cfg.port, reason)
            self._first.set()
            return
        topics = [(f"{self.prefix}/+/{suffix}", 1) for suffix in KINDS]
        client.subscribe(topics)
        logger.info("scoreboard subscribed to %s/+/... on %s:%d", self.prefix, self.cfg.host, self.cfg.port)
        with self._lock:
            self.broker_online = True
        self._emit({"type": "broker", "online": True})
        self._first.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._lock:
            was, self.broker_online = self.broker_online, False
        if was:
            logger.warning("MQTT broker %s:%d lost (%s); reconnecting", self.cfg.host, self.cfg.port, reason)
            self._emit({"type": "broker", "online": False})

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        topic: str = msg.topic
        if not topic.startswith(self.prefix + "/"):
            return
        table, _, suffix = topic[len(self.prefix) + 1 :].partition("/")
        kind = KINDS.get(suffix)
        if kind is None or not table:
            return
        try:
            update = self._apply(table, kind, msg.payload)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            with self._lock:
                self.bad_messages += 1
                count = self.bad_messages
            if topic not in self._warned:  # once per topic, not per message
                self._warned.add(topic)
                logger.warning("ignoring a malformed message on %s (%s); further ones are only counted", topic, exc)
            self._emit({"type": "bad_message", "topic": topic, "count": count})
            return
        if update is not None:
            self._emit(update)

    def _apply(self, table: str, kind: str, payload: bytes) -> Update | None:
        value: Any
        if kind in ("available", "camera"):
            value = payload.decode()
        elif kind == "event":
            value = parse_event(payload)
        else:
            value = json.loads(payload) if payload else None
            if value is not None and not isinstance(value, dict):
                raise ValueError("not a JSON object")
        with self._lock:
            view = self.tables.get(table)
            if view is None:
                view = self.tables[table] = TableView(table, self.history)
            if kind == "event":
                if not view.add_event(value):
                    return None
            else:
                setattr(view, kind, value)
        return {"type": kind, "table": table, "value": value, "received": round(time.time(), 3)}


__all__ = ["KINDS", "ScoreboardHub", "TableView", "parse_event"]
