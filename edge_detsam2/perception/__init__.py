"""Frames to tracks: the YOLO-prompted SAM2 tracker, or a replay of a recorded tracks file.

``Perception.step(frame)`` returns the frame's ``TrackFrame`` (INTERFACES.md tracks format).
The ``tracks`` backend replays a tracks JSONL recorded earlier (``outputs.tracks_jsonl``)
beside its video, frame by frame, so recorded runs, the event engine and every sink can be
exercised without models. Backends of the detector and the SAM2 image encoder come from
the registries in ``perception.backends``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Protocol

from edge_detsam2.config import ExportSection, PerceptionSection
from edge_detsam2.errors import ConfigError
from edge_detsam2.frame import Frame
from edge_detsam2.tracks import TrackFrame, read_tracks

logger = logging.getLogger(__name__)


class Perception(Protocol):
    #: per-stage times of the last step (ms), for stats
    stage_ms: dict[str, float]

    @property
    def label_changes(self) -> int: ...

    @property
    def duplicates_dropped(self) -> int: ...

    @property
    def detections_rejected(self) -> int: ...

    @property
    def masks_jumped(self) -> int: ...

    def step(self, frame: Frame) -> TrackFrame: ...


class TracksReplay:
    """Objects of the recorded frame with the same index; stream time from the live frame."""

    label_changes = 0
    duplicates_dropped = 0
    detections_rejected = 0
    masks_jumped = 0

    def __init__(self, cfg: PerceptionSection) -> None:
        if cfg.tracks_file is None:
            raise ConfigError("perception.tracks_file: backend 'tracks' needs a tracks JSONL file")
        if not cfg.tracks_file.is_file():
            raise ConfigError(f"perception.tracks_file: {cfg.tracks_file} does not exist")
        self._it: Iterator[TrackFrame] = read_tracks(cfg.tracks_file)
        self._next: TrackFrame | None = next(self._it, None)
        self.stage_ms: dict[str, float] = {}

    def step(self, frame: Frame) -> TrackFrame:
        t0 = time.perf_counter()
        while self._next is not None and self._next.frame < frame.index:
            self._next = next(self._it, None)
        objects = self._next.objects if self._next is not None and self._next.frame == frame.index else ()
        self.stage_ms["replay"] = (time.perf_counter() - t0) * 1e3
        return TrackFrame(frame.index, frame.t_s, objects)


class Sam2Perception:
    """YOLO detector prompting the streaming SAM2 session (``tracker.Tracker``)."""

    def __init__(self, cfg: PerceptionSection, export: ExportSection | None = None) -> None:
        from edge_detsam2.perception.backends import build_detector, build_session
        from edge_detsam2.tracker.tracker import Tracker

        export = export or ExportSection()
        det = None
        if cfg.tracker.detect_interval != -1:
            det = build_detector(cfg, export)
        elif cfg.sam2.bank is None:
            raise ConfigError("perception.sam2.bank: detect_interval -1 tracks only a preload bank; set one")
        session = build_session(cfg, export)
        self.tracker = Tracker(session, det, cfg.tracker)
        self._detector = det
        self.stage_ms: dict[str, float] = {}

    @property
    def label_changes(self) -> int:
        """Renames of live tracks by their identity vote (logged; counted in stats)."""
        return self.tracker.label_changes

    @property
    def duplicates_dropped(self) -> int:
        """Objects dropped for shadowing a ball another object holds (counted in stats)."""
        return self.tracker.duplicates_dropped

    @property
    def detections_rejected(self) -> int:
        """Detector boxes the identity classifier called not a ball (counted in stats)."""
        return int(getattr(self._detector, "rejected", 0))

    @property
    def masks_jumped(self) -> int:
        """Objects dropped because their mask jumped onto another ball (counted in stats)."""
        return self.tracker.masks_jumped

    def step(self, frame: Frame) -> TrackFrame:
        from edge_detsam2.tracker.tracker import to_track_frame

        t0 = time.perf_counter()
        out = self.tracker.step(frame)
        total = (time.perf_counter() - t0) * 1e3
        self.stage_ms["detector"] = out.detect_ms
        self.stage_ms["tracker"] = total - out.detect_ms
        return to_track_frame(out, frame.index, frame.t_s)


def build_perception(cfg: PerceptionSection, export: ExportSection | None = None) -> Perception:
    if cfg.backend == "tracks":
        return TracksReplay(cfg)
    return Sam2Perception(cfg, export)
