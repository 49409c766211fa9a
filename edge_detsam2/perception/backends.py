"""Backend registries: which code runs the detector and SAM2.

``DETECTOR_RUNTIMES`` maps ``perception.detector.runtime``, ``SAM2_RUNTIMES`` maps
``perception.sam2.runtime`` (every SAM2 part) and ``ENCODER_BACKENDS`` maps
``perception.sam2.encoder`` (runtime torch only) to a function that builds that backend. Exported artifacts
(ONNX, TensorRT) are loaded only after their sidecar matches the source model; a mismatch
ends with the ``export`` command that rebuilds them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from edge_detsam2.config import ExportSection, PerceptionSection
from edge_detsam2.errors import ConfigError
from edge_detsam2.tracker.tracker import Detector

logger = logging.getLogger(__name__)


def _weights_file(cfg: PerceptionSection, export: ExportSection) -> Path:
    """runtime 'weights': the file as given (an .onnx, .engine, or a trusted .pt)."""
    assert cfg.detector.weights is not None
    return cfg.detector.weights


def _exported_file(cfg: PerceptionSection, export: ExportSection) -> Path:
    """runtime 'onnx' / 'engine': the artifact 'export' built from the weights (verified)."""
    from edge_detsam2.artifacts import REBUILD, cache_dir, file_sha256, load_verified, yolo_path

    det = cfg.detector
    assert det.weights is not None and det.runtime != "weights"
    if not det.weights.is_file():
        raise ConfigError(f"perception.detector.weights: {det.weights} does not exist")
    imgsz = det.imgsz or 640
    weights_hash = file_sha256(det.weights)
    path = yolo_path(cache_dir(export.cache_dir), det.runtime, weights_hash, imgsz, export.half, export.opset)
    rebuild = f"{REBUILD} --format {det.runtime}"
    load_verified(path, kind="yolo", source_hash=weights_hash, image_size=imgsz, rebuild=rebuild)
    return path


#: perception.detector.runtime -> the detector file to load.
DETECTOR_RUNTIMES: dict[str, Callable[[PerceptionSection, ExportSection], Path]] = {
    "weights": _weights_file,
    "onnx": _exported_file,
    "engine": _exported_file,
}


def build_detector(cfg: PerceptionSection, export: ExportSection) -> Detector:
    """The configured YOLO detector (with the identity classifier when one is set)."""
    from edge_detsam2.detector.yolo import YoloDetector

    if cfg.detector.weights is None:
        raise ConfigError(
            "perception.detector.weights: set the YOLO weights (.pt, .onnx or .engine), "
            "or use tracker.detect_interval: -1 with a sam2.bank"
        )
    det_file = DETECTOR_RUNTIMES[cfg.detector.runtime](cfg, export)
    if det_file.suffix == ".pt":
        if not cfg.detector.allow_pickle:
            raise ConfigError(
                f"perception.detector.weights: {det_file} is a pickled .pt, which the daemon does not load "
                "(a crafted .pt runs code); convert it once with 'edge-detsam2 export --format onnx' and set "
                "perception.detector.runtime: onnx (or weights: the .onnx), or set "
                "perception.detector.allow_pickle: true for a file you trust"
            )
        logger.warning("perception.detector.allow_pickle: loading the pickled detector %s", det_file)
    det: Detector = YoloDetector(
        det_file,
        confidence=cfg.detector.confidence,
        iou=cfg.detector.iou,
        imgsz=cfg.detector.imgsz,
        device=cfg.device,
    )
    if cfg.detector.identity is not None:
        from edge_detsam2.detector.identity import IdentifiedDetector, IdentityClassifier

        det = IdentifiedDetector(
            det,
            IdentityClassifier(cfg.detector.identity),
            ball_class=cfg.detector.ball_class,
            reject_min=cfg.detector.identity_reject,
        )
    return det


def _torch_encoder(cfg: PerceptionSection, export: ExportSection, model: Any) -> Any:
    from edge_detsam2.tracker.encoders import TorchEncoder

    return TorchEncoder(model)


def _exported_encoder(fmt: Literal["onnx", "engine"]) -> Callable[[PerceptionSection, ExportSection, Any], Any]:
    def build(cfg: PerceptionSection, export: ExportSection, model: Any) -> Any:
        import torch

        from edge_detsam2.artifacts import REBUILD, cache_dir, load_verified, sam2_encoder_path
        from edge_detsam2.tracker.encoders import OnnxEncoder, TensorRTEncoder
        from edge_detsam2.tracker.model import model_fingerprint

        model_hash, size = model_fingerprint(model), int(model.image_size)
        path = sam2_encoder_path(cache_dir(export.cache_dir), fmt, model_hash, size, export.half, export.opset)
        load_verified(
            path,
            kind="sam2_image_encoder",
            source_hash=model_hash,
            image_size=size,
            rebuild=f"{REBUILD} --format {fmt}",
        )
        device = torch.device(cfg.device)
        if fmt == "onnx":
            enc: Any = OnnxEncoder(path, device, "cuda" if device.type == "cuda" else "cpu")
            logger.info("SAM2 image encoder: ONNX Runtime %s, %s", enc.provider, path.name)
            return enc
        logger.info("SAM2 image encoder: TensorRT engine %s", path.name)
        return TensorRTEncoder(path, device)

    return build


#: perception.sam2.encoder -> a builder of the SAM2 image-encoder backend for a model.
ENCODER_BACKENDS: dict[str, Callable[[PerceptionSection, ExportSection, Any], Any]] = {
    "torch": _torch_encoder,
    "onnxruntime": _exported_encoder("onnx"),
    "tensorrt": _exported_encoder("engine"),
}


def build_encoder(cfg: PerceptionSection, export: ExportSection, model: Any) -> Any:
    return ENCODER_BACKENDS[cfg.sam2.encoder](cfg, export, model)


def _torch_session(cfg: PerceptionSection, export: ExportSection) -> Any:
    """The torch model in ``StreamingSession`` (bit-exact with SAM2VideoPredictor), encoder per ``encoder``."""
    from edge_detsam2.tracker.model import ModelSpec, build_model
    from edge_detsam2.tracker.session import StreamingSession

    model = build_model(ModelSpec(cfg.sam2.config, cfg.sam2.checkpoint, tuple(cfg.sam2.overrides), cfg.device))
    encoder = build_encoder(cfg, export, model)
    session = StreamingSession(model, max_cond_frames=cfg.tracker.max_cond_frames, encoder=encoder)
    if cfg.sam2.bank is not None:
        session.load_bank(cfg.sam2.bank)
    logger.info("SAM2: torch on %s (image encoder: %s)", cfg.device, encoder.name)
    return session


def _parts_session(provider: Literal["onnxruntime", "tensorrt"]) -> Callable[[PerceptionSection, ExportSection], Any]:
    def build(cfg: PerceptionSection, export: ExportSection) -> Any:
        """Every SAM2 part from the exported set, on ONNX Runtime (no torch)."""
        from edge_detsam2.artifacts import REBUILD, cache_dir, load_parts_verified, sam2_parts_dir, sam2_source_hash
        from edge_detsam2.tracker.engine import PartsSession
        from edge_detsam2.tracker.runners import OnnxPartRunner

        assert cfg.sam2.checkpoint is not None  # the config validator requires it for these runtimes
        source_hash = sam2_source_hash(cfg.sam2.config, cfg.sam2.overrides, cfg.sam2.checkpoint)
        parts_dir = sam2_parts_dir(cache_dir(export.cache_dir), source_hash, export.opset)
        rebuild = REBUILD + (" --format engine" if provider == "tensorrt" else "")
        load_parts_verified(parts_dir, source_hash=source_hash, rebuild=rebuild)
        on_gpu = cfg.device.startswith("cuda")
        if provider == "tensorrt" and not on_gpu:
            raise ConfigError("perception.sam2.runtime: tensorrt runs on an NVIDIA GPU; set perception.device: cuda")
        which = "tensorrt" if provider == "tensorrt" else ("cuda" if on_gpu else "cpu")
        runner = OnnxPartRunner(parts_dir, provider=which, half=export.half)
        logger.info("SAM2: every part on ONNX Runtime %s, %s", runner.provider, parts_dir.name)
        return PartsSession(runner, max_cond_frames=cfg.tracker.max_cond_frames)

    return build


#: perception.sam2.runtime -> a builder of the streaming SAM2 session.
SAM2_RUNTIMES: dict[str, Callable[[PerceptionSection, ExportSection], Any]] = {
    "torch": _torch_session,
    "onnxruntime": _parts_session("onnxruntime"),
    "tensorrt": _parts_session("tensorrt"),
}


def build_session(cfg: PerceptionSection, export: ExportSection) -> Any:
    return SAM2_RUNTIMES[cfg.sam2.runtime](cfg, export)
