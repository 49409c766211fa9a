"""Local sinks on their own threads: events JSONL, tracks JSONL, annotated video.

Each sink has a bounded queue. ``offer`` never blocks the inference thread: when a sink
falls behind, the item is dropped and counted (MQTT delivery does not depend on these sinks;
it reads the durable outbox).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.events.types import Event
from edge_detsam2.tracks import TrackFrame

logger = logging.getLogger(__name__)

_END = object()


class ThreadSink:
    """A consumer thread with a bounded queue; drops (and counts) when full."""

    def __init__(self, name: str, handle: Callable[[Any], None], close: Callable[[], None], maxsize: int) -> None:
        self.name = name
        self.dropped = 0
        self.failed: BaseException | None = None
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
            if self.failed is not None:
                continue
            try:
                self._handle(item)
            except Exception as exc:  # a broken sink must not take inference down
                self.failed = exc
                logger.error("sink %s failed and is disabled: %s", self.name, exc)
        try:
            self._close()
        except Exception as exc:
            logger.error("sink %s: close failed: %s", self.name, exc)

    def close(self, timeout: float = 30.0) -> None:
        self._q.put(_END)
        self._thread.join(timeout)


def _open_append(path: Path) -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a", encoding="utf-8")


def events_jsonl_sink(path: Path, maxsize: int) -> ThreadSink:
    fh = _open_append(path)

    def handle(ev: Event) -> None:
        fh.write(ev.to_json() + "\n")
        fh.flush()

    return ThreadSink("events-jsonl", handle, fh.close, maxsize)


def tracks_jsonl_sink(path: Path, maxsize: int) -> ThreadSink:
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by the sink)

    def handle(fr: TrackFrame) -> None:
        fh.write(fr.to_json() + "\n")

    return ThreadSink("tracks-jsonl", handle, fh.close, maxsize)


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
