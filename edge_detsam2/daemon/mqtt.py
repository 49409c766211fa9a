"""MQTT sink (paho-mqtt): the topics of INTERFACES.md, fed from the on-disk outbox.

- ``<prefix>/<table>/available``: retained; ``online`` on every connect once the models are
  loaded (``offline`` on a connect before that: the truth replaces a stale ``online`` left by
  a daemon that died while the broker was down), last will ``offline``, ``stopped`` on a
  clean exit, ``offline`` on an exit with an error.
- ``<prefix>/<table>/events``: QoS 1. Events are read from the outbox in ``seq`` order and
  deleted from it only on PUBACK. After a reconnect every undelivered event is published
  again, so a subscriber may see an event twice and de-duplicates by ``id``.
- ``status/camera`` and ``state``: retained, re-published on every connect; ``stats``:
  retained, QoS 0, every ``stats_interval_s``.
- Home Assistant discovery configs (``mqtt.homeassistant.discovery``, ``discovery.py``):
  retained, re-published on every connect before ``available``.

Paho's network loop reconnects with back-off (``reconnect_min_s`` .. ``reconnect_max_s``);
nothing here blocks the inference thread. A login refused at start is a configuration error;
refused after the daemon has been connected (a rotated password, a broker whose ACLs are not
loaded yet) it is retried like any outage, logged once per change and shown in ``stats``.
No exception can end paho's network thread: every callback is guarded, and an ack the outbox
could not record is retried (the event stays in the outbox until it is recorded).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from edge_detsam2.config import MqttSection
from edge_detsam2.daemon.outbox import Outbox
from edge_detsam2.errors import ConfigError

logger = logging.getLogger(__name__)

_AUTH_FAILURES = {134, 135, 4, 5}  # MQTT 5 codes and their MQTT 3.1.1 CONNACK counterparts

F = TypeVar("F", bound=Callable[..., Any])


def _guarded(callback: F) -> F:
    """A paho callback that logs its exception instead of ending the network thread."""

    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except Exception as exc:  # any failure here would stop all delivery silently
            logger.error("MQTT %s failed (%s: %s); delivery goes on", callback.__name__, type(exc).__name__, exc)
            return None

    return wrapper  # type: ignore[return-value]


def read_password(cfg: MqttSection) -> str | None:
    if cfg.password_file is not None:
        try:
            return cfg.password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"mqtt.password_file: cannot read {cfg.password_file} ({exc.strerror})") from None
    return cfg.password.get_secret_value() if cfg.password is not None else None


def configure_client(client: Any, cfg: MqttSection) -> None:
    """Credentials and TLS of ``mqtt.*`` on a paho client (the daemon's, the scoreboard's, discovery's)."""
    if cfg.username is not None:
        client.username_pw_set(cfg.username, read_password(cfg))
    if cfg.tls.enabled:
        client.tls_set(
            ca_certs=str(cfg.tls.ca_file) if cfg.tls.ca_file else None,
            certfile=str(cfg.tls.cert_file) if cfg.tls.cert_file else None,
            keyfile=str(cfg.tls.key_file) if cfg.tls.key_file else None,
        )
        client.tls_insecure_set(cfg.tls.insecure)


def connect_in_background(client: Any, cfg: MqttSection) -> str:
    """Start paho's network loop towards ``mqtt.host:port`` (it retries); returns ``host:port``."""
    where = f"{cfg.host}:{cfg.port}"
    try:
        client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"mqtt.host/mqtt.port {where}: {exc}") from None
    client.loop_start()
    return where


class MqttPublisher:
    """Owns the paho client and a publisher thread that drains the outbox."""

    def __init__(
        self,
        cfg: MqttSection,
        table_id: str,
        outbox: Outbox,
        *,
        stats: Callable[[], dict[str, Any]],
        state: Callable[[], dict[str, Any]],
        on_published: Callable[[float], None] | None = None,
        discovery: dict[str, str] | None = None,
    ) -> None:
        import paho.mqtt.client as mqtt

        self.cfg, self.outbox = cfg, outbox
        self._stats, self._state, self._on_published = stats, state, on_published
        self._discovery = discovery or {}  # Home Assistant discovery topic -> config JSON
        base = f"{cfg.prefix}/{table_id}"
        self.topic_available = f"{base}/available"
        self.topic_events = f"{base}/events"
        self.topic_state = f"{base}/state"
        self.topic_camera = f"{base}/status/camera"
        self.topic_stats = f"{base}/stats"
        self.connected = False
        self.connects = 0
        self.login_refused = False
        self.ack_failures = 0
        self._unrecorded_acks: dict[int, float] = {}  # seq -> capture wall: acked, not yet out of the outbox
        self.fatal: ConfigError | None = None
        self.camera_online: bool | None = None
        self.ready = False  # models loaded: 'online' from now on
        self._available_lock = threading.Lock()  # orders the 'available' publishes of connect and set_ready
        self._first_result = threading.Event()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._inflight: dict[int, tuple[int, float]] = {}  # mid -> (seq, capture wall)
        self._early_acks: set[int] = set()
        self.delivered = 0
        self._sent_up_to = 0  # highest seq published on the current connection
        self._generation = 0
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]
            client_id=cfg.client_id or f"edge-detsam2-{table_id}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.will_set(self.topic_available, "offline", qos=1, retain=True)
        configure_client(client, cfg)
        client.reconnect_delay_set(min_delay=cfg.reconnect_min_s, max_delay=cfg.reconnect_max_s)  # type: ignore[arg-type]
        client.max_inflight_messages_set(100)
        client.suppress_exceptions = True  # second line of defence behind _guarded
        client.on_connect = _guarded(self._on_connect)
        client.on_connect_fail = _guarded(self._on_connect_fail)
        client.on_disconnect = _guarded(self._on_disconnect)
        client.on_publish = _guarded(self._on_publish)
        self.client = client
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._stats_thread = threading.Thread(target=self._run_stats, name="mqtt-stats", daemon=True)
        self._last_state = 0.0

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; wait up to connect_timeout_s for the first answer."""
        where = connect_in_background(self.client, self.cfg)
        self._thread.start()
        self._stats_thread.start()
        self._first_result.wait(self.cfg.connect_timeout_s)
        if self.fatal is not None:
            self.close(clean=False)
            raise self.fatal
        if not self.connected:
            logger.error(
                "MQTT broker %s unreachable; events are kept in the outbox %s and published when it is back",
                where,
                self.outbox.path,
            )

    def close(self, *, clean: bool = True, drain_timeout_s: float = 0.0) -> int:
        """Drain the outbox (bounded wait), publish ``stopped``, disconnect. Returns undelivered count."""
        deadline = time.monotonic() + drain_timeout_s
        if self.outbox.count() and drain_timeout_s > 0:
            logger.info("delivering %d outbox events (up to %.0f s)", self.outbox.count(), drain_timeout_s)
        while self.outbox.count() and time.monotonic() < deadline and self.fatal is None:
            self.wake()
            time.sleep(0.05)
        self._stop.set()
        self.wake()
        if self.connected:
            # a clean DISCONNECT suppresses the last will: say 'offline' ourselves after an error
            self._publish_stats()
            info = self.client.publish(self.topic_available, "stopped" if clean else "offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2.0)
        self.client.disconnect()
        self.client.loop_stop()
        self._thread.join(timeout=2)
        return self.outbox.count()

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    # -- paho callbacks (network thread) ------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            code = int(reason.value)
            if code in _AUTH_FAILURES and self.connects == 0:
                self.fatal = ConfigError(
                    f"MQTT broker {self.cfg.host}:{self.cfg.port} refused the login ({reason}); "
                    "check mqtt.username and mqtt.password / mqtt.password_file"
                )
                client.disconnect()
            elif code in _AUTH_FAILURES:
                if not self.login_refused:  # once per change of state, not every retry
                    logger.error(
                        "MQTT broker %s:%d now refuses the login (%s); retrying every %.0f s at most, "
                        "events wait in the outbox %s",
                        self.cfg.host,
                        self.cfg.port,
                        reason,
                        self.cfg.reconnect_max_s,
                        self.outbox.path,
                    )
                self.login_refused = True
            else:
                logger.error("MQTT broker %s:%d refused the connection: %s", self.cfg.host, self.cfg.port, reason)
            self._first_result.set()
            return
        if self.login_refused:
            logger.info("MQTT broker %s:%d accepts the login again", self.cfg.host, self.cfg.port)
            self.login_refused = False
        with self._lock:
            self.connected = True
            self.connects += 1
            self._generation += 1
            self._sent_up_to = 0  # publish every undelivered event again on this connection
        logger.info("MQTT connected to %s:%d", self.cfg.host, self.cfg.port)
        for topic, config in self._discovery.items():  # before 'available', as Home Assistant expects
            client.publish(topic, config, qos=1, retain=True)
        with self._available_lock:
            client.publish(self.topic_available, "online" if self.ready else "offline", qos=1, retain=True)
        if self.camera_online is not None:
            client.publish(self.topic_camera, "online" if self.camera_online else "offline", qos=1, retain=True)
        client.publish(self.topic_state, json.dumps(self._state()), qos=1, retain=True)
        self._first_result.set()
        self.wake()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        logger.warning("MQTT broker %s:%d: connection failed; retrying", self.cfg.host, self.cfg.port)
        self._first_result.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._lock:
            was = self.connected
            self.connected = False
        if was and not self._stop.is_set():
            logger.warning("MQTT disconnected from %s:%d (%s); reconnecting", self.cfg.host, self.cfg.port, reason)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._lock:
            entry = self._inflight.pop(mid, None)
            if entry is None:  # PUBACK before publish() returned to the publisher thread
                if len(self._early_acks) > 1000:
                    self._early_acks.clear()
                self._early_acks.add(mid)
                return
        self._acked(*entry)

    @property
    def state_name(self) -> str:
        """``connected``, ``login_refused`` or ``disconnected`` (for stats and status)."""
        return "connected" if self.connected else "login_refused" if self.login_refused else "disconnected"

    def _acked(self, seq: int, capture_wall: float) -> None:
        try:
            self.outbox.ack(seq)
        except Exception as exc:  # e.g. "database is locked", an I/O error: record it later
            with self._lock:
                self.ack_failures += 1
                first = not self._unrecorded_acks
                self._unrecorded_acks[seq] = capture_wall
            if first:
                logger.error(
                    "outbox %s: cannot record the delivery of seq %d (%s); retrying, the event stays there meanwhile",
                    self.outbox.path,
                    seq,
                    exc,
                )
            return
        self.delivered += 1
        if self._on_published is not None:
            self._on_published(time.time() - capture_wall)

    def _retry_acks(self) -> None:
        with self._lock:
            todo = dict(self._unrecorded_acks)
        for seq, capture_wall in todo.items():
            try:
                self.outbox.ack(seq)
            except Exception:  # still failing: try again on the next round
                with self._lock:
                    self.ack_failures += 1
                return
            with self._lock:
                self._unrecorded_acks.pop(seq, None)
                cleared = not self._unrecorded_acks
            self.delivered += 1
            if self._on_published is not None:
                self._on_published(time.time() - capture_wall)
            if cleared:
                logger.info("outbox %s: deliveries recorded again", self.outbox.path)

    # -- publisher thread ---------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._publish_pending()
            except Exception as exc:  # an outbox read failing must not end delivery for good
                logger.error("MQTT publisher: %s: %s; retrying", type(exc).__name__, exc)
                self._stop.wait(1.0)

    def _publish_pending(self) -> None:
        with self._wake:
            self._wake.wait(timeout=0.5)
        if self._unrecorded_acks:
            self._retry_acks()
        while self.connected and not self._stop.is_set():
            with self._lock:
                after, generation = self._sent_up_to, self._generation
            rows = self.outbox.pending(after_seq=after, limit=100)
            if not rows:
                break
            for seq, payload, capture_wall in rows:
                if generation != self._generation or not self.connected:
                    break
                # never call paho while holding our lock: paho runs on_publish under its own
                info = self.client.publish(self.topic_events, payload, qos=1, retain=False)
                if info.rc != 0:  # not connected any more: the next connection re-sends
                    break
                with self._lock:
                    acked = info.mid in self._early_acks
                    if acked:
                        self._early_acks.discard(info.mid)
                    else:
                        self._inflight[info.mid] = (seq, capture_wall)
                    self._sent_up_to = seq
                if acked:
                    self._acked(seq, capture_wall)
                if len(self._inflight) > 5000:  # acks lost with an old connection
                    self._prune_inflight()

    def _prune_inflight(self) -> None:
        with self._lock:
            for mid in list(self._inflight)[:-1000]:
                del self._inflight[mid]

    def set_ready(self) -> None:
        """Models are loaded and frames flow: ``available`` becomes ``online``."""
        with self._available_lock:
            self.ready = True
            if self.connected:
                self.client.publish(self.topic_available, "online", qos=1, retain=True)

    def publish_camera(self, online: bool) -> None:
        self.camera_online = online
        if self.connected:
            self.client.publish(self.topic_camera, "online" if online else "offline", qos=1, retain=True)

    def publish_state(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.connected and (force or now - self._last_state >= self.cfg.state_interval_s):
            self._last_state = now
            self.client.publish(self.topic_state, json.dumps(self._state()), qos=1, retain=True)

    def _publish_stats(self) -> None:
        if self.connected:
            self.client.publish(self.topic_stats, json.dumps(self._stats()), qos=0, retain=True)

    def _run_stats(self) -> None:
        while not self._stop.wait(self.cfg.stats_interval_s):
            self._publish_stats()
