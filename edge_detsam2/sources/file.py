"""A video file as a frame source: every frame, in order, decoded on its own thread."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from edge_detsam2.errors import ConfigError
from edge_detsam2.frame import Frame
from edge_detsam2.sources.base import SourceCounters, SourceError

logger = logging.getLogger(__name__)


#: Consecutive undecodable frames after which the rest of a damaged file counts as lost.
MAX_DECODE_GAP = 25


class FileSource:
    """Every frame of a video file, in order; ``realtime`` paces them at the file's rate.

    A frame that cannot be decoded before the container's frame count is reached is not
    "end of file": it is logged with its index and counted in ``lost_frames`` (the daemon
    reports them and exits 1 at the end); decoding goes on after a short gap.
    """

    live = False

    def __init__(self, path: Path, *, fps: float | None = None, realtime: bool = False, queue_size: int = 4) -> None:
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
        self._queue_size = queue_size
        self._stop = threading.Event()

    def counters(self) -> SourceCounters:
        return SourceCounters(undecodable=self.lost_frames)

    def check_complete(self) -> None:
        if self.lost_frames:
            raise SourceError(
                f"source {self.path}: {self.lost_frames} of its {self.frame_count} frames could not be decoded "
                "(a damaged file?); the events above cover only the frames that could"
            )

    def frames(self) -> Generator[Frame | None, None, None]:
        """Every frame, decoded on the capture thread, handed over with back-pressure.

        ``None`` every 0.25 s while the decoder is behind. An error in the decoder is raised
        here. Whatever ends the iteration, the decoder thread is joined before it returns: a
        decoder running into interpreter exit aborts (SIGABRT).
        """
        q: queue.Queue[Frame | None] = queue.Queue(maxsize=self._queue_size)
        failure: list[BaseException] = []
        done = threading.Event()  # the consumer is gone: stop decoding

        def put(item: Frame | None) -> bool:
            while not (self._stop.is_set() or done.is_set()):
                try:
                    q.put(item, timeout=0.25)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            try:
                for fr in self._decode():
                    if not put(fr):
                        break
            except BaseException as exc:  # surfaced in the consumer's thread
                failure.append(exc)
            finally:
                put(None)  # end of file

        reader = threading.Thread(target=read, name="capture", daemon=True)
        reader.start()
        try:
            while not self._stop.is_set():
                try:
                    fr = q.get(timeout=0.25)
                except queue.Empty:
                    yield None
                    continue
                if fr is None:
                    if failure:
                        raise failure[0]
                    return
                yield fr
        finally:
            done.set()
            self._stop.set()
            reader.join(timeout=10)

    def _decode(self) -> Generator[Frame, None, None]:
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
