"""Local sinks on their own threads: events JSONL, tracks JSONL, annotated video.

Each sink has a bounded queue. ``offer`` never blocks the inference thread: when a sink
falls behind, the item is dropped and counted (MQTT delivery does not depend on these sinks;
it reads the durable outbox). Write failures are counted as drops too, never silent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.events.types import Event
from edge_detsam2.tracks import TrackFrame

logger = logging.getLogger(__name__)

_END = object()


class ThreadSink:
    """A consumer thread with a bounded queue; drops (and counts) when full or when a write fails.

    A failing write (disk full, a removed mount) is counted in ``dropped`` and ``errors`` and
    logged when the sink starts failing and when it writes again; the sink keeps trying, so
    it resumes by itself once the fault is gone.
    """

    def __init__(self, name: str, handle: Callable[[Any], None], close: Callable[[], None], maxsize: int) -> None:
        self.name = name
        self.dropped = 0
        self.errors = 0
        self.last_error: str | None = None
        self._failing = False
        self._handle, self._close = handle, close
        self._q: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._thread = threading.Thread(target=self._run, name=f"sink-{name}", daemon=True)
        self._thread.start()

    def offer(self, item: Any) -> None:
        try:
            self._q.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                logger.warning("sink %s is behind: %d items dropped", self.name, self.dropped)

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _END:
                break
            try:
                self._handle(item)
            except Exception as exc:  # a broken sink must not take inference down
                self.dropped += 1
                self.errors += 1
                self.last_error = str(exc)
                if not self._failing or self.errors in (10, 100) or self.errors % 1000 == 0:
                    logger.error("sink %s cannot write (%s): %d items dropped so far", self.name, exc, self.errors)
                self._failing = True
            else:
                if self._failing:
                    logger.info("sink %s writes again after %d failed items", self.name, self.errors)
                self._failing = False
        try:
            self._close()
        except Exception as exc:
            self.errors += 1
            self.last_error = f"close: {exc}"
            logger.error("sink %s: close failed: %s", self.name, exc)

    def close(self, timeout: float = 30.0) -> None:
        self._q.put(_END)
        self._thread.join(timeout)


class JsonlAppender:
    """Appends whole lines to a JSONL file, unbuffered (one ``write`` per line).

    Opened in append mode, so restarts add to the file. A torn last line left by a crash is
    cut off on open, and a write that fails half-way (disk full) is truncated back, so the
    file only ever holds whole lines.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        with contextlib.suppress(OSError):
            self._cut_torn_line()

    def _cut_torn_line(self) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as fh:
            start = max(0, size - 65536)
            fh.seek(start)
            tail = fh.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        keep = start + cut + 1 if cut >= 0 else start
        logger.warning("%s: cut a torn last line (%d bytes) left by an earlier run", self.path, size - keep)
        os.ftruncate(self._fd, keep)

    def write_line(self, line: str) -> None:
        data = memoryview((line + "\n").encode("utf-8"))
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)  # no half line (a no-op on /dev/full and pipes)
            raise OSError(exc.errno, f"{self.path}: {exc.strerror}") from None

    def close(self) -> None:
        os.close(self._fd)


def events_jsonl_sink(path: Path, maxsize: int) -> ThreadSink:
    out = JsonlAppender(path)
    return ThreadSink("events-jsonl", lambda ev: out.write_line(ev.to_json()), out.close, maxsize)


def tracks_jsonl_sink(path: Path, maxsize: int) -> ThreadSink:
    """Tracks of every frame, appended across restarts (each run starts again at frame 0)."""
    out = JsonlAppender(path)
    return ThreadSink("tracks-jsonl", lambda fr: out.write_line(fr.to_json()), out.close, maxsize)


class _VideoWriter:
    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self._writer: Any = None
        self._recent: list[tuple[float, str]] = []

    def handle(self, item: tuple[NDArray[np.uint8], TrackFrame, list[Event]]) -> None:
        import cv2

        image, tracks, events = item
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            h, w = image.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(f"cannot write video {self.path}")
        bgr = np.ascontiguousarray(image[..., ::-1])
        for obj in tracks.objects:
            c = (round(obj.cx), round(obj.cy))
            cv2.circle(bgr, c, round(obj.r or 10), (0, 255, 255), 2)
            cv2.putText(bgr, obj.label, (c[0] + 8, c[1] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        for ev in events:
            self._recent.append((tracks.t_s, f"{ev.t_s:7.2f}s {ev.type} {' '.join(ev.balls)}"))
        self._recent = [(t, s) for t, s in self._recent if tracks.t_s - t < 3.0][-6:]
        for i, (_, text) in enumerate(self._recent):
            cv2.putText(bgr, text, (12, 24 + 22 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 255), 2)
        self._writer.write(bgr)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()


def video_sink(path: Path, fps: float, maxsize: int = 8) -> ThreadSink:
    w = _VideoWriter(path, fps)
    return ThreadSink("video", w.handle, w.close, maxsize)
