"""The daemon: a frame source -> the pipeline -> outbox -> MQTT and local sinks.

The pipeline (``edge_detsam2.pipeline``) turns frames into tracks and events; the daemon
keeps only what runs around it: threads, the outbox, MQTT, the sinks, stats and the
watchdog. Threads: capture (owned by the source: a file reader with back-pressure, or a
live capture with reconnects, latest frame wins), inference (the caller's thread), MQTT
network + publisher, watchdog, one per local sink.

Every event is stored in the SQLite outbox before anything publishes it, so broker outages
and restarts lose nothing, and ``seq`` continues across restarts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from edge_detsam2 import __version__
from edge_detsam2.config import AppConfig
from edge_detsam2.daemon import discovery
from edge_detsam2.daemon.mqtt import MqttPublisher
from edge_detsam2.daemon.notify import Notifier
from edge_detsam2.daemon.outbox import Outbox, OutboxError
from edge_detsam2.daemon.sinks import ThreadSink, events_jsonl_sink, tracks_jsonl_sink, video_sink
from edge_detsam2.errors import ConfigError, EdgeDetSam2Error
from edge_detsam2.events.types import Event, EventType
from edge_detsam2.perception import Perception
from edge_detsam2.pipeline import Pipeline, build_pipeline
from edge_detsam2.sources import FrameSource, open_source, redact
from edge_detsam2.tracks import TrackFrame

logger = logging.getLogger(__name__)


class DeliveryError(EdgeDetSam2Error):
    """Events are still in the outbox at the end of a file run (exit status 1)."""


class SinkError(EdgeDetSam2Error):
    """A local output (events/tracks JSONL, video) could not write some items (exit status 1)."""


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB (Linux /proc)."""
    cur = peak = 0.0
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    cur = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return cur, peak


def state_dir(cfg: AppConfig) -> Path:
    if cfg.daemon.state_dir is not None:
        return cfg.daemon.state_dir
    env = os.environ.get("STATE_DIRECTORY")  # systemd StateDirectory=
    return Path(env.split(":")[0]) if env else Path("state")


class _Ema:
    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha
        self.value: float | None = None

    def add(self, x: float) -> None:
        self.value = x if self.value is None else self.value + self.alpha * (x - self.value)


class Daemon:
    """One table, one camera. ``run()`` blocks until end of file or ``stop()``; returns the exit code."""

    def __init__(
        self,
        cfg: AppConfig,
        *,
        perception: Perception | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.cfg = cfg
        self.notifier = notifier or Notifier()
        self._perception = perception  # injected (tests); else built from the config
        self._stop = threading.Event()
        self._beat = time.monotonic()
        self._started = time.monotonic()
        self.frames = 0
        self.events_count = 0
        self._fps = _Ema(0.05)
        self._stage = {k: _Ema() for k in ("capture_wait", "perception", "events", "frame")}
        self._stage_extra: dict[str, _Ema] = {}
        self._latency: deque[float] = deque(maxlen=1000)
        self._capture_walls: deque[tuple[int, float]] = deque(maxlen=4096)
        self._last_tracks: TrackFrame | None = None
        self.shots = 0  # shot events since start (state 'shots')
        self._potted_this_shot: list[str] = []  # balls potted since the last shot event
        self.source: FrameSource | None = None
        self.pipeline: Pipeline | None = None
        self.mqtt: MqttPublisher | None = None
        self.sinks: list[ThreadSink] = []
        self._events_sink: ThreadSink | None = None
        self._tracks_sink: ThreadSink | None = None
        self._discovery_clear: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------
    def stop(self) -> None:
        """Request a clean stop (SIGTERM/SIGINT): drain, flush, publish ``stopped``."""
        if not self._stop.is_set():
            logger.info("stop requested; draining")
            self._stop.set()
            if self.source is not None:
                self.source.stop()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    # -- observability ---------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        cur, peak = rss_mb()
        lat = list(self._latency)
        src = self.source.counters() if self.source is not None else None
        pipe = self.pipeline.counters() if self.pipeline is not None else {}
        emas = {**self._stage, **self._stage_extra}
        stages = {k: round(v.value, 2) for k, v in emas.items() if v.value is not None}
        return {
            "version": __version__,
            "uptime_s": round(time.monotonic() - self._started, 1),
            "fps": round(self._fps.value or 0.0, 2),
            "frames": self.frames,
            "dropped_frames": src.dropped if src else 0,
            "undecodable_frames": src.undecodable if src else 0,
            "stage_ms": stages,
            "label_changes": pipe.get("label_changes", 0),
            "duplicates_dropped": pipe.get("duplicates_dropped", 0),
            "detections_rejected": pipe.get("detections_rejected", 0),
            "masks_jumped": pipe.get("masks_jumped", 0),
            "jumps_ignored": pipe.get("jumps_ignored", 0),
            "repots_ignored": pipe.get("repots_ignored", 0),
            "pots_vetoed": pipe.get("pots_vetoed", 0),
            "restrikes_merged": pipe.get("restrikes_merged", 0),
            "departure_shots": pipe.get("departure_shots", 0),
            "strikes_named_cue": pipe.get("strikes_named_cue", 0),
            "first_contacts_inferred": pipe.get("first_contacts_inferred", 0),
            "events": self.events_count,
            "event_latency_ms": {
                "mean": round(1e3 * float(np.mean(lat)), 1) if lat else None,
                "max": round(1e3 * max(lat), 1) if lat else None,
            },
            "rss_mb": round(cur, 1),
            "peak_rss_mb": round(peak, 1),
            "camera_reconnects": src.reconnects if src else 0,
            "mqtt_connects": self.mqtt.connects if self.mqtt else 0,
            "mqtt_state": self.mqtt.state_name if self.mqtt else "disabled",
            "mqtt_ack_failures": self.mqtt.ack_failures if self.mqtt else 0,
            "outbox_pending": self.mqtt.outbox.count() if self.mqtt else 0,
            "outbox_mib": round(self.mqtt.outbox.size_bytes() / 2**20, 3) if self.mqtt else 0.0,
            "outbox_dropped": self.mqtt.outbox.dropped if self.mqtt else 0,
            "sink_drops": {s.name: s.dropped for s in self.sinks},
            "sink_errors": {s.name: s.errors for s in self.sinks},
            "time": round(time.time(), 3),
        }

    def state(self) -> dict[str, Any]:
        balls = []
        fr = self._last_tracks
        eng = self.pipeline.engine if self.pipeline is not None else None
        if fr is not None and eng is not None:
            table = eng.table
            for obj in fr.objects:
                xy = table.homography.to_table(np.array([obj.cx, obj.cy]))
                balls.append({"id": obj.id, "label": obj.label, "position_m": [round(float(v), 4) for v in xy]})
        return {
            "t": fr.t_s if fr else None,
            "frame": fr.frame if fr else None,
            "balls": balls,
            "shot_in_progress": eng.shot_in_progress if eng else False,
            "last_seq": eng.seq if eng else 0,
            "shots": self.shots,
            "potted_this_shot": list(self._potted_this_shot),
            "table": self._table_shape(),
        }

    def _table_shape(self) -> dict[str, Any] | None:
        """The playing surface in metres, so a scoreboard can draw it from ``state`` alone."""
        eng = self.pipeline.engine if self.pipeline is not None else None
        if eng is None:
            return None
        t = eng.table
        return {
            "length_m": t.length_m,
            "width_m": t.width_m,
            "ball_radius_m": t.ball_radius_m,
            "pockets": [
                {"id": p.id, "position_m": [round(float(v), 4) for v in p.centre_m], "radius_m": p.radius_m}
                for p in t.pockets
            ],
        }

    def _on_published(self, latency_s: float) -> None:
        self._latency.append(latency_s)

    def _on_camera(self, online: bool) -> None:
        self.notifier.status(f"camera {'online' if online else 'offline'}")
        if self.mqtt is not None:
            self.mqtt.publish_camera(online)

    # -- main loop ------------------------------------------------------------------
    def run(self) -> int:
        cfg = self.cfg
        if cfg.table.calibration is None:
            raise ConfigError("table.calibration: set the table calibration file, or pass run --table FILE")
        if cfg.source.uri is None:
            raise ConfigError("source.uri: set the camera (file, rtsp://..., v4l2:///dev/video0, index) or --source")
        d = cfg.daemon
        outbox = Outbox(
            state_dir(cfg) / f"{cfg.table.id}.outbox.sqlite",
            cfg.table.id,
            max_events=d.outbox_max_events,
            max_bytes=int(d.outbox_max_mib * 2**20),
        )
        try:
            return self._run(outbox)
        finally:
            outbox.close()

    def _start(self, outbox: Outbox) -> tuple[FrameSource, Pipeline, ThreadSink | None]:
        """MQTT first (a stale retained 'online' is replaced at once), then source, models, sinks."""
        cfg = self.cfg
        if cfg.mqtt.enabled:
            mqtt = MqttPublisher(
                cfg.mqtt,
                cfg.table.id,
                outbox,
                stats=self.stats,
                state=self.state,
                on_published=self._on_published,
                discovery=self._discovery(),
            )
            mqtt.start()  # 'available' is 'offline' until set_ready; a refused login raises (closed)
            self.mqtt = mqtt
        s = cfg.source
        self.source = source = open_source(s.uri or "", s, self._on_camera, queue_size=cfg.daemon.frame_queue)
        logger.info("source %s (%s)", redact(s.uri or ""), "live" if source.live else "file")
        self.notifier.status("loading models")
        first_seq = outbox.last_seq() + 1
        self.pipeline = pipeline = build_pipeline(cfg, first_seq=first_seq, perception=self._perception)
        logger.info(
            "table %s: events continue at seq %d; %d undelivered in the outbox", cfg.table.id, first_seq, outbox.count()
        )
        out = cfg.outputs
        if out.events_jsonl is not None:
            self._events_sink = events_jsonl_sink(out.events_jsonl, cfg.daemon.sink_queue)
        if out.tracks_jsonl is not None:
            self._tracks_sink = tracks_jsonl_sink(out.tracks_jsonl, cfg.daemon.sink_queue)
        video = video_sink(out.video, source.fps or 30.0) if out.video is not None else None
        self.sinks = [k for k in (self._events_sink, self._tracks_sink, video) if k is not None]
        if self.mqtt is not None:
            if not source.live:
                self.mqtt.publish_camera(True)
            self.mqtt.set_ready()
        return source, pipeline, video

    def _discovery(self) -> dict[str, str]:
        """Home Assistant discovery configs to publish on connect; with discovery off, clear old ones."""
        cfg = self.cfg
        if not cfg.mqtt.homeassistant.discovery:
            if discovery.recorded_topics(state_dir(cfg), cfg.table.id):  # it was on in an earlier run
                self._discovery_clear = threading.Thread(
                    target=discovery.clear_recorded,
                    args=(cfg.mqtt, cfg.table.id, state_dir(cfg)),
                    name="ha-discovery-clear",
                    daemon=True,
                )
                self._discovery_clear.start()  # in the background: a broker that is down must not delay start
            return {}
        configs = discovery.discovery_configs(cfg.mqtt, cfg.table.id)
        discovery.record_topics(state_dir(cfg), cfg.table.id, sorted(configs))
        logger.info("Home Assistant discovery: %d entities under %s/", len(configs), cfg.mqtt.homeassistant.prefix)
        return {topic: json.dumps(config) for topic, config in configs.items()}

    def _run(self, outbox: Outbox) -> int:
        cfg = self.cfg
        try:
            source, pipeline, video = self._start(outbox)
        except BaseException:
            self._close_outputs(clean=False)
            raise
        watchdog = threading.Thread(target=self._watchdog, name="watchdog", daemon=True)
        watchdog.start()
        error: BaseException | None = None
        end_of_file = False
        try:
            end_of_file = self._loop(pipeline, outbox, video)
        except BaseException as exc:  # stopped below, then raised: sinks and MQTT are closed first
            error = exc
        self.notifier.stopping("draining" if error is None else "stopping after an error")
        self._stop.set()
        if not isinstance(error, OutboxError):  # with a failing outbox the flush would fail again
            try:
                self._finish(pipeline, outbox)
            except Exception as exc:
                if error is None:
                    error = exc
                else:
                    logger.error("while stopping after an error: %s", exc)
        undelivered = self._close_outputs(clean=error is None)
        if self._discovery_clear is not None:
            self._discovery_clear.join(timeout=15)  # a short file run still removes the old configs
        cur, peak = rss_mb()
        logger.info(
            "stopped after %d frames, %d events; RSS %.0f MiB (peak %.0f MiB)",
            self.frames,
            self.events_count,
            cur,
            peak,
        )
        if error is not None:
            raise error
        if end_of_file and undelivered:
            raise DeliveryError(
                f"{undelivered} events could not be delivered to MQTT broker {cfg.mqtt.host}:{cfg.mqtt.port}; "
                f"they are kept in {outbox.path} and sent on the next start"
            )
        source.check_complete()
        self._check_sinks()
        return 0

    def _close_outputs(self, *, clean: bool) -> int:
        """Drain MQTT (clean stop only), publish 'stopped' or 'offline', close the sinks; undelivered count."""
        undelivered = 0
        if self.mqtt is not None:
            drain = self.cfg.mqtt.drain_timeout_s if clean else 0.0
            undelivered = self.mqtt.close(clean=clean, drain_timeout_s=drain)
        for sink in self.sinks:
            sink.close()
        return undelivered

    def _check_sinks(self) -> None:
        """Items a local output could not write are an error of the run (exit 1), named by sink."""
        failed = [s for s in self.sinks if s.errors]
        if failed:
            raise SinkError(
                "; ".join(f"{s.name}: {s.errors} items not written ({s.last_error})" for s in failed)
                + "; check the outputs.* paths and free space"
            )

    def _loop(self, pipeline: Pipeline, outbox: Outbox, video: ThreadSink | None) -> bool:
        """Process frames; True when a file source reached its end."""
        assert self.source is not None
        cfg = self.cfg
        t_wait = time.perf_counter()
        last_status = 0.0
        # closed at once, even on an error: the source joins its capture thread
        with contextlib.closing(self.source.frames()) as frames:
            for frame in frames:
                self._beat = time.monotonic()
                if frame is None:  # idle tick: alive, waiting for the camera
                    continue
                t0 = time.perf_counter()
                self._stage["capture_wait"].add((t0 - t_wait) * 1e3)
                self._capture_walls.append((frame.index, frame.wall))
                result = pipeline.step(frame)
                self._last_tracks = result.tracks
                self._publish(result.events, outbox)
                if video is not None:
                    video.offer((frame.image_rgb, result.tracks, result.events))
                t2 = time.perf_counter()
                self._stage["frame"].add((t2 - t0) * 1e3)
                for k, v in result.stage_ms.items():
                    (self._stage[k] if k in self._stage else self._stage_extra.setdefault(k, _Ema())).add(v)
                if self.frames:
                    self._fps.add(1.0 / max(t2 - t_wait, 1e-6))
                t_wait = t2
                self.frames += 1
                if self.frames == 1:
                    self.notifier.ready(f"running: first frame of {redact(cfg.source.uri or '')} processed")
                now = time.monotonic()
                if now - last_status > 5.0:
                    last_status = now
                    self.notifier.status(
                        f"{self.frames} frames, {self.events_count} events, {self._fps.value or 0:.1f} fps"
                    )
                if self.mqtt is not None:
                    self.mqtt.publish_state(force=bool(result.events))
        return not self._stop.is_set()

    def _publish(self, events: list[Event], outbox: Outbox) -> None:
        for ev in events:
            wall = self._capture_wall(ev.frame)
            if self.mqtt is not None:
                outbox.put(ev, wall)  # durable before anything else sees it
            else:
                outbox.record_seq(ev.seq)
            if self._events_sink is not None:
                self._events_sink.offer(ev)
            self.events_count += 1
            if ev.type == EventType.SHOT:
                self.shots += 1
                self._potted_this_shot = []
            elif ev.type == EventType.POT:
                self._potted_this_shot = [*self._potted_this_shot, *ev.balls]
            logger.info("event %d %s %s t=%.3f", ev.seq, ev.type, " ".join(ev.balls), ev.t_s)
        if events and self.mqtt is not None:
            self.mqtt.wake()
        if self._tracks_sink is not None and self._last_tracks is not None:
            self._tracks_sink.offer(self._last_tracks)

    def _capture_wall(self, frame: int) -> float:
        for idx, wall in reversed(self._capture_walls):
            if idx <= frame:
                return wall
        return self._capture_walls[0][1] if self._capture_walls else time.time()

    def _finish(self, pipeline: Pipeline, outbox: Outbox) -> None:
        """End of stream or stop: confirm pending pots, close the open shot."""
        events = pipeline.flush()
        saved, self._last_tracks = self._last_tracks, None  # no duplicate tracks line
        self._publish(events, outbox)
        self._last_tracks = saved
        if self.mqtt is not None:
            self.mqtt.publish_state(force=True)

    def _watchdog(self) -> None:
        """WATCHDOG=1 at half the systemd interval, only while inference makes progress."""
        interval = self.notifier.watchdog_s
        if not interval:
            return
        stall = self.cfg.daemon.stall_s
        while not self._stop.wait(interval / 2):
            age = time.monotonic() - self._beat
            if age < stall:
                self.notifier.watchdog()
            else:
                logger.error("inference made no progress for %.0f s: watchdog pings stopped", age)
