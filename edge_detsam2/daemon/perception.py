"""Frames to tracks: the YOLO-prompted SAM2 tracker, or a replay of a recorded tracks file.

``Perception.step(frame)`` returns the frame's ``TrackFrame`` (INTERFACES.md tracks format).
The ``tracks`` backend replays a tracks JSONL recorded earlier (``outputs.tracks_jsonl``)
beside its video, frame by frame, so recorded runs, the event engine and every sink can be
exercised without models.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.config import ExportSection, PerceptionSection
from edge_detsam2.daemon.sources import Frame
from edge_detsam2.detector.types import Detections
from edge_detsam2.errors import ConfigError
from edge_detsam2.tracker.tracker import Detector
from edge_detsam2.tracks import TrackFrame, read_tracks

logger = logging.getLogger(__name__)


class Perception(Protocol):
    stage_ms: dict[str, float]

    @property
    def label_changes(self) -> int: ...

    def step(self, frame: Frame) -> TrackFrame: ...


class TracksReplay:
    """Objects of the recorded frame with the same index; stream time from the live frame."""

    def __init__(self, cfg: PerceptionSection) -> None:
        if cfg.tracks_file is None:
            raise ConfigError("perception.tracks_file: backend 'tracks' needs a tracks JSONL file")
        if not cfg.tracks_file.is_file():
            raise ConfigError(f"perception.tracks_file: {cfg.tracks_file} does not exist")
        self._it: Iterator[TrackFrame] = read_tracks(cfg.tracks_file)
        self._next: TrackFrame | None = next(self._it, None)
        self.stage_ms: dict[str, float] = {}
        self.label_changes = 0

    def step(self, frame: Frame) -> TrackFrame:
        t0 = time.perf_counter()
        while self._next is not None and self._next.frame < frame.index:
            self._next = next(self._it, None)
        objects = self._next.objects if self._next is not None and self._next.frame == frame.index else ()
        self.stage_ms["replay"] = (time.perf_counter() - t0) * 1e3
        return TrackFrame(frame.index, frame.t_s, objects)


class Sam2Perception:
    """YOLO detector prompting the streaming SAM2 session (``tracker.Tracker``)."""

    def __init__(self, cfg: PerceptionSection, fps: float, export: ExportSection | None = None) -> None:
        from edge_detsam2.detector.yolo import YoloDetector
        from edge_detsam2.tracker.model import ModelSpec, build_model
        from edge_detsam2.tracker.session import StreamingSession
        from edge_detsam2.tracker.tracker import Tracker

        export = export or ExportSection()

        det: Detector | None = None
        if cfg.tracker.detect_interval != -1:
            if cfg.detector.weights is None:
                raise ConfigError(
                    "perception.detector.weights: set the YOLO weights (.pt, .onnx or .engine), "
                    "or use tracker.detect_interval: -1 with a sam2.bank"
                )
            det_file = _detector_file(cfg, export)
            if det_file.suffix == ".pt":
                if not cfg.detector.allow_pickle:
                    raise ConfigError(
                        f"perception.detector.weights: {det_file} is a pickled .pt, which the daemon does not load "
                        "(a crafted .pt runs code); convert it once with 'edge-detsam2 export --format onnx' and set "
                        "perception.detector.runtime: onnx (or weights: the .onnx), or set "
                        "perception.detector.allow_pickle: true for a file you trust"
                    )
                logger.warning("perception.detector.allow_pickle: loading the pickled detector %s", det_file)
            det = YoloDetector(
                det_file,
                confidence=cfg.detector.confidence,
                iou=cfg.detector.iou,
                imgsz=cfg.detector.imgsz,
                device=cfg.device,
            )
            if cfg.detector.identity is not None:
                from edge_detsam2.detector.identity import IdentifiedDetector, IdentityClassifier

                det = IdentifiedDetector(
                    det, IdentityClassifier(cfg.detector.identity), ball_class=cfg.detector.ball_class
                )
        elif cfg.sam2.bank is None:
            raise ConfigError("perception.sam2.bank: detect_interval -1 tracks only a preload bank; set one")
        spec = ModelSpec(cfg.sam2.config, cfg.sam2.checkpoint, tuple(cfg.sam2.overrides), cfg.device)
        model = build_model(spec)
        self.encoder = _image_encoder(cfg, export, model)
        session = StreamingSession(model, max_cond_frames=cfg.tracker.max_cond_frames, encoder=self.encoder)
        if cfg.sam2.bank is not None:
            session.load_bank(cfg.sam2.bank)
        self._timed = _TimedDetector(det) if det is not None else None
        self.tracker = Tracker(session, self._timed, cfg.tracker, fps)
        self.stage_ms: dict[str, float] = {}

    @property
    def label_changes(self) -> int:
        """Renames of live tracks by their identity vote (logged; counted in stats)."""
        return self.tracker.label_changes

    @property
    def duplicates_dropped(self) -> int:
        """Objects dropped for shadowing a ball another object holds (counted in stats)."""
        return self.tracker.duplicates_dropped

    def step(self, frame: Frame) -> TrackFrame:
        from edge_detsam2.tracker.tracker import to_track_frame

        t0 = time.perf_counter()
        out = self.tracker.step(frame.image_rgb)
        total = (time.perf_counter() - t0) * 1e3
        det_ms = self._timed.last_ms if self._timed is not None and out.detections is not None else 0.0
        self.stage_ms["detector"] = det_ms
        self.stage_ms["tracker"] = total - det_ms
        return to_track_frame(out, frame.index, frame.t_s)


class _TimedDetector:
    """Wraps the detector to time it (the tracker calls it only on detection frames)."""

    def __init__(self, det: Detector) -> None:
        self.det = det
        self.last_ms = 0.0

    def detect(self, frame_rgb: NDArray[np.uint8]) -> Detections:
        t0 = time.perf_counter()
        out = self.det.detect(frame_rgb)
        self.last_ms = (time.perf_counter() - t0) * 1e3
        return out


def _detector_file(cfg: PerceptionSection, export: ExportSection) -> Path:
    """The weights as given, or the artifact 'export' built from them (verified)."""
    from edge_detsam2.artifacts import REBUILD, cache_dir, file_sha256, load_verified, yolo_path

    det = cfg.detector
    assert det.weights is not None
    if det.runtime == "weights":
        return det.weights
    if not det.weights.is_file():
        raise ConfigError(f"perception.detector.weights: {det.weights} does not exist")
    imgsz = det.imgsz or 640
    weights_hash = file_sha256(det.weights)
    path = yolo_path(cache_dir(export.cache_dir), det.runtime, weights_hash, imgsz, export.half, export.opset)
    rebuild = f"{REBUILD} --format {det.runtime}"
    load_verified(path, kind="yolo", source_hash=weights_hash, image_size=imgsz, rebuild=rebuild)
    return path


def _image_encoder(cfg: PerceptionSection, export: ExportSection, model: Any) -> Any:
    """The configured SAM2 image-encoder backend; exported ones are verified against the model."""
    import torch

    from edge_detsam2.artifacts import REBUILD, cache_dir, load_verified, sam2_encoder_path
    from edge_detsam2.tracker.bank import model_fingerprint
    from edge_detsam2.tracker.encoders import OnnxEncoder, TensorRTEncoder, TorchEncoder

    if cfg.sam2.encoder == "torch":
        return TorchEncoder(model)
    fmt: Literal["onnx", "engine"] = "onnx" if cfg.sam2.encoder == "onnxruntime" else "engine"
    model_hash, size = model_fingerprint(model), int(model.image_size)
    path = sam2_encoder_path(cache_dir(export.cache_dir), fmt, model_hash, size, export.half, export.opset)
    load_verified(
        path, kind="sam2_image_encoder", source_hash=model_hash, image_size=size, rebuild=f"{REBUILD} --format {fmt}"
    )
    device = torch.device(cfg.device)
    if fmt == "onnx":
        enc: Any = OnnxEncoder(path, device, "cuda" if device.type == "cuda" else "cpu")
        logger.info("SAM2 image encoder: ONNX Runtime %s, %s", enc.provider, path.name)
        return enc
    logger.info("SAM2 image encoder: TensorRT engine %s", path.name)
    return TensorRTEncoder(path, device)


def build_perception(cfg: PerceptionSection, fps: float, export: ExportSection | None = None) -> Perception:
    if cfg.backend == "tracks":
        return TracksReplay(cfg)
    return Sam2Perception(cfg, fps, export)
