"""Frame sources: a video file (every frame, in order) or a live camera (latest frame wins).

A live source (RTSP/HTTP stream, V4L2 device) runs its own capture thread that reconnects
with exponential back-off, logs every attempt, detects a stalled stream and reports camera
status changes. Frames carry their capture wall time and a stream time on the source clock.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.config import SourceSection
from edge_detsam2.errors import ConfigError, EdgeDetSam2Error

logger = logging.getLogger(__name__)

StatusCallback = Callable[[bool], None]


class SourceError(EdgeDetSam2Error):
    """The video source cannot be read (exit status 1)."""


@dataclass(frozen=True)
class Frame:
    """One camera frame. ``index`` counts every frame the camera produced, dropped ones too."""

    index: int
    t_s: float  # stream time on the source clock (file: index / fps; live: since first frame)
    wall: float  # capture wall-clock time (time.time())
    image_rgb: NDArray[np.uint8]


#: Query parameters that carry camera credentials (``?user=admin&pwd=...`` on many IP cameras).
SECRET_PARAMS = re.compile(
    r"([?&;](?:user|username|usr|login|pwd|pass|passwd|password|token|auth|key|secret|apikey|api_key)=)[^&;#]*",
    re.IGNORECASE,
)


def redact(uri: str) -> str:
    """A URI safe to log: user info and credential query parameters replaced by ***."""
    if "://" in uri and "@" in uri.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = uri.split("://", 1)
        uri = f"{scheme}://***@{rest.split('@', 1)[1]}"
    return SECRET_PARAMS.sub(r"\1***", uri)


def is_live(uri: str) -> bool:
    return uri.isdigit() or uri.startswith(
        ("rtsp://", "rtsps://", "http://", "https://", "v4l2://", "udp://", "tcp://")
    )


def _cv2_target(uri: str) -> Any:
    if uri.isdigit():
        return int(uri)
    if uri.startswith("v4l2://"):
        return uri[len("v4l2://") :]  # v4l2:///dev/video0 -> /dev/video0
    return uri


#: Consecutive undecodable frames after which the rest of a damaged file counts as lost.
MAX_DECODE_GAP = 25


class FileSource:
    """Every frame of a video file, in order; ``realtime`` paces them at the file's rate.

    A frame that cannot be decoded before the container's frame count is reached is not
    "end of file": it is logged with its index and counted in ``lost_frames`` (the daemon
    reports them and exits 1 at the end); decoding goes on after a short gap.
    """

    live = False

    def __init__(self, path: Path, *, fps: float | None = None, realtime: bool = False) -> None:
        import cv2

        if not path.is_file():
            raise ConfigError(f"source {path}: no such file; pass --source or set source.uri to a video or camera")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise SourceError(f"source {path}: cannot be decoded as video (is it a video file?)")
        ok, first = cap.read()
        if not ok:
            cap.release()
            raise SourceError(f"source {path}: has no readable frame")
        file_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps or (file_fps if 1.0 <= file_fps <= 1000.0 else 0.0)
        if not self.fps:
            cap.release()
            raise ConfigError(f"source {path}: the file has no frame rate; set source.fps")
        self.path, self.realtime = path, realtime
        self.frame_count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0)  # the container's claim
        self.lost_frames = 0
        self.width, self.height = first.shape[1], first.shape[0]
        self._cap, self._first = cap, first
        self._stop = threading.Event()

    def frames(self) -> Iterator[Frame]:
        start = time.monotonic()
        index = 0
        img: Any = self._first
        try:
            while img is not None and not self._stop.is_set():
                if self.realtime:
                    delay = start + index / self.fps - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                yield Frame(index, index / self.fps, time.time(), np.ascontiguousarray(img[..., ::-1]))
                index += 1
                img, skipped = self._read_next(index)
                index += skipped  # stream time stays true across a skipped gap
        finally:
            self._cap.release()

    def _read_next(self, index: int) -> tuple[Any, int]:
        """The next decodable frame and how many undecodable ones were skipped before it.

        Failing reads before the container's frame count are decode failures, logged with
        the frame index and counted in ``lost_frames``; ``None`` ends the file.
        """
        for gap in range(MAX_DECODE_GAP + 1):
            ok, img = self._cap.read()
            if ok:
                if gap:
                    self.lost_frames += gap
                    logger.warning(
                        "source %s: frames %d..%d could not be decoded; skipped", self.path, index, index + gap - 1
                    )
                return img, gap
            if index + gap >= self.frame_count:  # the real end of the file
                break
        if index < self.frame_count:
            self.lost_frames += self.frame_count - index
            logger.warning(
                "source %s: frame %d could not be decoded; %d of the file's %d frames lost",
                self.path,
                index,
                self.frame_count - index,
                self.frame_count,
            )
        return None, 0

    def stop(self) -> None:
        self._stop.set()


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
            cap = self._open()
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
            finally:
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

    def frames(self) -> Iterator[Frame | None]:
        """Latest frames until stopped; ``None`` every 0.25 s without one (the consumer is alive)."""
        self.start()
        while not self._stop.is_set():
            with self._cond:
                if self._latest is None:
                    self._cond.wait(timeout=0.25)
                frame, self._latest = self._latest, None
            yield frame
        self._thread.join(timeout=self.stall_timeout_s + 1)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()


Source = FileSource | LiveSource


def open_source(uri: str, cfg: SourceSection, on_status: StatusCallback | None = None) -> Source:
    """A live source for stream/device URIs, else a video file (``file://`` optional)."""
    if is_live(uri):
        return LiveSource(uri, cfg, on_status)
    return FileSource(Path(uri.removeprefix("file://")), fps=cfg.fps, realtime=cfg.realtime)
