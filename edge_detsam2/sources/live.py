"""A live camera as a frame source: its own capture thread, reconnects, latest frame wins.

The capture thread reconnects with exponential back-off, logs every attempt, detects a
stalled stream and reports camera status changes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Generator
from typing import Any

import numpy as np

from edge_detsam2.config import SourceSection
from edge_detsam2.frame import Frame
from edge_detsam2.sources.base import SourceCounters, SourceError, StatusCallback, redact

logger = logging.getLogger(__name__)


def _cv2_target(uri: str) -> Any:
    if uri.isdigit():
        return int(uri)
    if uri.startswith("v4l2://"):
        return uri[len("v4l2://") :]  # v4l2:///dev/video0 -> /dev/video0
    return uri


class LiveSource:
    """A camera that runs without us: capture thread, reconnects, latest frame wins."""

    live = True

    def __init__(self, uri: str, cfg: SourceSection, on_status: StatusCallback | None = None) -> None:
        self.uri, self.fps = uri, cfg.fps or 0.0
        self.reconnect_initial_s, self.reconnect_max_s = cfg.reconnect_initial_s, cfg.reconnect_max_s
        self.stall_timeout_s, self.open_timeout_s = cfg.stall_timeout_s, cfg.open_timeout_s
        self.on_status = on_status
        self.reconnects = 0  # successful re-opens after a loss
        self.attempts = 0
        self.dropped = 0  # frames overwritten before inference took them
        self.capture_errors = 0  # exceptions in the capture loop (each one ends in a reconnect)
        self.online = False
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._t0: float | None = None
        self._index = 0

    def start(self) -> None:
        self._thread.start()

    def _set_online(self, online: bool) -> None:
        if online != self.online:
            self.online = online
            logger.warning("camera %s is %s", redact(self.uri), "online" if online else "offline")
            if self.on_status is not None:
                self.on_status(online)

    def _open(self) -> Any:
        import cv2

        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.stall_timeout_s * 1000),
        ]
        target = _cv2_target(self.uri)
        backend = cv2.CAP_ANY if isinstance(target, int) or target.startswith("/dev/") else cv2.CAP_FFMPEG
        cap = cv2.VideoCapture(target, backend, params)
        if not cap.isOpened():
            cap.release()
            return None
        if not self.fps:
            reported = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            self.fps = reported if 1.0 <= reported <= 1000.0 else 30.0
        return cap

    def _run(self) -> None:
        delay = self.reconnect_initial_s
        ever_online = False
        while not self._stop.is_set():
            self.attempts += 1
            logger.info("opening camera %s (attempt %d)", redact(self.uri), self.attempts)
            try:
                cap = self._open()
            except Exception as exc:  # an open that throws is retried like one that fails
                logger.warning("camera %s: open failed (%s: %s)", redact(self.uri), type(exc).__name__, exc)
                cap = None
            if cap is None:
                logger.warning("camera %s: cannot open; retrying in %.1f s", redact(self.uri), delay)
                self._set_online(False)
                self._stop.wait(delay)
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            if ever_online:
                self.reconnects += 1
            ever_online = True
            try:
                self._read_loop(cap)
            except Exception as exc:  # cv2.error, a decoder bug: reconnect, never end the thread
                self.capture_errors += 1
                logger.warning(
                    "camera %s: capture failed (%s: %s)", redact(self.uri), type(exc).__name__, str(exc).strip()[:200]
                )
            finally:
                with contextlib.suppress(Exception):
                    cap.release()
            if not self._stop.is_set():
                self._set_online(False)
                delay = self.reconnect_initial_s
                logger.warning("camera %s: stream lost or stalled; reconnecting in %.1f s", redact(self.uri), delay)
                self._stop.wait(delay)

    def _read_loop(self, cap: Any) -> None:
        while not self._stop.is_set():
            ok, img = cap.read()  # returns False after the read timeout on a stalled stream
            if not ok or img is None:
                return
            now_wall, now = time.time(), time.monotonic()
            if self._t0 is None:
                self._t0 = now
            frame = Frame(self._index, now - self._t0, now_wall, np.ascontiguousarray(img[..., ::-1]))
            self._index += 1
            with self._cond:
                if self._latest is not None:
                    self.dropped += 1
                self._latest = frame
                self._cond.notify_all()
            self._set_online(True)

    def frames(self) -> Generator[Frame | None, None, None]:
        """Latest frames until stopped; ``None`` every 0.25 s without one (the consumer is alive).

        Idle ticks mean "waiting for the camera", which is healthy while the capture thread
        reconnects. A capture thread that died is not: that raises ``SourceError`` (exit 1,
        and systemd restarts the service) instead of ticking on with the camera gone.
        """
        self.start()
        while not self._stop.is_set():
            if not self._thread.is_alive():
                self._set_online(False)
                raise SourceError(f"camera {redact(self.uri)}: the capture thread died; restarting is needed")
            with self._cond:
                if self._latest is None:
                    self._cond.wait(timeout=0.25)
                frame, self._latest = self._latest, None
            yield frame
        self._thread.join(timeout=self.stall_timeout_s + 1)

    def counters(self) -> SourceCounters:
        return SourceCounters(dropped=self.dropped, reconnects=self.reconnects)

    def check_complete(self) -> None:
        """A camera has no end to reach; nothing is owed."""

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
